"""The tolerance model (derivation in docs/tolerances.md).

For an output element with exact value ``e`` the implementation may differ by

    tol = atol + SAFETY * u * (chain + n) * scale

``u`` is the unit roundoff of the dtype under test, ``chain`` bounds the
rounding errors of the elementwise kernels on the path to the element (each
transcendental is a few ulps in Eigen and XLA), ``n`` is the length of the
longest reduction feeding it (Higham's worst-case bound for summation is
(n - 1) u times the sum of the absolute terms), and ``scale`` is that sum of
absolute terms: ``|e|`` where no cancellation happens, larger where the formula
subtracts nearly equal quantities (softmax CE = logsumexp - x_k, 1 - GIoU, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import oracle
from conformance.numerics.dtypes import info, round_to

SAFETY = 4.0
ORACLE_U = 2.0**-53  # unit roundoff of the oracle's float64 arithmetic
Scale = Callable[[dict, Any], Any]


@dataclass(frozen=True)
class Tolerance:
    """A name's tolerance class: kernel chain length, reduction length and magnitude scales."""

    chain: int = 8
    terms: Callable[[dict], int] | None = None
    value_scale: Scale | None = None
    grad_scale: Callable[[dict, str, Any, Any], Any] | None = None

    def n_terms(self, ex: dict) -> int:
        if self.terms is not None:
            return int(self.terms(ex))
        return max((np.size(v) for v in _arrays(ex)), default=1)

    def rtol(self, ex: dict, dtype: str) -> float:
        # the oracle is float64 arithmetic too: its own error (the same model with u = 2^-53) adds to the
        # implementation's; negligible below float64, a factor 2 in float64 (docs/tolerances.md, "float64")
        return SAFETY * (info(dtype).unit_roundoff + ORACLE_U) * (self.chain + self.n_terms(ex))

    def atol(self, dtype: str) -> float:
        # TensorFlow flushes subnormals to zero: anything below the smallest normal may read as 0.
        return 16.0 * info(dtype).tiny

    def for_value(self, ex: dict, expected: np.ndarray, dtype: str) -> np.ndarray:
        scale = np.abs(expected) if self.value_scale is None else self.value_scale(ex, expected)
        return self.atol(dtype) + self.rtol(ex, dtype) * np.nan_to_num(np.asarray(scale), nan=0.0, posinf=np.inf)

    def for_grad(self, ex: dict, wrt: str, grad: np.ndarray, cot: Any, dtype: str) -> np.ndarray:
        if self.grad_scale is None:
            g = np.abs(grad)
            scale = g + _max(g)  # normwise: errors of shared normalisers spread
        else:
            scale = self.grad_scale(ex, wrt, grad, cot)
        return self.atol(dtype) + self.rtol(ex, dtype) * np.nan_to_num(np.asarray(scale), nan=0.0, posinf=np.inf)


def _max(g: np.ndarray) -> float:
    """Largest value ignoring NaN (undefined exact gradients); 0 for none."""
    return float(np.max(np.where(np.isnan(g), 0.0, g), initial=0.0))


def _arrays(ex: dict):
    for v in ex.values():
        if isinstance(v, (list, tuple)):
            yield from (np.asarray(x) for x in v)
        elif isinstance(v, np.ndarray):
            yield v


def _sig(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -x))


ELEMENTWISE = Tolerance(terms=lambda ex: 1)


def _elementwise_grad(fn: Callable[[dict], np.ndarray]) -> Callable[[dict, str, Any, Any], Any]:
    return lambda ex, wrt, grad, cot: np.abs(cot) * fn(ex) + np.abs(grad)


def _axis_terms(key: str) -> Callable[[dict], int]:
    return lambda ex: np.shape(ex[key])[ex.get("axis", -1)] + 1


# --- family nn -------------------------------------------------------------------------------------------------

def _sce_value(ex, e):
    x, z = ex["logits"], ex["labels"]
    return np.maximum(x, 0) + np.abs(x * z) + np.log1p(np.exp(-np.abs(x)))


def _wce_value(ex, e):
    x, z, q = ex["logits"], ex["labels"], ex["pos_weight"]
    return np.abs((1 - z) * x) + np.abs(1 + (q - 1) * z) * (np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0))


