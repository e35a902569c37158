"""The catalogue of common mistakes (see :mod:`conformance.mistakes`): wrong constants, reductions, swapped
arguments, missing clamps and guards, stop-gradients, σ applied twice, swapped grid axes, a missing stride.

Wrong constants evaluate the oracle itself with one module constant replaced for the duration of the call
(:func:`replaced`), so the mistaken loss differs from the contract's in that constant only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import numpy as np

import oracle
import oracle.centernet as _centernet_oracle
import oracle.crossentropy as _ce_oracle
import oracle.diou as _diou_oracle
import oracle.frcnn as _frcnn_oracle
from conformance.mistakes import Args, Constant, Mistake
from conformance.mistakes import boxes as _boxes
from conformance.mistakes import heatmap as _heatmap


@contextmanager
def replaced(module: ModuleType, attr: str, value: float) -> Iterator[None]:
    """``module.attr`` set to ``value`` inside the block (the oracle reads its constants at call time)."""
    old = getattr(module, attr)
    setattr(module, attr, value)
    try:
        yield
    finally:
        setattr(module, attr, old)


def _constant(id: str, explain: str, names: tuple[str, ...], module: ModuleType, attr: str, symbol: str,
              lo: float, hi: float, log: bool = True, kind: str = "constant") -> Mistake:
    """A wrong constant ``module.attr`` of the oracle, fitted in [lo, hi]."""

    def value(name: str, args: Args, c: float, kw: dict) -> Any:
        with replaced(module, attr, c):
            return oracle.evaluate(name, **args, **kw)

    def vjp(name: str, cot: Any, wrt: str, args: Args, c: float, kw: dict) -> Any:
        with replaced(module, attr, c):
            return oracle.vjp(name, cot, wrt, **args, **kw)

    return Mistake(id, explain, names, kind, value, vjp, Constant(symbol, getattr(module, attr), lo, hi, log))


def _swapped(a: str, b: str) -> Callable[..., Any]:
    def value(name: str, args: Args, c: Any, kw: dict) -> Any:
        return oracle.evaluate(name, **{**args, a: args[b], b: args[a]}, **kw)
    return value


def _batch_scaled(name: str, args: Args, c: Any, kw: dict) -> Any:
    """The contract's batch mean times B: a sum over the batch."""
    out = oracle.evaluate(name, **args, **kw)
    b = np.shape(args["conv"])[0]
    return tuple(np.asarray(o) * b for o in out) if isinstance(out, tuple) else np.asarray(out) * b


def _per_image_mean(name: str, args: Args, c: Any, kw: dict) -> Any:
    """The mean over images of each image's own loss (one normaliser per image instead of one for the batch)."""
    b = np.shape(args["y_pred"])[0]
    sums = {float(np.sum(np.asarray(args["y_true"])[i, ..., :np.shape(args["y_pred"])[-1]])) for i in range(b)}
    if len(sums) < 2 or 0.0 in sums:  # equal or empty normalisers: no different from an ε mistake
        raise ValueError("no two images with different normalisers")
    return np.asarray(np.mean([oracle.evaluate(name, **{**args, "y_true": np.asarray(args["y_true"])[i:i + 1],
                                                         "y_pred": np.asarray(args["y_pred"])[i:i + 1]}, **kw)
                               for i in range(b)]))


def _weights_swapped(name: str, args: Args, c: Any, kw: dict) -> Any:
    """CenterNet total with the 0.1 weight on the offset term instead of the size term."""
    hm_pred, wh_pred, reg_pred, hm_true, wh_true, reg_true, mask, idx = args["args"]
    focal = oracle.evaluate("focal_loss", hm_pred=hm_pred, hm_true=hm_true, **kw)
    wh = oracle.evaluate("reg_l1_loss", y_pred=wh_pred, y_true=wh_true, indices=idx, mask=mask)
    reg = oracle.evaluate("reg_l1_loss", y_pred=reg_pred, y_true=reg_true, indices=idx, mask=mask)
    return np.asarray(focal + wh + _centernet_oracle.WH_WEIGHT * reg)


