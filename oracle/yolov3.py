"""YOLOv3 family (docs/contracts.md): ``decode``, ``loss_layer``, ``compute_loss``, and the family's records.

The box functions live in :mod:`oracle.boxes` (IoU, GIoU) and :mod:`oracle.diou` (DIoU, CIoU), the focal
weight in :mod:`oracle.focal_weight` and the background screening in :mod:`oracle.maxiou`; their public names are
re-exported here.  Everything is float64 NumPy and vectorised (the only Python loop runs over the
three scales of ``compute_loss``).

Accuracy
    In ``loss_layer`` with ``pred=None`` the decoded boxes are rounded to float64
    once (relative error ~1e-16 in the box centre), so for a near-perfect
    prediction each responsible cell's ``1 - GIoU`` is accurate to a few ulps of
    ``|x| / w`` rather than relatively; the focal weight uses
    ``r - sigmoid(raw_conf)`` evaluated from the logit without cancellation.  The class term ``r * SCE`` is
    evaluated only on the cells where it can be non-zero (``r != 0``) or NaN (non-finite input).

Undefined values (YOLO-ZERO-UNION)
    In ``loss_layer`` a NaN GIoU multiplied by a zero mask ``r`` stays NaN, as the
    documents' code computes (the exact value is undefined there).  ``max_iou`` is NaN-propagating and
    ``NaN < iou_loss_thresh`` is False, so such a cell is not background.

Gradients
    Analytic (see :mod:`oracle.boxes` for the tie conventions).  No gradient
    flows through the background comparison.  ``kinks`` of ``loss_layer`` are the GIoU kinks of the
    responsible cells and a background cell with ``max_iou == iou_loss_thresh`` exactly
    (a jump of the value, not only a kink).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from . import boxes, diou, focal_weight
from ._spec import OracleSpec, no_kinks
from ._validate import as_float, cotangent_like, cotangent_triple, last_dim, positive_int, scalar, variants_of, wrt_of
from .boxes import bbox_giou, bbox_iou, box_pair, box_pair_kinks, box_pair_vjp, giou_loss, iou_loss
from .diou import ciou_loss, diou_loss
from .focal_weight import focal
from .maxiou import max_iou, screened_max_iou

__all__ = [
    "bbox_giou", "bbox_iou", "ciou_loss", "compute_loss", "decode", "diou_loss", "focal", "giou_loss", "iou_loss",
    "loss_layer", "max_iou", "threshold_margin",
]

_LN2_HI = 6.93147180369123816490e-01  # fdlibm split of log(2): k * _LN2_HI is exact for |k| < 2**20
_LN2_LO = 1.90821492927058770002e-10


# ----------------------------------------------------------------------------------------------------------------
# Elementary pieces
# ----------------------------------------------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _dsigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return e / ((1.0 + e) * (1.0 + e))


def _sce(z: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Sigmoid cross-entropy with logits: max(x,0) - x z + log(1 + e^-|x|), without cancellation."""
    return np.where(x >= 0, x * (1.0 - z), -x * z) + np.log1p(np.exp(-np.abs(x)))


def _dsce(z: np.ndarray, x: np.ndarray) -> np.ndarray:
    """d SCE / d x = sigmoid(x) - z, written as (1 - z) - sigmoid(-x) for x >= 0."""
    return np.where(x >= 0, (1.0 - z) - _sigmoid(-x), _sigmoid(x) - z)