def _onehot_labels(ex: dict) -> np.ndarray:
    y = ex["labels"]
    if np.issubdtype(np.asarray(y).dtype, np.integer):
        return np.eye(np.shape(ex["logits"])[-1])[y]
    return y


def _softmax_ce_value(ex, e):
    # logsumexp(x) - x_k: log(sum) carries an absolute error ~u (sum >= 1), x_i - max one of ~u |x_i - max|.
    x, y, ax = ex["logits"], _onehot_labels(ex), ex.get("axis", -1)
    shifted = x - x.max(axis=ax, keepdims=True)
    lse = np.log(np.exp(shifted).sum(axis=ax, keepdims=True))
    return np.sum(np.abs(y) * (np.abs(shifted) + lse + 1), axis=ax) + np.abs(e)


def _softmax_value(ex, e):
    # exp(x_i - max): the rounding of x_i - max becomes a relative error u |x_i - max| after exp.
    x, ax = ex["logits"], ex.get("axis", -1)
    return np.abs(e) * (1 + np.abs(x - x.max(axis=ax, keepdims=True)))


def _softmax_ce_grad(ex, wrt, grad, cot):
    x, y, ax = ex["logits"], _onehot_labels(ex), ex.get("axis", -1)
    s = np.exp(x - x.max(axis=ax, keepdims=True))
    s = s / s.sum(axis=ax, keepdims=True)
    c = np.expand_dims(np.abs(cot), ax)
    return c * (s * np.sum(np.abs(y), axis=ax, keepdims=True) + np.abs(y)) + np.abs(grad)


def _bce_value(ex, e):
    return np.abs(e) + 2.0


def _bce_grad(ex, wrt, grad, cot):
    p, t = np.clip(ex["output"], 1e-7, 1 - 1e-7), ex["target"]
    return np.abs(cot) * (np.abs(t) / p + np.abs(1 - t) / (1 - p)) + np.abs(grad)


def _entropy_grad(ex, wrt, grad, cot):
    ax = ex.get("axis", -1)
    p = np.maximum(ex["p"], 1e-300)
    c = np.expand_dims(np.abs(cot), ax)
    if wrt == "q":
        return c * ex["p"] / np.maximum(ex["q"], 1e-300) + np.abs(grad)
    extra = np.abs(np.log(np.maximum(ex["q"], 1e-300))) if "q" in ex else 0.0
    return c * (np.abs(np.log(p)) + 1 + extra) + np.abs(grad)


def _entropy_value(ex, e):
    ax = ex.get("axis", -1)
    p = ex["p"]
    logs = np.abs(np.log(np.where(p > 0, p, 1.0)))
    if "q" in ex:
        logs = logs + np.abs(np.log(np.maximum(ex["q"], 1e-300)))
    return np.sum(np.abs(p) * (logs + 1), axis=ax) + np.abs(e)


def _sigmoid_grad(ex, wrt, grad, cot):
    return np.abs(cot) * _sig(ex["x"]) + np.abs(grad)


def _softmax_grad(ex, wrt, grad, cot):
    x, ax = ex["logits"], ex.get("axis", -1)
    s = np.exp(x - x.max(axis=ax, keepdims=True))
    s = s / s.sum(axis=ax, keepdims=True)
    return s * (np.abs(cot) + np.sum(np.abs(cot) * s, axis=ax, keepdims=True)) + np.abs(grad)