def _decode_grid_swapped(name: str, args: Args, c: Any, kw: dict) -> Any:
    """decode with x offset by the row index and y by the column index."""
    out = np.array(oracle.evaluate(name, **args, **kw))
    s, n = float(np.asarray(args["stride"])), out.shape[1]
    col, row = np.meshgrid(np.arange(n), np.arange(n))  # col[i, j] = j, row[i, j] = i
    out[..., 0] += (row - col)[None, :, :, None] * s
    out[..., 1] += (col - row)[None, :, :, None] * s
    return out


def _decode_no_stride(name: str, args: Args, c: Any, kw: dict) -> Any:
    """decode with w, h = e^raw · anchor (the anchor in grid cells, not scaled by the stride)."""
    out = np.array(oracle.evaluate(name, **args, **kw))
    out[..., 2:4] /= float(np.asarray(args["stride"]))
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.where(x >= 0, 1.0 / (1.0 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1.0 + np.exp(-np.abs(x))))


def _class_logits_sigmoid(name: str, args: Args, c: Any, kw: dict) -> Any:
    """loss_layer with σ(raw class logits) used as the logits of the class cross-entropy."""
    conv = np.array(args["conv"], dtype=np.float64)
    a, n = np.shape(args["anchors"])[0], int(args["num_class"])
    raw = conv.reshape(conv.shape[:3] + (a, 5 + n))
    raw[..., 5:] = _sigmoid(raw[..., 5:])
    return oracle.evaluate(name, **{**args, "conv": raw.reshape(conv.shape)}, **kw)


def _hm_sigmoid(name: str, args: Args, c: Any, kw: dict) -> Any:
    """focal_loss on σ(hm_pred): the heatmap is already a probability and σ is applied again."""
    return oracle.evaluate(name, **{**args, "hm_pred": _sigmoid(np.asarray(args["hm_pred"], dtype=np.float64))}, **kw)


_FRCNN_LAMBDA = {"rpn_loss_regr": "LAMBDA_RPN_REGR", "rpn_loss_cls": "LAMBDA_RPN_CLASS",
                 "class_loss_regr": "LAMBDA_CLS_REGR", "class_loss_cls": "LAMBDA_CLS_CLASS"}

