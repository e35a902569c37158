"""Numerics of family ``yolov3``: tolerance scales, near-kink marks, range checks and rounded intermediates."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

import oracle
from conformance.numerics import arithmetic
from conformance.numerics.dtypes import info
from conformance.numerics.form_bounds import bounds
from conformance.numerics.tolerance import Tolerance, max_ignoring_nan, outside, rounded, sigmoid64, sum_to

# --- tolerances ---------------------------------------------------------------------------------------------

def box_scale(b1: np.ndarray, b2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sum of absolute error terms of the area arithmetic, |union|-like denominator) per box pair.

    Corners x -/+ w/2 carry an absolute error ~u (|x| + |w|); side lengths and areas
    inherit it, so the IoU's absolute error is ~u (cx*Ey + cy*Ex + |a1| + |a2|) / |union|.
    """
    b1, b2 = np.broadcast_arrays(np.asarray(b1, float), np.asarray(b2, float))
    cx = np.maximum(np.abs(b1[..., 0]), np.abs(b2[..., 0])) + np.maximum(np.abs(b1[..., 2]), np.abs(b2[..., 2]))
    cy = np.maximum(np.abs(b1[..., 1]), np.abs(b2[..., 1])) + np.maximum(np.abs(b1[..., 3]), np.abs(b2[..., 3]))
    ex_ = np.abs(b1[..., 2]) + np.abs(b2[..., 2]) + np.abs(b1[..., 0] - b2[..., 0])
    ey_ = np.abs(b1[..., 3]) + np.abs(b2[..., 3]) + np.abs(b1[..., 1] - b2[..., 1])
    a1 = np.abs(b1[..., 2] * b1[..., 3])
    a2 = np.abs(b2[..., 2] * b2[..., 3])
    terms = cx * ey_ + cy * ex_ + a1 + a2
    return terms, np.maximum(a1, a2)