NN = {
    "sigmoid": Tolerance(terms=lambda ex: 1, grad_scale=_sigmoid_grad),
    "softmax": Tolerance(terms=_axis_terms("logits"), value_scale=_softmax_value, grad_scale=_softmax_grad),
    "sigmoid_cross_entropy_with_logits": Tolerance(
        terms=lambda ex: 1, value_scale=_sce_value,
        grad_scale=_elementwise_grad(lambda ex: _sig(ex["logits"]) + np.abs(ex["labels"]))),
    "weighted_cross_entropy_with_logits": Tolerance(
        terms=lambda ex: 1, value_scale=_wce_value,
        grad_scale=_elementwise_grad(lambda ex: np.abs(1 - ex["labels"])
                                     + np.abs(1 + (ex["pos_weight"] - 1) * ex["labels"]))),
    "softmax_cross_entropy_with_logits": Tolerance(
        terms=_axis_terms("logits"), value_scale=_softmax_ce_value, grad_scale=_softmax_ce_grad),
    "sparse_softmax_cross_entropy_with_logits": Tolerance(
        terms=_axis_terms("logits"), value_scale=_softmax_ce_value, grad_scale=_softmax_ce_grad),
    "binary_crossentropy": Tolerance(terms=lambda ex: 1, value_scale=_bce_value, grad_scale=_bce_grad),
    "categorical_crossentropy": Tolerance(
        terms=lambda ex: 2 * np.shape(ex["output"])[ex.get("axis", -1)] + 2,
        value_scale=lambda ex, e: np.sum(np.abs(ex["target"]), axis=ex.get("axis", -1)) * 17.0 + np.abs(e)),
    "entropy": Tolerance(terms=_axis_terms("p"), value_scale=_entropy_value, grad_scale=_entropy_grad),
    "kl_divergence": Tolerance(terms=_axis_terms("p"), value_scale=_entropy_value, grad_scale=_entropy_grad),
    "smooth_l1": Tolerance(terms=lambda ex: 1, grad_scale=lambda ex, wrt, g, c: np.abs(g)),
}


# --- family yolov3 ---------------------------------------------------------------------------------------------

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


def _iou_value(ex, e):
    terms, _ = box_scale(ex["boxes1"], ex["boxes2"])
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = oracle.evaluate("bbox_iou", boxes1=ex["boxes1"], boxes2=ex["boxes2"])
        b1, b2 = np.broadcast_arrays(ex["boxes1"], ex["boxes2"])
        inter = np.prod(np.maximum(np.minimum(b1[..., :2] + np.abs(b1[..., 2:]) / 2, b2[..., :2] + np.abs(b2[..., 2:])
                                              / 2) - np.maximum(b1[..., :2] - np.abs(b1[..., 2:]) / 2,
                                                                b2[..., :2] - np.abs(b2[..., 2:]) / 2), 0), -1)
        union = np.abs(b1[..., 2] * b1[..., 3]) + np.abs(b2[..., 2] * b2[..., 3]) - inter
        raw_union = b1[..., 2] * b1[..., 3] + b2[..., 2] * b2[..., 3] - inter
        enclose = np.prod(np.maximum(b1[..., :2], b2[..., :2]) - np.minimum(b1[..., :2], b2[..., :2])
                          + (np.abs(b1[..., 2:]) + np.abs(b2[..., 2:])) / 2, -1)
        denom = np.minimum.reduce([np.abs(union), np.abs(raw_union), np.abs(enclose)])
        return np.abs(e) + terms * (1 + np.abs(np.nan_to_num(iou))) * 2 / denom


def _box_grad(ex, wrt, grad, cot):
    with np.errstate(divide="ignore", invalid="ignore"):
        val = oracle.evaluate("bbox_iou", boxes1=ex["boxes1"], boxes2=ex["boxes2"])
        kappa = np.nanmax(np.where(np.isfinite(val), _iou_value(ex, np.zeros_like(val)), 0.0)) if val.size else 1.0
    g = np.abs(grad)
    return (g + _max(g)) * (1.0 + min(kappa, 1e30))


BOX = Tolerance(chain=16, terms=lambda ex: 4, value_scale=_iou_value, grad_scale=_box_grad)


def _decode_grad(ex, wrt, grad, cot):
    return np.abs(grad) * 2 + np.abs(np.reshape(cot, np.shape(grad))) * float(ex["stride"])


def _yolo_terms(ex: dict) -> int:
    convs = ex["convs"] if "convs" in ex else [ex["conv"]]
    bbs = ex["bboxes"] if "convs" in ex else [ex["bboxes"]]
    return sum(np.size(c) + np.size(b) for c, b in zip(convs, bbs, strict=True))


def _layer_scale(conv, label, bboxes, anchors, stride, num_class) -> tuple[np.ndarray, float]:
    """Sums of absolute terms of the three loss_layer outputs, and the worst GIoU conditioning."""
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
    g = np.sum(r * bscale * (1 + np.abs(giou[..., None]) + kappa[..., None]), axis=(1, 2, 3, 4))
    sce = lambda z, x: np.maximum(x, 0) + np.abs(x * z) + np.log1p(np.exp(-np.abs(x)))  # noqa: E731
    conf_p = _sig(raw[..., 4:5])
    c = np.sum((np.abs(r) + conf_p) ** 2 * sce(r, raw[..., 4:5]), axis=(1, 2, 3, 4))
    p = np.sum(r * sce(label[..., 5:], raw[..., 5:]), axis=(1, 2, 3, 4))
    return np.array([g.mean(), c.mean(), p.mean()]), float(np.max(kappa, initial=0.0))