CATALOGUE: tuple[Mistake, ...] = (
    _constant("EPS", "the normaliser's ε differs", ("reg_l1_loss", "loss"), _centernet_oracle, "EPSILON", "ε",
              1e-12, 1e3, kind="normaliser"),
    _constant("EPS", "the normaliser's ε differs", ("rpn_loss_regr", "rpn_loss_cls", "class_loss_regr"),
              _frcnn_oracle, "EPSILON", "ε", 1e-12, 1e3, kind="normaliser"),
    *(_constant("LAMBDA", "the loss weight λ differs", (n,), _frcnn_oracle, attr, "λ", 1e-6, 1e6)
      for n, attr in _FRCNN_LAMBDA.items()),
    _constant("WH-WEIGHT", "the weight of the size term differs", ("loss",), _centernet_oracle, "WH_WEIGHT",
              "the size weight", 1e-6, 1e6),
    _constant("EPS-C", "the log clip ε_c differs", ("focal_loss", "loss"), _centernet_oracle, "EPSILON_C", "ε_c",
              1e-30, 0.5),
    _constant("EPS-K", "the probability clip ε_k differs", ("binary_crossentropy", "categorical_crossentropy"),
              _ce_oracle, "EPS_K", "ε_k", 1e-30, 0.5),
    _constant("EPS-K", "the probability clip ε_k differs", ("rpn_loss_cls", "class_loss_cls"), _frcnn_oracle,
              "EPSILON_K", "ε_k", 1e-30, 0.5),
    _constant("CIOU-V-FACTOR", "the factor of CIoU's aspect term v = factor·(atan2(w2, h2) − atan2(w1, h1))² differs "
              "from 4/π² (1 where the factor is left out)", ("ciou_loss",), _diou_oracle, "_FOUR_OVER_PI2",
              "the factor of v", 1e-3, 1e3),
    Mistake("FOCAL-ALPHA", "the focal exponent α differs", ("focal_loss",), "constant", _heatmap.focal_alpha,
            constant=Constant("α", 2.0, 0.0, 16.0, log=False)),
    Mistake("FOCAL-BETA", "the focal exponent β differs", ("focal_loss",), "constant", _heatmap.focal_beta,
            constant=Constant("β", 4.0, 0.0, 16.0, log=False)),
    Mistake("FOCAL-ALPHA-BETA-SWAPPED", "α = 4 and β = 2: the two focal exponents swapped", ("focal_loss",),
            "constant", _heatmap.focal_swapped),
    Mistake("FOCAL-NO-POS-GUARD", "divides by num_pos without a guard: 0/0 or x/0 where no pixel is a peak",
            ("focal_loss", "loss"), "guard", _heatmap.no_pos_guard, witness=_heatmap.inner_probabilities),
    Mistake("FOCAL-STOP-GRADIENT-MODULATOR", "(1−p)^α and p^α held constant: the gradient keeps only the log terms",
            ("focal_loss",), "stop-gradient", _heatmap.same_value, _heatmap.modulator_stopped_vjp),
    Mistake("SIGMOID-TWICE", "σ applied to a heatmap that is already a probability", ("focal_loss",),
            "sigmoid-twice", _hm_sigmoid),
    Mistake("SIGMOID-TWICE", "σ(raw class logits) used as the logits of the class cross-entropy", ("loss_layer",),
            "sigmoid-twice", _class_logits_sigmoid),
    Mistake("IOU-NO-CLAMP", "the intersection's width and height are not clamped at 0 (disjoint boxes overlap)",
            ("bbox_iou", "iou_loss"), "clamp", _boxes.iou_no_clamp, witness=_boxes.disjoint_pairs),
    Mistake("IOU-LOSS-STOP-GRADIENT-UNION", "the union is held constant: the gradient misses d(union)",
            ("iou_loss",), "stop-gradient", _boxes.iou_loss_frozen_union, frozen=True),
    Mistake("GIOU-STOP-GRADIENT-ENCLOSURE", "the enclosing box is held constant: the gradient misses d(enclosure)",
            ("bbox_giou", "giou_loss"), "stop-gradient", _boxes.giou_frozen_enclosure, frozen=True),
    Mistake("ARGS-SWAPPED", "p and q swapped", ("kl_divergence",), "swap", _swapped("p", "q")),
    Mistake("ARGS-SWAPPED", "target and output swapped", ("binary_crossentropy", "categorical_crossentropy"), "swap",
            _swapped("target", "output")),
    Mistake("ARGS-SWAPPED", "labels and logits swapped", ("sigmoid_cross_entropy_with_logits",), "swap",
            _swapped("labels", "logits")),
    Mistake("SUM-NOT-BATCH-MEAN", "summed over the batch instead of the batch mean", ("loss_layer",), "reduction",
            _batch_scaled),
    Mistake("PER-IMAGE-MEAN", "one normaliser per image, then the mean over images, instead of one for the batch",
            ("rpn_loss_regr", "class_loss_regr"), "reduction", _per_image_mean),
    Mistake("WEIGHTS-SWAPPED", "the 0.1 weight on the offset term instead of the size term", ("loss",), "weights",
            _weights_swapped),
    Mistake("GRID-XY-SWAPPED", "the grid's x and y swapped: x offset by the row index, y by the column index",
            ("decode",), "grid", _decode_grid_swapped),
    Mistake("WH-NO-STRIDE", "w, h = e^raw · anchor without · stride", ("decode",), "stride", _decode_no_stride),
)