def _exp_mul(r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """e^r * c, also where e^r alone over- or underflows but the product is representable."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        out = np.exp(r) * c
        redo = np.isfinite(r) & np.isfinite(c) & (c != 0) & ((r > 709.0) | (r < -708.0))
        if np.any(redo):
            rr = np.where(redo, r, 0.0)
            k = np.clip(np.rint(rr / _LN2_HI), -5000, 5000)
            f = (rr - k * _LN2_HI) - k * _LN2_LO
            alt = np.ldexp(np.exp(f) * c, k.astype(np.int64))
            out = np.where(redo, alt, out)
    return out


# ----------------------------------------------------------------------------------------------------------------
# decode
# ----------------------------------------------------------------------------------------------------------------


def _anchors(name: str, anchors: Any) -> np.ndarray:
    a = as_float(name, anchors, rank=2)
    last_dim(name, a, 2, "2 (w, h)")
    if a.shape[0] < 1:
        raise ValueError(f"{name}: expected at least one anchor, got shape {a.shape}")
    return a


def _conv(name: str, conv: Any, n_anchors: int, n_class: int) -> np.ndarray:
    c = as_float(name, conv, rank=4)
    if c.shape[1] != c.shape[2]:
        raise ValueError(f"{name}: expected a square S x S grid, got {c.shape[1]} x {c.shape[2]} (shape {c.shape})")
    last_dim(name, c, n_anchors * (5 + n_class), f"A*(5+N) = {n_anchors}*(5+{n_class})")
    return c


def _decode_args(conv_output: Any, anchors: Any, stride: Any, num_class: Any, names: dict | None = None):
    names = names or {}
    n = positive_int("num_class", num_class)
    a = _anchors(names.get("anchors", "anchors"), anchors)
    c = _conv(names.get("conv", "conv_output"), conv_output, a.shape[0], n)
    s = scalar(names.get("stride", "stride"), stride, positive=True)
    return c.reshape(c.shape[:3] + (a.shape[0], 5 + n)), a, s


def _decode_raw(raw: np.ndarray, anchors: np.ndarray, stride: float) -> np.ndarray:
    size = raw.shape[1]
    grid = np.zeros((1, size, size, 1, 2))
    grid[..., 0] = np.arange(size)[None, None, :, None]  # column index
    grid[..., 1] = np.arange(size)[None, :, None, None]  # row index
    xy = (_sigmoid(raw[..., 0:2]) + grid) * stride
    wh = _exp_mul(raw[..., 2:4], anchors * stride)
    return np.concatenate([xy, wh, _sigmoid(raw[..., 4:])], axis=-1)


def _decode_vjp_raw(g: np.ndarray, raw: np.ndarray, anchors: np.ndarray, stride: float) -> np.ndarray:
    out = np.empty_like(raw)
    out[..., 0:2] = g[..., 0:2] * (stride * _dsigmoid(raw[..., 0:2]))
    out[..., 2:4] = g[..., 2:4] * _exp_mul(raw[..., 2:4], anchors * stride)
    out[..., 4:] = g[..., 4:] * _dsigmoid(raw[..., 4:])
    return out


def decode(conv_output: Any, anchors: Any, stride: Any, num_class: Any) -> np.ndarray:
    """Decode raw (B, S, S, A*(5+N)) output into (B, S, S, A, 5+N) boxes ``(x, y, w, h, conf, prob...)``."""
    raw, a, s = _decode_args(conv_output, anchors, stride, num_class)
    return _decode_raw(raw, a, s)


def _decode_vjp(cotangent: Any, wrt: str, *, conv_output: Any, anchors: Any, stride: Any, num_class: Any):
    wrt_of("decode", wrt, ("conv_output",))
    raw, a, s = _decode_args(conv_output, anchors, stride, num_class)
    g = cotangent_like(cotangent, raw.shape)
    return _decode_vjp_raw(g, raw, a, s).reshape(raw.shape[:3] + (-1,))


# ----------------------------------------------------------------------------------------------------------------
# loss_layer / compute_loss
# ----------------------------------------------------------------------------------------------------------------


LAYER_VARIANTS = ("FOCAL-STOP-GRADIENT", "MEAN-NOT-BATCH-SUM")
BOX_SCALE = 2.0  # the GIoU term's weight is BOX_SCALE - w·h / input_size² (small boxes weigh more)


def _layer_args(conv, pred, label, bboxes, anchors, stride, num_class, iou_loss_thresh, names=None, variants=()):
    names = names or {}
    nm = {k: names.get(k, k) for k in ("conv", "label", "bboxes", "anchors", "stride")}
    raw, a, s = _decode_args(conv, anchors, stride, num_class, names=nm)
    n_b, size, _, n_a, depth = raw.shape
    want = raw.shape
    lab = as_float(nm["label"], label)
    if lab.shape != want:
        raise ValueError(f"{nm['label']}: expected shape (B, S, S, A, 5+N) = {want}, got {lab.shape}")
    bb = as_float(nm["bboxes"], bboxes, rank=3)
    last_dim(nm["bboxes"], bb, 4, "4 (x, y, w, h)")
    if bb.shape[0] != n_b:
        raise ValueError(f"{nm['bboxes']}: batch size {bb.shape[0]} does not match {nm['conv']} batch size {n_b}")
    if pred is not None:
        pred = as_float("pred", pred)
        if pred.shape != want:
            raise ValueError(f"pred: expected shape (B, S, S, A, 5+N) = {want}, got {pred.shape}")
    thresh = scalar("iou_loss_thresh", iou_loss_thresh)
    return SimpleNamespace(raw=raw, conv_shape=np.shape(conv), anchors=a, stride=s, label=lab, bboxes=bb,
                           pred=pred, thresh=thresh, variants=variants_of("loss_layer", variants, LAYER_VARIANTS))


def _layer_forward(v: SimpleNamespace) -> SimpleNamespace:
    raw, lab = v.raw, v.label
    f = SimpleNamespace()
    f.composite = v.pred is None
    # the loss uses the decoded box and confidence only: the class channels are not decoded
    f.pred = _decode_raw(raw[..., :5], v.anchors, v.stride) if f.composite else v.pred
    pxywh, lxywh = f.pred[..., :4], lab[..., :4]
    r, lprob = lab[..., 4:5], lab[..., 5:]
    raw_conf, raw_prob = raw[..., 4:5], raw[..., 5:]
    input_size = v.stride * raw.shape[1]
    with np.errstate(all="ignore"):
        f.pair = box_pair(pxywh, lxywh, giou=True)
        f.scale = BOX_SCALE - lxywh[..., 2:3] * lxywh[..., 3:4] / (input_size * input_size)
        giou_el = r * f.scale * f.pair.loss[..., None]
        f.max_iou = screened_max_iou(pxywh, v.bboxes)[..., None]
        f.bgd = (1.0 - r) * (f.max_iou < v.thresh)
        if f.composite:  # r - sigmoid(raw_conf) without cancellation
            f.d = np.where(raw_conf > 0, (r - 1.0) + _sigmoid(-raw_conf), r - _sigmoid(raw_conf))
        else:
            f.d = r - f.pred[..., 4:5]
        f.focal = f.d * f.d
        f.sce = _sce(r, raw_conf)
        conf_el = f.focal * (r * f.sce + f.bgd * f.sce)
        f.rows = _prob_rows(r, lprob, raw_prob)
        prob_rows = r[f.rows] * _sce(lprob[f.rows], raw_prob[f.rows])  # r * SCE is exactly 0 elsewhere
        prob_sums = np.bincount(np.nonzero(f.rows)[0], weights=np.sum(prob_rows, axis=-1), minlength=raw.shape[0])
    sums = [np.sum(e, axis=(1, 2, 3, 4)) for e in (giou_el, conf_el)] + [prob_sums]
    sizes = (giou_el.size, conf_el.size, lprob.size)
    if "MEAN-NOT-BATCH-SUM" in v.variants:  # tf.reduce_mean over every axis
        f.out = tuple(np.asarray(np.sum(t) / n) for t, n in zip(sums, sizes, strict=True))
        f.norm = tuple(float(n) for n in sizes)
    else:  # the spec: mean over the batch of the sum over the other axes
        f.out = tuple(np.asarray(np.mean(t)) for t in sums)
        f.norm = (float(raw.shape[0]),) * 3
    return f


def _prob_rows(r: np.ndarray, lprob: np.ndarray, raw_prob: np.ndarray) -> np.ndarray:
    """Cells (B, S, S, A) whose class term ``r * SCE(label, raw)`` can be non-zero: ``r != 0``, or a
    non-finite value that would turn ``0 * SCE`` into NaN.  Elsewhere the term and its gradient are 0."""
    rows = r[..., 0] != 0
    rows |= ~np.isfinite(r[..., 0])
    rows |= ~np.isfinite(raw_prob).all(axis=-1)
    rows |= ~np.isfinite(lprob).all(axis=-1)
    return rows


def _layer_backward(v: SimpleNamespace, f: SimpleNamespace, cot: tuple[float, float, float]):
    """Gradients wrt pred (conv fixed) and the direct part wrt the reshaped raw output."""
    raw, lab = v.raw, v.label
    r, lprob = lab[..., 4:5], lab[..., 5:]
    g1, g2, g3 = (c / n for c, n in zip(cot, f.norm, strict=True))
    d_pred = np.zeros(raw.shape)
    d_raw = np.zeros(raw.shape)
    with np.errstate(all="ignore"):
        gb, _ = box_pair_vjp(f.pair, -(g1 * r * f.scale)[..., 0])
        d_pred[..., :4] = gb
        if "FOCAL-STOP-GRADIENT" not in v.variants:  # the focal weight carries gradient (docs/contracts.md)
            d_pred[..., 4:5] = g2 * (r * f.sce + f.bgd * f.sce) * (-2.0 * f.d)
        dsce = _dsce(r, raw[..., 4:5])
        d_raw[..., 4:5] = g2 * f.focal * (r * dsce + f.bgd * dsce)
        rows = f.rows if np.isfinite(g3) else np.ones(f.rows.shape, dtype=bool)  # NaN * 0 must stay NaN
        d_raw[rows, 5:] = g3 * r[rows] * _dsce(lprob[rows], raw[rows][..., 5:])
    return d_pred, d_raw


def _layer_vjp_raw(v: SimpleNamespace, d_pred: np.ndarray, d_raw: np.ndarray) -> np.ndarray:
    """Gradient wrt the reshaped raw output: ``d_raw`` plus the decode VJP of ``d_pred``.

    ``d_pred`` is 0 in the class channels, whose decode derivative is finite except at NaN, where ``d_raw``
    is already NaN: only the box and confidence channels go through the decode VJP.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        total = d_raw.copy()
        total[..., :5] += _decode_vjp_raw(d_pred[..., :5], v.raw[..., :5], v.anchors, v.stride)
    return total


def _layer_kinks(v: SimpleNamespace, f: SimpleNamespace) -> np.ndarray:
    r = v.label[..., 4:5]
    k1, _ = box_pair_kinks(f.pair)
    jump = ((1.0 - r) != 0) & (f.max_iou == v.thresh)
    k = np.zeros(v.raw.shape, dtype=bool)
    k[..., :4] = (k1 & (r * f.scale != 0)) | jump
    k[..., 4:5] = jump
    return k


def loss_layer(conv: Any, pred: Any, label: Any, bboxes: Any, anchors: Any, stride: Any, num_class: Any,
               iou_loss_thresh: Any = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One scale's ``(giou_loss, conf_loss, prob_loss)``; ``pred=None`` means ``decode(conv)``."""
    v = _layer_args(conv, pred, label, bboxes, anchors, stride, num_class, iou_loss_thresh)
    return _layer_forward(v).out


def _layer_eval(*, conv, label, bboxes, anchors, stride, num_class, iou_loss_thresh=0.5, pred=None, variants=()):
    v = _layer_args(conv, pred, label, bboxes, anchors, stride, num_class, iou_loss_thresh, variants=variants)
    return _layer_forward(v).out


def _layer_vjp(cotangent, wrt, *, conv, label, bboxes, anchors, stride, num_class, iou_loss_thresh=0.5, pred=None,
               variants=()):
    wrt_of("loss_layer", wrt, ("conv", "pred"))
    cot = cotangent_triple(cotangent)
    v = _layer_args(conv, pred if wrt == "pred" else None, label, bboxes, anchors, stride, num_class,
                    iou_loss_thresh, variants=variants)
    f = _layer_forward(v)
    d_pred, d_raw = _layer_backward(v, f, cot)
    if wrt == "pred":
        return d_pred
    return _layer_vjp_raw(v, d_pred, d_raw).reshape(v.conv_shape)


def _layer_kinks_uniform(wrt, *, conv, label, bboxes, anchors, stride, num_class, iou_loss_thresh=0.5, pred=None,
                         variants=()):
    wrt_of("loss_layer", wrt, ("conv", "pred"))
    v = _layer_args(conv, pred if wrt == "pred" else None, label, bboxes, anchors, stride, num_class,
                    iou_loss_thresh)
    k = _layer_kinks(v, _layer_forward(v))
    return k if wrt == "pred" else k.reshape(v.conv_shape)


def threshold_margin(conv: Any, label: Any, bboxes: Any, anchors: Any, stride: Any, num_class: Any,
                     iou_loss_thresh: Any = 0.5) -> float:
    """min |max_iou - iou_loss_thresh| over background candidates (cells with 1 - r != 0, i.e. r == 0).

    ``inf`` when there is no such cell; NaN when one of them has a NaN ``max_iou``.
    """
    v = _layer_args(conv, None, label, bboxes, anchors, stride, num_class, iou_loss_thresh)
    pred = _decode_raw(v.raw[..., :4], v.anchors, v.stride)
    with np.errstate(invalid="ignore"):
        gap = np.abs(screened_max_iou(pred[..., :4], v.bboxes) - v.thresh)
    gap = gap[(1.0 - v.label[..., 4]) != 0]
    return float(np.min(gap, initial=np.inf))


def _scales(convs, labels, bboxes, anchors, strides):
    for name, seq in (("convs", convs), ("labels", labels), ("bboxes", bboxes)):
        try:
            n = len(seq)
        except TypeError:
            raise ValueError(f"{name}: expected a sequence of 3 arrays (one per scale)") from None
        if n != 3:
            raise ValueError(f"{name}: expected a sequence of 3 arrays (one per scale), got {n}")
    a = as_float("anchors", anchors, rank=3)
    if a.shape[0] != 3 or a.shape[2] != 2:
        raise ValueError(f"anchors: expected shape (3, A, 2), got {a.shape}")
    s = as_float("strides", strides, rank=1)
    if s.shape != (3,):
        raise ValueError(f"strides: expected shape (3,), got {s.shape}")
    return a, s


def _scale_args(i, convs, labels, bboxes, a, s, num_class, iou_loss_thresh, variants=()):
    names = {"conv": f"convs[{i}]", "label": f"labels[{i}]", "bboxes": f"bboxes[{i}]",
             "anchors": f"anchors[{i}]", "stride": f"strides[{i}]"}
    return _layer_args(convs[i], None, labels[i], bboxes[i], a[i], s[i], num_class, iou_loss_thresh, names, variants)


def compute_loss(convs: Sequence[Any], labels: Sequence[Any], bboxes: Sequence[Any], anchors: Any, strides: Any,
                 num_class: Any, iou_loss_thresh: Any = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum over the three scales of ``loss_layer(conv, decode(conv), ...)``."""
    a, s = _scales(convs, labels, bboxes, anchors, strides)
    outs = [_layer_forward(_scale_args(i, convs, labels, bboxes, a, s, num_class, iou_loss_thresh)).out
            for i in range(3)]
    return tuple(np.asarray(sum(float(o[k]) for o in outs)) for k in range(3))  # type: ignore[return-value]


def _compute_eval(*, convs, labels, bboxes, anchors, strides, num_class, iou_loss_thresh=0.5, variants=()):
    a, s = _scales(convs, labels, bboxes, anchors, strides)
    outs = [_layer_forward(_scale_args(i, convs, labels, bboxes, a, s, num_class, iou_loss_thresh, variants)).out
            for i in range(3)]
    return tuple(np.asarray(sum(float(o[k]) for o in outs)) for k in range(3))


def _compute_vjp(cotangent, wrt, *, convs, labels, bboxes, anchors, strides, num_class, iou_loss_thresh=0.5,
                 variants=()):
    wrt_of("compute_loss", wrt, ("convs",))
    cot = cotangent_triple(cotangent)
    a, s = _scales(convs, labels, bboxes, anchors, strides)
    grads = []
    for i in range(3):
        v = _scale_args(i, convs, labels, bboxes, a, s, num_class, iou_loss_thresh, variants)
        d_pred, d_raw = _layer_backward(v, _layer_forward(v), cot)
        grads.append(_layer_vjp_raw(v, d_pred, d_raw).reshape(v.conv_shape))
    return tuple(grads)


def _compute_kinks(wrt, *, convs, labels, bboxes, anchors, strides, num_class, iou_loss_thresh=0.5, variants=()):
    wrt_of("compute_loss", wrt, ("convs",))
    a, s = _scales(convs, labels, bboxes, anchors, strides)
    masks = []
    for i in range(3):
        v = _scale_args(i, convs, labels, bboxes, a, s, num_class, iou_loss_thresh)
        masks.append(_layer_kinks(v, _layer_forward(v)).reshape(v.conv_shape))
    return tuple(masks)


# ----------------------------------------------------------------------------------------------------------------
# Uniform-style records
# ----------------------------------------------------------------------------------------------------------------


def _decode_eval(*, conv_output, anchors, stride, num_class):
    return decode(conv_output, anchors, stride, num_class)


def _decode_kinks(wrt, *, conv_output, anchors, stride, num_class):
    wrt_of("decode", wrt, ("conv_output",))
    return no_kinks(wrt, conv_output=conv_output)


SPECS: list[OracleSpec] = [
    OracleSpec("decode", "yolov3", _decode_eval, _decode_vjp, _decode_kinks, ("conv_output",)),
    *boxes.SPECS,
    *diou.SPECS,
    *focal_weight.SPECS,
    OracleSpec("loss_layer", "yolov3", _layer_eval, _layer_vjp, _layer_kinks_uniform, ("conv", "pred"), n_outputs=3,
               variants=LAYER_VARIANTS),
    OracleSpec("compute_loss", "yolov3", _compute_eval, _compute_vjp, _compute_kinks, ("convs",), n_outputs=3,
               variants=LAYER_VARIANTS),
]