def _loss_layer_value(ex, e):
    return _layer_scale(ex["conv"], ex["label"], ex["bboxes"], ex["anchors"], ex["stride"], ex["num_class"])[0]


def _compute_loss_value(ex, e):
    return sum(_layer_scale(c, lab, bb, an, st, ex["num_class"])[0]
               for c, lab, bb, an, st in zip(ex["convs"], ex["labels"], ex["bboxes"], ex["anchors"], ex["strides"],
                                             strict=True))


def _yolo_grad(ex, wrt, grad, cot):
    if "convs" in ex:
        kappa = max(_layer_scale(c, lab, bb, an, st, ex["num_class"])[1]
                    for c, lab, bb, an, st in zip(ex["convs"], ex["labels"], ex["bboxes"], ex["anchors"],
                                                  ex["strides"], strict=True))
    else:
        kappa = _layer_scale(ex["conv"], ex["label"], ex["bboxes"], ex["anchors"], ex["stride"], ex["num_class"])[1]
    g = np.abs(grad)
    return (g + _max(g)) * (2.0 + kappa)


YOLO = {
    "decode": Tolerance(terms=lambda ex: 2, grad_scale=_decode_grad),
    "bbox_iou": BOX, "bbox_giou": BOX, "iou_loss": BOX, "giou_loss": BOX,
    "focal": Tolerance(terms=lambda ex: 1,
                       value_scale=lambda ex, e: float(abs(ex.get("alpha", 1))) * (np.abs(ex["target"])
                                                                                 + np.abs(ex["actual"])) ** ex.get(
                                                                                     "gamma", 2) + np.abs(e),
                       grad_scale=lambda ex, wrt, g, c: np.abs(c) * float(abs(ex.get("alpha", 1)))
                       * float(ex.get("gamma", 2)) * (np.abs(ex["target"]) + np.abs(ex["actual"]))
                       ** max(float(ex.get("gamma", 2)) - 1, 0) + np.abs(g)),
    "loss_layer": Tolerance(chain=24, terms=_yolo_terms, value_scale=_loss_layer_value, grad_scale=_yolo_grad),
    "compute_loss": Tolerance(chain=24, terms=_yolo_terms, value_scale=_compute_loss_value, grad_scale=_yolo_grad),
}


# --- families frcnn and centernet ------------------------------------------------------------------------------

def _frcnn_cls_value(ex, e):
    return np.abs(e) + 17.0


def _reg_l1_value(ex, e):
    return _reg_terms(ex, "y_pred", "y_true", "indices", "mask") + np.abs(e)


def _reg_terms(ex, pred, true, idx, mask):
    b = np.shape(ex[pred])[0]
    flat = np.reshape(ex[pred], (b, -1, 2))
    g = np.take_along_axis(flat, np.asarray(ex[idx])[..., None], axis=1)
    m = np.asarray(ex[mask])[..., None]
    return np.sum(np.abs(ex[true] * m) + np.abs(g * m)) / (np.sum(m) * 2 + 1e-4)


def _centernet_loss_value(ex, e):
    return (np.abs(e) + 17.0 + 0.1 * _reg_terms(ex, "wh_pred", "wh_true", "indices", "reg_mask")
            + _reg_terms(ex, "reg_pred", "reg_true", "indices", "reg_mask"))


OTHER = {
    "rpn_loss_regr": Tolerance(),
    "rpn_loss_cls": Tolerance(value_scale=_frcnn_cls_value),
    "class_loss_regr": Tolerance(),
    "class_loss_cls": Tolerance(value_scale=_frcnn_cls_value),
    "focal_loss": Tolerance(value_scale=lambda ex, e: np.abs(e) + 14.0),
    "reg_l1_loss": Tolerance(value_scale=_reg_l1_value),
    "loss": Tolerance(value_scale=_centernet_loss_value),
}