def _box_denominator(b1: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """The smallest of |union|, |raw union| (from the signed w·h) and |enclosing area| per box pair."""
    inter = np.prod(np.maximum(np.minimum(b1[..., :2] + np.abs(b1[..., 2:]) / 2, b2[..., :2] + np.abs(b2[..., 2:])
                                          / 2) - np.maximum(b1[..., :2] - np.abs(b1[..., 2:]) / 2,
                                                            b2[..., :2] - np.abs(b2[..., 2:]) / 2), 0), -1)
    union = np.abs(b1[..., 2] * b1[..., 3]) + np.abs(b2[..., 2] * b2[..., 3]) - inter
    raw_union = b1[..., 2] * b1[..., 3] + b2[..., 2] * b2[..., 3] - inter
    enclose = np.prod(np.maximum(b1[..., :2], b2[..., :2]) - np.minimum(b1[..., :2], b2[..., :2])
                      + (np.abs(b1[..., 2:]) + np.abs(b2[..., 2:])) / 2, -1)
    return np.minimum.reduce([np.abs(union), np.abs(raw_union), np.abs(enclose)])


def _iou_conditioning(ex, e):
    """The IoU's propagated absolute error per unit u: the corners' and areas' roundings over the union."""
    terms, _ = box_scale(ex["boxes1"], ex["boxes2"])
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = oracle.evaluate("bbox_iou", boxes1=ex["boxes1"], boxes2=ex["boxes2"])
        denom = _box_denominator(*np.broadcast_arrays(ex["boxes1"], ex["boxes2"]))
        return np.broadcast_to(terms * (1 + np.abs(np.nan_to_num(iou))) * 2 / denom, np.shape(e))


def _box_terms(ex, wrt, cot):
    """|cot| x (E_x + E_y) / denominator per box pair, onto ``wrt``'s elements: the size of the terms a box
    gradient element sums (I/U and U/E differentiated through areas, overlaps and spans), which cancel to an
    exact 0 where e.g. U/E is constant; XLA's fused multiply-adds leave a residue of ~u times these terms."""
    b1, b2 = np.broadcast_arrays(np.asarray(ex["boxes1"], float), np.asarray(ex["boxes2"], float))
    extents = (np.abs(b1[..., 2]) + np.abs(b2[..., 2]) + np.abs(b1[..., 0] - b2[..., 0])
               + np.abs(b1[..., 3]) + np.abs(b2[..., 3]) + np.abs(b1[..., 1] - b2[..., 1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.nan_to_num(np.abs(np.broadcast_to(cot, extents.shape)) * extents / _box_denominator(b1, b2),
                          nan=0.0, posinf=1e30)
    shape = np.shape(ex[wrt])
    return np.broadcast_to(sum_to(t, shape[:-1])[..., None], shape)


def _box_grad(ex, wrt, grad, cot):
    """The box arithmetic's conditioning, per box pair, onto the pair's gradient elements: a pair's IoU depends on
    its own four coordinates only, so one ill-conditioned pair does not widen the others' tolerances."""
    with np.errstate(divide="ignore", invalid="ignore"):
        val = oracle.evaluate("bbox_iou", boxes1=ex["boxes1"], boxes2=ex["boxes2"])
        cond = np.where(np.isfinite(val), np.minimum(_iou_conditioning(ex, np.zeros_like(val)), 1e30), 0.0)
    shape = np.shape(ex[wrt])
    cond = np.broadcast_to(sum_to(cond, shape[:-1])[..., None], shape)
    g = np.abs(grad)
    pair_max = np.broadcast_to(np.max(np.where(np.isnan(g), 0.0, g), axis=-1, keepdims=True), g.shape)
    return (g + pair_max + _box_terms(ex, wrt, cot)) * cond


def _box_grad_base(ex, wrt, grad, cot):
    g = np.abs(grad)
    return g + max_ignoring_nan(g) + _box_terms(ex, wrt, cot)


BOX = Tolerance(chain=16, terms=lambda ex: 4, grad_scale=_box_grad_base, conditioning=_iou_conditioning,
                grad_conditioning=_box_grad)


def _decode_grad(ex, wrt, grad, cot):
    return np.abs(grad) * 2 + np.abs(np.reshape(cot, np.shape(grad))) * float(ex["stride"])


def _yolo_terms(ex: dict) -> int:
    convs = ex["convs"] if "convs" in ex else [ex["conv"]]
    bbs = ex["bboxes"] if "convs" in ex else [ex["bboxes"]]
    return sum(np.size(c) + np.size(b) for c, b in zip(convs, bbs, strict=True))


def _layer_scale(conv, label, bboxes, anchors, stride, num_class) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sums of absolute terms of the three loss_layer outputs, the GIoU conditioning per cell (B, S, S, A), and the
    GIoU loss's conditioning (its propagated box-arithmetic error per unit u)."""
    b, s = conv.shape[0], conv.shape[1]
    a = np.asarray(anchors).shape[0]
    pred = oracle.decode(conv, anchors, stride, num_class)
    raw = conv.reshape(b, s, s, a, 5 + num_class)
    r = label[..., 4:5]
    size = float(stride) * s
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        terms, _ = box_scale(pred[..., :4], label[..., :4])
        giou = np.nan_to_num(oracle.bbox_giou(pred[..., :4], label[..., :4]))
        area = np.abs(pred[..., 2] * pred[..., 3]) + np.abs(label[..., 2] * label[..., 3])
        kappa = np.where(r[..., 0] > 0, terms / np.maximum(area, 1e-300), 0.0)
    bscale = np.abs(2 - label[..., 2:3] * label[..., 3:4] / size**2) + 1
    g = np.sum(r * bscale * (1 + np.abs(giou[..., None])), axis=(1, 2, 3, 4))
    cond = np.sum(r * bscale * kappa[..., None], axis=(1, 2, 3, 4))
    sce = lambda z, x: np.maximum(x, 0) + np.abs(x * z) + np.log1p(np.exp(-np.abs(x)))  # noqa: E731
    conf_p = sigmoid64(raw[..., 4:5])
    c = np.sum((np.abs(r) + conf_p) ** 2 * sce(r, raw[..., 4:5]), axis=(1, 2, 3, 4))
    p = np.sum(r * sce(label[..., 5:], raw[..., 5:]), axis=(1, 2, 3, 4))
    return np.array([g.mean(), c.mean(), p.mean()]), kappa, np.array([cond.mean(), 0, 0])


def _loss_layer_value(ex, e, part=0):
    return _layer_scale(ex["conv"], ex["label"], ex["bboxes"], ex["anchors"], ex["stride"], ex["num_class"])[part]


def _compute_loss_value(ex, e, part=0):
    return sum(_layer_scale(c, lab, bb, an, st, ex["num_class"])[part]
               for c, lab, bb, an, st in zip(ex["convs"], ex["labels"], ex["bboxes"], ex["anchors"], ex["strides"],
                                             strict=True))


def _kappa(ex, shape: tuple[int, ...]) -> np.ndarray:
    """The GIoU conditioning of each cell of the scale whose ``conv`` has ``shape`` (a cell's loss terms depend on
    its own raw outputs only), repeated over the cell's channels."""
    scales = (zip(ex["convs"], ex["labels"], ex["bboxes"], ex["anchors"], ex["strides"], strict=True)
              if "convs" in ex else [(ex["conv"], ex["label"], ex["bboxes"], ex["anchors"], ex["stride"])])
    for c, lab, bb, an, st in scales:
        if np.shape(c) == tuple(shape):
            k = _layer_scale(c, lab, bb, an, st, ex["num_class"])[1]  # (B, S, S, A)
            per = np.repeat(k[..., None], np.shape(c)[-1] // k.shape[-1], axis=-1)
            return per.reshape(shape)
    return np.zeros(shape)


def _yolo_grad(ex, wrt, grad, cot):
    g = np.abs(grad)
    return (g + max_ignoring_nan(g)) * 2.0


def _yolo_grad_conditioning(ex, wrt, grad, cot):
    g = np.abs(grad)
    return (g + max_ignoring_nan(g)) * _kappa(ex, np.shape(grad))


SOFTPLUS = "softplus|exp+log1p"
# value paths counted (Tolerance.ops, .kernels): docs/tolerances.md, "Counted chains"
TOLERANCES = {
    "decode": Tolerance(terms=lambda ex: 2, ops=4, kernels=("sigmoid|exp",), grad_scale=_decode_grad),
    **{name: replace(BOX, ops=ops, **bounds(name), **kw) for name, ops, kw in (
        ("bbox_iou", 3, {}), ("bbox_giou", 5, {}), ("iou_loss", 4, {}), ("giou_loss", 6, {}), ("diou_loss", 12, {}),
        ("ciou_loss", 18, {"kernels": ("atan", "atan")}))},
    "focal": Tolerance(terms=lambda ex: 1, ops=4, kernels=("pow",),
                       value_scale=lambda ex, e: float(abs(ex.get("alpha", 1))) * (np.abs(ex["target"])
                                                                                 + np.abs(ex["actual"])) ** ex.get(
                                                                                     "gamma", 2) + np.abs(e),
                       grad_scale=lambda ex, wrt, g, c: np.abs(c) * float(abs(ex.get("alpha", 1)))
                       * float(ex.get("gamma", 2)) * (np.abs(ex["target"]) + np.abs(ex["actual"]))
                       ** max(float(ex.get("gamma", 2)) - 1, 0) + np.abs(g)),
    "loss_layer": Tolerance(chain=24, terms=_yolo_terms, ops=15, kernels=("pow", "exp", SOFTPLUS),
                            value_scale=_loss_layer_value, grad_scale=_yolo_grad,
                            conditioning=lambda ex, e: _loss_layer_value(ex, e, 2),
                            grad_conditioning=_yolo_grad_conditioning, **bounds("loss_layer")),
    "compute_loss": Tolerance(chain=24, terms=_yolo_terms, ops=18,
                              kernels=("sigmoid|exp", "pow", "exp", SOFTPLUS),
                              value_scale=_compute_loss_value, grad_scale=_yolo_grad,
                              conditioning=lambda ex, e: _compute_loss_value(ex, e, 2),
                              grad_conditioning=_yolo_grad_conditioning, **bounds("compute_loss")),
}


# --- near kinks ---------------------------------------------------------------------------------------------------

def box_near_kinks(ex: dict, wrt: str, dtype: str) -> np.ndarray:
    """Box coordinates within rounding distance of a kink of the IoU/GIoU formulas.

    The formulas compare corners (x -/+ w/2 of both boxes, and min/max of a box's own corners in GIoU).  A corner
    c ± w/2 is computed with one rounding (w/2 is exact), so two computed corners differ from the exact difference
    by at most 2u(max|c| + max|w|/2); a form that takes overlaps from centre differences, (w₁ + w₂)/2 ∓ (c₁ − c₂),
    by at most u((w₁ + w₂)/2 + |c₁ − c₂| + |result|) ≤ 2u(2 max|c| + max|w|).  Within
    ``BOX_TIE``·(u + u₆₄)(max|c| + max|w|) of a tie, which covers that and the oracle's own rounding of the same
    difference (in float64 as large), the implementation may see a tie or the other order, and its min/max then
    routes the gradient through the other branch: any one-sided derivative is acceptable there, as on an exact
    kink.  Marks every coordinate of that axis of both boxes.
    """
    return _unbroadcast_any(_near_tie_marks(ex["boxes1"], ex["boxes2"], dtype, BOX_TIE), np.shape(ex[wrt]))


BOX_TIE = 4.0  # (u + u₆₄)(max|c| + max|w|): a computed corner difference's error and the oracle's (box_near_kinks)


def decoded_tie(dtype: str) -> float:
    """The near-tie band's width, in (u + u₆₄)(max|c| + max|w|), for a decoded box against its label box.

    decode computes x = (σ(t) + c)·s and w = e^t·a·s, each step rounded: with σ's kernel error κ_σ u relative,
    |x̂ − x| ≤ u(κ_σ σs + 2|x|) ≤ (κ_σ + 2)u|x| (the offset c ≥ 0, so σs ≤ x), and |ŵ − w| ≤ (κ_exp + 2)u|w|.  A
    corner x ± w/2 adds u(|x| + |w|/2), a label corner u(|x| + |w|/2); so a decoded corner and a label corner differ
    from their exact difference by at most u((κ_σ + 4)max|c| + (κ_exp/2 + 2)max|w|), the decoded box's own corners
    (whose x cancels) by u(2|x| + (κ_exp + 3)|w|).  σ may be the framework's kernel or 1/(1 + e^{−t}), whose
    relative error is at most κ_exp + 2; the kernels' errors are the measured ones (the SAFETY factor where the
    probes measured none: float32, float64).  Hence 4 + max(κ_σ, κ_exp + 2); the oracle's own rounding of the same
    difference is the u₆₄ of the band.
    """
    kernels = arithmetic.current(dtype).kernels

    def kappa(kernel: str) -> float:
        return max(1.0, float(kernels.get(kernel, arithmetic.SAFETY))) if kernels else arithmetic.SAFETY

    return 4.0 + max(kappa("sigmoid"), kappa("exp") + 2.0)


def _near_tie_marks(boxes1: Any, boxes2: Any, dtype: str, width: float) -> np.ndarray:
    """(x, y, w, h) marks, broadcast shape: the axes on which two compared corners are within ``width``·(u + u₆₄)
    ·(max|c| + max|w|) of each other."""
    u = info(dtype).unit_roundoff + 2.0**-53
    b1, b2 = np.broadcast_arrays(np.asarray(boxes1, float), np.asarray(boxes2, float))
    near = np.zeros(b1.shape[:-1], dtype=bool)
    marks = np.zeros(b1.shape, dtype=bool)
    for axis in (0, 1):
        c1, w1, c2, w2 = b1[..., axis], b1[..., axis + 2], b2[..., axis], b2[..., axis + 2]
        corners = [c1 - w1 / 2, c1 + w1 / 2, c2 - w2 / 2, c2 + w2 / 2]
        delta = width * u * (np.maximum(np.abs(c1), np.abs(c2)) + np.maximum(np.abs(w1), np.abs(w2)))
        near = np.zeros_like(near)
        for i in range(4):
            for j in range(i + 1, 4):
                near |= np.abs(corners[i] - corners[j]) <= delta
        marks[..., axis] |= near
        marks[..., axis + 2] |= near
    return marks


def yolo_near_kinks(ex: dict, wrt: str, dtype: str) -> Any:
    """``loss_layer`` / ``compute_loss``: raw x, y, w, h channels of a cell whose decoded box is within rounding
    distance of a GIoU kink with its label box (see :func:`box_near_kinks`); one mask per scale for ``convs``."""
    if "convs" in ex:
        return tuple(_layer_near_kinks(c, lab, an, st, ex["num_class"], dtype)
                     for c, lab, an, st in zip(ex["convs"], ex["labels"], ex["anchors"], ex["strides"], strict=True))
    return _layer_near_kinks(ex["conv"], ex["label"], ex["anchors"], ex["stride"], ex["num_class"], dtype)


def _layer_near_kinks(conv: np.ndarray, label: np.ndarray, anchors: Any, stride: Any, num_class: int,
                      dtype: str) -> np.ndarray:
    with np.errstate(all="ignore"):
        pred = oracle.decode(conv, anchors, stride, num_class)
        marks = _near_tie_marks(pred[..., :4], label[..., :4], dtype, decoded_tie(dtype))  # (B, S, S, A, 4)
    marks &= np.asarray(label)[..., 4:5] != 0  # the GIoU term counts only where an object is assigned
    out = np.zeros(pred.shape, dtype=bool)
    out[..., :4] = marks
    return out.reshape(np.shape(conv))


def _unbroadcast_any(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Reduce a broadcast boolean mask back to ``shape`` with ``any``."""
    while mask.ndim > len(shape):
        mask = mask.any(axis=0)
    for i, n in enumerate(shape):
        if n == 1 and mask.shape[i] != 1:
            mask = mask.any(axis=i, keepdims=True)
    return mask


# --- range: the formula's named intermediates in the dtype -----------------------------------------------------

def boxes_in_range(b1: np.ndarray, b2: np.ndarray, dtype: str) -> bool:
    b1, b2 = np.broadcast_arrays(b1, b2)
    with np.errstate(over="ignore", invalid="ignore"):
        corners = [b[..., i] + s * b[..., i + 2] / 2 for b in (b1, b2) for i in (0, 1) for s in (-1, 1)]
        a1, a2 = b1[..., 2] * b1[..., 3], b2[..., 2] * b2[..., 3]
        lo = np.minimum(np.minimum(corners[0], corners[1]), np.minimum(corners[4], corners[5]))
        hi = np.maximum(np.maximum(corners[0], corners[1]), np.maximum(corners[4], corners[5]))
        lo_y = np.minimum(np.minimum(corners[2], corners[3]), np.minimum(corners[6], corners[7]))
        hi_y = np.maximum(np.maximum(corners[2], corners[3]), np.maximum(corners[6], corners[7]))
        enclose = (hi - lo) * (hi_y - lo_y)
        ov = [np.maximum(np.minimum(b1[..., i] + np.abs(b1[..., i + 2]) / 2, b2[..., i] + np.abs(b2[..., i + 2]) / 2)
                         - np.maximum(b1[..., i] - np.abs(b1[..., i + 2]) / 2, b2[..., i] - np.abs(b2[..., i + 2]) / 2),
                         0) for i in (0, 1)]
        inter = ov[0] * ov[1]
        union = np.abs(a1) + np.abs(a2) - inter
    return not outside([*corners, a1, a2, enclose, inter, union, np.abs(a1) + np.abs(a2)], dtype)


def extents_in_range(conv: Any, anchors: Any, stride: Any, num_class: int, dtype: str) -> bool:
    a = np.shape(anchors)[0]
    raw = rounded(dtype, conv).reshape(*np.shape(conv)[:3], a, 5 + int(num_class))[..., 2:4]
    with np.errstate(over="ignore"):
        e = np.exp(raw)
        return not outside([e, e * np.asarray(anchors, dtype=np.float64) * float(stride)], dtype)


def boxes_pair_in_range(ex: dict, dtype: str) -> bool:
    return boxes_in_range(rounded(dtype, ex["boxes1"]), rounded(dtype, ex["boxes2"]), dtype)


def decode_in_range(ex: dict, dtype: str) -> bool:
    return extents_in_range(ex["conv_output"], ex["anchors"], ex["stride"], ex["num_class"], dtype)


def scales(ex: dict) -> list[tuple]:
    """(conv, label, bboxes, anchors, stride) per scale of a loss_layer or compute_loss example."""
    if "convs" in ex:
        return list(zip(ex["convs"], ex["labels"], ex["bboxes"], ex["anchors"], ex["strides"], strict=True))
    return [(ex["conv"], ex["label"], ex["bboxes"], ex["anchors"], ex["stride"])]


def layers_in_range(ex: dict, dtype: str) -> bool:
    for conv, label, bboxes, anchors, stride in scales(ex):
        if not extents_in_range(conv, anchors, stride, ex["num_class"], dtype):
            return False
        pred = rounded(dtype, oracle.decode(rounded(dtype, conv), anchors, stride, ex["num_class"]))[..., :4]
        label, bboxes = rounded(dtype, label)[..., :4], rounded(dtype, bboxes)
        if not (boxes_in_range(pred, label, dtype)
                and boxes_in_range(pred[..., None, :], bboxes[:, None, None, None, :, :], dtype)):
            return False
    return True


def threshold_margin(ex: dict) -> float:
    """Smallest distance of a max IoU to iou_loss_thresh over the scales (NaN where an IoU is undefined)."""
    with np.errstate(all="ignore"):
        return min(oracle.yolov3.threshold_margin(c, lab, bb, an, s, ex["num_class"], ex["iou_loss_thresh"])
                   for c, lab, bb, an, s in scales(ex))


# --- rounded intermediates (the stability tier's YOLO-EXP-OVERFLOW / YOLO-ZERO-UNION rule) ---------------------

def _decode_rounded(conv: np.ndarray, anchors: Any, stride: Any, num_class: int, dtype: str) -> np.ndarray:
    """decode(conv) with the documents' intermediates rounded to ``dtype`` (overflow inf, flush-to-zero), then the
    output rounded: xy = (σ(raw_xy) + grid) · stride, with σ(raw_xy) flushed to 0 where it is subnormal; wh =
    (e^{raw_wh} · anchors) · stride, with e^{raw_wh} and the product each rounded (with anchors below 1 the product
    underflows where e^{raw_wh} does not)."""
    exact = oracle.evaluate("decode", conv_output=conv, anchors=anchors, stride=stride, num_class=num_class)
    raw = np.asarray(conv, dtype=np.float64).reshape(exact.shape)
    rows, cols = exact.shape[1], exact.shape[2]
    grid = np.stack(np.broadcast_arrays(np.arange(cols)[None, :], np.arange(rows)[:, None]), -1)[:, :, None, :]
    with np.errstate(over="ignore", invalid="ignore"):
        sig = rounded(dtype, 1.0 / (1.0 + np.exp(-raw[..., 0:2])))
        xy = rounded(dtype, sig + grid) * float(stride)
        scaled = rounded(dtype, rounded(dtype, np.exp(raw[..., 2:4])) * rounded(dtype, anchors))
        wh = scaled * float(stride)
    out = exact.copy()
    out[..., 0:2] = xy
    out[..., 2:4] = wh
    return rounded(dtype, out)


def _exp_range(conv: np.ndarray, anchors: Any, stride: Any, num_class: int, dtype: str) -> tuple[bool, bool]:
    """(a named intermediate overflows ``dtype``, one underflows it): e^{raw_wh}, e^{raw_wh} · anchors, σ(raw_xy)
    and the decoded box areas w·h."""
    n_anchors = np.shape(anchors)[0]
    raw = np.asarray(conv, dtype=np.float64).reshape(*np.shape(conv)[:3], n_anchors, 5 + num_class)
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(raw[..., 2:4])
        scaled = e * np.asarray(anchors, dtype=np.float64)
        wh = scaled * float(stride)
        area = wh[..., 0] * wh[..., 1]
        sig = 1.0 / (1.0 + np.exp(-raw[..., 0:2]))
    d = info(dtype)
    return (bool(np.any(e > d.max) or np.any(scaled > d.max) or np.any(area > d.max)),
            bool(np.any(e < d.tiny) or np.any(scaled < d.tiny) or np.any(area < d.tiny) or np.any(sig < d.tiny)))


def rounded_intermediate(name: str, ex: dict, dtype: str) -> tuple[Any, str] | None:
    """(oracle value on dtype-rounded intermediates, hazard id) for the names through ``decode``; else None."""
    if name == "decode":
        conv, anchors, stride = ex["conv_output"], ex["anchors"], ex["stride"]
        scales = [(conv, None, None, anchors, stride)]
    elif name == "loss_layer":
        scales = [(ex["conv"], ex["label"], ex["bboxes"], ex["anchors"], ex["stride"])]
    else:
        scales = list(zip(ex["convs"], ex["labels"], ex["bboxes"], ex["anchors"], ex["strides"], strict=True))
    over = under = False
    outs = []
    with np.errstate(all="ignore"):
        for conv, lab, bb, an, s in scales:
            o, u = _exp_range(conv, an, s, ex["num_class"], dtype)
            over, under = over or o, under or u
            pred = _decode_rounded(conv, an, s, ex["num_class"], dtype)
            if name == "decode":
                outs.append(pred)
            else:
                outs.append(oracle.evaluate("loss_layer", conv=conv, pred=pred, label=lab, bboxes=bb, anchors=an,
                                            stride=s, num_class=ex["num_class"],
                                            iou_loss_thresh=ex["iou_loss_thresh"]))
    if not (over or under):
        return None
    hid = "YOLO-EXP-OVERFLOW" if over else "YOLO-ZERO-UNION"
    if name == "decode":
        return outs[0], hid
    if name == "loss_layer":
        return outs[0], hid
    return tuple(sum(np.asarray(o[i]) for o in outs) for i in range(3)), hid