TOLERANCES: dict[str, Tolerance] = {**NN, **YOLO, **OTHER}


def box_near_kinks(ex: dict, wrt: str, dtype: str) -> np.ndarray:
    """Box coordinates within rounding distance of a kink of the IoU/GIoU formulas.

    The formulas compare corners (x -/+ w/2 of both boxes, and min/max of a box's own
    corners in GIoU).  When two compared corners differ by less than the rounding of the
    corners themselves (~u (|x| + |w|)), the dtype under test may see a tie or the other
    order, and TensorFlow's min/max then routes the gradient through the other branch:
    any one-sided derivative is acceptable there, as on an exact kink.  Marks every
    coordinate of that axis of both boxes.
    """
    return _unbroadcast_any(_near_tie_marks(ex["boxes1"], ex["boxes2"], dtype), np.shape(ex[wrt]))


def _near_tie_marks(boxes1: Any, boxes2: Any, dtype: str) -> np.ndarray:
    """(x, y, w, h) marks, broadcast shape: the axes on which two compared corners are within rounding distance."""
    u = info(dtype).unit_roundoff
    b1, b2 = np.broadcast_arrays(np.asarray(boxes1, float), np.asarray(boxes2, float))
    near = np.zeros(b1.shape[:-1], dtype=bool)
    marks = np.zeros(b1.shape, dtype=bool)
    for axis in (0, 1):
        c1, w1, c2, w2 = b1[..., axis], b1[..., axis + 2], b2[..., axis], b2[..., axis + 2]
        corners = [c1 - w1 / 2, c1 + w1 / 2, c2 - w2 / 2, c2 + w2 / 2]
        delta = 64 * u * (np.maximum(np.abs(c1), np.abs(c2)) + np.maximum(np.abs(w1), np.abs(w2)))
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
        marks = _near_tie_marks(pred[..., :4], label[..., :4], dtype)  # (B, S, S, A, 4)
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


# --- the dtype's range: which examples the value and gradient tiers judge -------------------------------------

def in_range(name: str, ex: dict, dtype: str) -> bool:
    """Whether ``ex``, rounded to ``dtype``, keeps its inputs and the spec formula's named intermediates in range.

    Out of range: a float input that rounds to ±inf; (boxes, ``decode``, the YOLOv3 losses)
    a corner x ∓ w/2, area w·h, union, intersection or enclosing area, or a decoded extent
    e^{raw}·anchor·stride, above the dtype's largest finite value or non-zero below its smallest
    normal; or a loss's sum before normalising (Σ m·smooth_l1 and Σ v·BCE of Faster R-CNN, the
    CenterNet sums, the YOLOv3 per-image sums) above the largest finite value.  Such an example is
    outside what the dtype can represent (in practice: float16): the value and gradient tiers
    discard it and the stability tier reports inf/NaN on it as hazard DTYPE-RANGE
    (docs/tolerances.md, "float16").
    """
    d = info(dtype)
    for arr in _float_arrays(ex):
        if np.any(np.abs(_rounded(dtype, arr)) > d.max):
            return False
    if d.max < 1e10 and not _sums_in_range(name, ex, dtype, d):
        return False  # sums of the strategies' magnitudes (< 1e6 terms below 1e8) cannot reach the wider maxima
    if name in ("bbox_iou", "bbox_giou", "iou_loss", "giou_loss"):
        return _boxes_in_range(_rounded(dtype, ex["boxes1"]), _rounded(dtype, ex["boxes2"]), d)
    if name == "decode":
        return _extents_in_range(ex["conv_output"], ex["anchors"], ex["stride"], ex["num_class"], dtype, d)
    if name in ("loss_layer", "compute_loss"):
        scales = ([(ex["conv"], ex["label"], ex["bboxes"], ex["anchors"], ex["stride"])] if name == "loss_layer" else
                  zip(ex["convs"], ex["labels"], ex["bboxes"], ex["anchors"], ex["strides"], strict=True))
        for conv, label, bboxes, anchors, stride in scales:
            if not _extents_in_range(conv, anchors, stride, ex["num_class"], dtype, d):
                return False
            pred = _rounded(dtype, oracle.decode(_rounded(dtype, conv), anchors, stride, ex["num_class"]))[..., :4]
            label, bboxes = _rounded(dtype, label)[..., :4], _rounded(dtype, bboxes)
            if not (_boxes_in_range(pred, label, d)
                    and _boxes_in_range(pred[..., None, :], bboxes[:, None, None, None, :, :], d)):
                return False
    return True


def _float_arrays(ex: dict):
    for v in _arrays(ex):
        if np.issubdtype(v.dtype, np.floating):
            yield v


def _rounded(dtype: str, x: Any) -> np.ndarray:
    """``x`` as the implementation sees it: rounded to ``dtype``, subnormals flushed (as ``tfrun.prepare``)."""
    r = round_to(dtype, np.asarray(x, dtype=np.float64))
    return np.where(np.abs(r) < info(dtype).tiny, 0.0, r)


def _outside(values: list[np.ndarray], d: Any) -> bool:
    with np.errstate(over="ignore", invalid="ignore"):
        for v in values:
            a = np.abs(v)
            if np.any(a > d.max) or np.any((a > 0) & (a < d.tiny)):
                return True
    return False


def _boxes_in_range(b1: np.ndarray, b2: np.ndarray, d: Any) -> bool:
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
    return not _outside([*corners, a1, a2, enclose, inter, union, np.abs(a1) + np.abs(a2)], d)


def _extents_in_range(conv: Any, anchors: Any, stride: Any, num_class: int, dtype: str, d: Any) -> bool:
    a = np.shape(anchors)[0]
    raw = _rounded(dtype, conv).reshape(*np.shape(conv)[:3], a, 5 + int(num_class))[..., 2:4]
    with np.errstate(over="ignore"):
        e = np.exp(raw)
        return not _outside([e, e * np.asarray(anchors, dtype=np.float64) * float(stride)], d)


def _sums_in_range(name: str, ex: dict, dtype: str, d: Any) -> bool:
    """The loss's sum before normalising, from the exact loss on the rounded example: L times its normaliser."""
    from conformance.contracts import REGISTRY

    if name not in _NORMALISERS:
        return True
    contract = REGISTRY[name]
    r = {k: ([_rounded(dtype, x) for x in v] if isinstance(v, list) else _rounded(dtype, v))
         if k in contract.float_args else v for k, v in ex.items()}
    with np.errstate(all="ignore"):
        extra = {"constants_dtype": dtype} if contract.constants_dtype else {}
        out = contract.expected(r, **extra)
        value = np.abs(np.concatenate([np.ravel(x) for x in (out if isinstance(out, tuple) else (out,))]))
        sums = value * _NORMALISERS[name](r)
    return not np.any(np.isfinite(sums) & (sums > d.max))  # an infinite exact value is the clip constants' (FP16-CLIP)


def _frcnn_den(ex: dict) -> float:
    y = ex["y_true"]
    m = y[..., : y.shape[-1] // 2]  # the mask half: 4A of 8A, A of 2A, 4C of 8C channels
    return float(np.sum(m) + 1e-4 * m.size)


def _centernet_den(ex: dict) -> float:
    """focal_loss: num_pos; reg_l1_loss: 2 ΣM + ε; loss: each part is at most L (at most 10 L for the 0.1-weighted
    wh part), so the largest of num_pos and 10 (2 ΣM + ε)."""
    dens = [1.0]
    if "hm_true" in ex:
        dens.append(float(np.sum(ex["hm_true"] == 1)))
    if "mask" in ex:
        dens.append(2 * float(np.sum(ex["mask"])) + 1e-4)
    if "reg_mask" in ex:
        dens.append(10 * (2 * float(np.sum(ex["reg_mask"])) + 1e-4))
    return max(dens)


_NORMALISERS: dict[str, Callable[[dict], float]] = {
    "rpn_loss_regr": _frcnn_den, "rpn_loss_cls": _frcnn_den, "class_loss_regr": _frcnn_den,
    "class_loss_cls": lambda ex: float(np.shape(ex["y_true"])[1]),
    "focal_loss": _centernet_den, "reg_l1_loss": _centernet_den, "loss": _centernet_den,
    # per-image sums are non-negative: each is at most the batch size times the batch mean
    "loss_layer": lambda ex: float(np.shape(ex["conv"])[0]),
    "compute_loss": lambda ex: float(np.shape(ex["convs"][0])[0]),
}
