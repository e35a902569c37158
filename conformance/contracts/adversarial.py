"""Adversarial strategies for the stability tier, keyed by contract name.

``ADVERSARIAL[name](dtype)`` draws an example shaped like the name's ordinary
strategy (``conformance.strategies.<family>``) whose floating arguments are
replaced by values biased to the extremes the stability tier is about: logits of
±20, ±100, ±1e4; probabilities exactly 0 and 1 and within 1e-9 of them; all-zero
masks; heatmaps with no positive; degenerate boxes (zero width or height,
identical, inverted, coordinates around 1e6); ``decode`` raw outputs whose
exponential under- or overflows the dtype under test.  ``FIXED[name](dtype)``
lists a few hand-written cases run before the drawn ones.

Adding a loss needs one entry in :data:`ADVERSARIAL` (and optionally :data:`FIXED`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import strategies as st

from conformance.contracts import centernet as s_cn
from conformance.contracts import frcnn as s_fr
from conformance.contracts import nn as s_nn
from conformance.contracts import yolov3 as s_yo
from conformance.contracts.draw import arrays, reals

LOGITS = (0.0, 1.0, -1.0, 20.0, -20.0, 100.0, -100.0, 1e4, -1e4)
PROBS = (0.0, 1.0, 1e-9, 1 - 1e-9, 1e-7, 1 - 1e-7, 0.5)
BIG = (0.0, 1.0, -1.0, 1e4, -1e4, 0.5)

Fill = Callable[[st.DrawFn, np.ndarray, str], np.ndarray]


def exp_limit(dtype: str) -> float:
    """A raw value whose exponential overflows ``dtype`` (and whose negative underflows it)."""
    return {"float16": 12.0, "bfloat16": 100.0, "float32": 100.0, "float64": 750.0}[dtype]


def big_coordinate(dtype: str) -> float:
    """Box coordinates "around 1e6", scaled down where the dtype cannot hold 1e6 (float16)."""
    return 1e3 if dtype == "float16" else 1e6


def _elements(specials: tuple[float, ...], lo: float, hi: float) -> st.SearchStrategy[float]:
    # Specials drawn about half of the time, ordinary values otherwise.
    return st.one_of(st.sampled_from(specials), reals(lo, hi))


def logit_fill(draw: st.DrawFn, old: np.ndarray, dtype: str) -> np.ndarray:
    return draw(arrays(np.shape(old), _elements(LOGITS, -1e4, 1e4)))


def prob_fill(draw: st.DrawFn, old: np.ndarray, dtype: str) -> np.ndarray:
    return draw(arrays(np.shape(old), _elements(PROBS, 0.0, 1.0)))


def positive_rows_fill(draw: st.DrawFn, old: np.ndarray, dtype: str) -> np.ndarray:
    """Probabilities with exact 0 and 1 entries; every row along the last axis keeps a positive sum."""
    p = draw(arrays(np.shape(old), _elements((0.0, 0.0, 1.0, 1e-9, 0.5), 0.0, 1.0)))
    empty = p.sum(axis=-1, keepdims=True) <= 1e-3
    first = np.zeros_like(p)
    first[..., 0] = 1.0
    return np.where(empty, np.maximum(p, first), p)


def big_fill(draw: st.DrawFn, old: np.ndarray, dtype: str) -> np.ndarray:
    return draw(arrays(np.shape(old), _elements(BIG, -1e4, 1e4)))


def raw_exp_fill(draw: st.DrawFn, old: np.ndarray, dtype: str) -> np.ndarray:
    lim = exp_limit(dtype)
    return draw(arrays(np.shape(old), _elements((0.0, lim, -lim, lim / 2, -lim / 2, 1.0), -lim, lim)))


def zero_mask_fill(draw: st.DrawFn, old: np.ndarray, dtype: str) -> np.ndarray:
    """All-zero masks half of the time, the ordinary mask otherwise."""
    return np.zeros_like(old) if draw(st.booleans()) else old


def heatmap_fill(draw: st.DrawFn, old: np.ndarray, dtype: str) -> np.ndarray:
    """Heatmaps with no positive (every value below 1, exact zeros common), or with exact 1.0 peaks."""
    hm = draw(arrays(np.shape(old), _elements((0.0, 0.0, 1e-9, 1 - 1e-9, 0.5), 0.0, 0.999)))
    return np.where(old == 1.0, 1.0, hm) if draw(st.booleans()) else hm


def _frcnn_regr_fill(draw: st.DrawFn, old: np.ndarray, dtype: str) -> np.ndarray:
    half = old.shape[-1] // 2
    m = zero_mask_fill(draw, old[..., :half], dtype)
    return np.concatenate([m, big_fill(draw, old[..., half:], dtype)], -1)


def _frcnn_cls_fill(draw: st.DrawFn, old: np.ndarray, dtype: str) -> np.ndarray:
    half = old.shape[-1] // 2
    return np.concatenate([zero_mask_fill(draw, old[..., :half], dtype), old[..., half:]], -1)


def _overriding(base: Callable[[], st.SearchStrategy[dict]], fills: dict[str, Fill]
                ) -> Callable[[str], st.SearchStrategy[dict]]:
    """The ordinary strategy ``base`` with each argument in ``fills`` redrawn adversarially."""

    def make(dtype: str) -> st.SearchStrategy[dict]:
        @st.composite
        def strategy(draw: st.DrawFn) -> dict:
            ex = draw(base())
            for k, fill in fills.items():
                ex[k] = [fill(draw, x, dtype) for x in ex[k]] if isinstance(ex[k], list) else fill(draw, ex[k], dtype)
            return ex

        return strategy()

    return make


def degenerate_boxes(dtype: str) -> st.SearchStrategy[dict]:
    """Box pairs with zero, identical, inverted and huge extents, and centres around 1e6."""
    big = big_coordinate(dtype)
    centre = _elements((0.0, 1.0, big, -big, big + 0.5), -big, big)
    extent = _elements((0.0, 0.0, 1.0, -1.0, 2.0, big), -big, big)

    @st.composite
    def strategy(draw: st.DrawFn) -> dict:
        lead = draw(st.sampled_from(((1,), (3,), (2, 3))))

        def one() -> np.ndarray:
            return np.concatenate([draw(arrays((*lead, 2), centre)), draw(arrays((*lead, 2), extent))], -1)

        b1 = one()
        kind = draw(st.sampled_from(("identical", "zero", "inverted", "random")))
        if kind == "identical":
            b2 = b1.copy()
        elif kind == "zero":  # same centres, zero width or height
            b2 = b1.copy()
            b2[..., draw(st.sampled_from((2, 3)))] = 0.0
        elif kind == "inverted":
            b2 = b1 * np.array([1.0, 1.0, -1.0, -1.0])
        else:
            b2 = one()
        return {"boxes1": b1, "boxes2": b2}

    return strategy()


ADVERSARIAL: dict[str, Callable[[str], st.SearchStrategy[dict]]] = {
    # nn
    "sigmoid": _overriding(s_nn.sigmoid, {"x": logit_fill}),
    "softmax": _overriding(s_nn.softmax, {"logits": logit_fill}),
    "sigmoid_cross_entropy_with_logits": _overriding(s_nn.sigmoid_cross_entropy_with_logits,
                                                     {"logits": logit_fill, "labels": prob_fill}),
    "weighted_cross_entropy_with_logits": _overriding(s_nn.weighted_cross_entropy_with_logits,
                                                      {"logits": logit_fill, "labels": prob_fill}),
    "softmax_cross_entropy_with_logits": _overriding(s_nn.softmax_cross_entropy_with_logits, {"logits": logit_fill}),
    "sparse_softmax_cross_entropy_with_logits": _overriding(s_nn.sparse_softmax_cross_entropy_with_logits,
                                                            {"logits": logit_fill}),
    "binary_crossentropy": _overriding(s_nn.binary_crossentropy, {"target": prob_fill, "output": prob_fill}),
    "categorical_crossentropy": _overriding(s_nn.categorical_crossentropy, {"output": positive_rows_fill}),
    "entropy": _overriding(s_nn.entropy, {"p": prob_fill}),
    "kl_divergence": _overriding(s_nn.kl_divergence, {"p": prob_fill}),
    "smooth_l1": _overriding(s_nn.smooth_l1, {"x": big_fill}),
    # frcnn
    "rpn_loss_regr": _overriding(s_fr.rpn_loss_regr, {"y_true": _frcnn_regr_fill, "y_pred": big_fill}),
    "rpn_loss_cls": _overriding(s_fr.rpn_loss_cls, {"y_true": _frcnn_cls_fill, "y_pred": prob_fill}),
    "class_loss_regr": _overriding(s_fr.class_loss_regr, {"y_true": _frcnn_regr_fill, "y_pred": big_fill}),
    "class_loss_cls": _overriding(s_fr.class_loss_cls, {"y_pred": positive_rows_fill}),
    # yolov3
    "decode": _overriding(s_yo.decode, {"conv_output": raw_exp_fill}),
    "bbox_iou": degenerate_boxes,
    "bbox_giou": degenerate_boxes,
    "iou_loss": degenerate_boxes,
    "giou_loss": degenerate_boxes,
    "focal": _overriding(s_yo.focal, {"actual": prob_fill}),
    "loss_layer": _overriding(s_yo.loss_layer, {"conv": raw_exp_fill}),
    "compute_loss": _overriding(s_yo.compute_loss, {"convs": raw_exp_fill}),
    # centernet
    "focal_loss": _overriding(s_cn.focal_loss, {"hm_pred": prob_fill, "hm_true": heatmap_fill}),
    "reg_l1_loss": _overriding(s_cn.reg_l1_loss, {"mask": zero_mask_fill, "y_pred": big_fill, "y_true": big_fill}),
    "loss": _overriding(s_cn.loss, {"hm_pred": prob_fill, "hm_true": heatmap_fill, "reg_mask": zero_mask_fill}),
}


def _row(values: tuple[float, ...]) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def _fixed_logits(key: str, labels_key: str | None = None) -> Callable[[str], list[dict]]:
    def cases(dtype: str) -> list[dict]:
        x = _row(LOGITS)
        ex = {key: x}
        if labels_key:
            ex[labels_key] = np.tile([0.0, 1.0, 1.0], 3)
        return [ex]

    return cases


def _fixed_boxes(dtype: str) -> list[dict]:
    big = big_coordinate(dtype)
    b1 = np.array([[0, 0, 0, 0], [1, 1, 0, 2], [big, big, 1, 1], [5, 5, -2, -2]], dtype=np.float64)
    return [{"boxes1": b1, "boxes2": b1.copy()}]


def _fixed_decode(dtype: str) -> list[dict]:
    lim = exp_limit(dtype)
    conv = np.zeros((1, 1, 1, 6))
    conv[..., 2], conv[..., 3] = lim, -lim
    return [{"conv_output": conv, "anchors": np.ones((1, 2)), "stride": 8, "num_class": 1}]


def _fixed_reg_l1(dtype: str) -> list[dict]:
    return [{"y_pred": np.full((1, 2, 2, 2), 3.0), "y_true": np.ones((1, 3, 2)), "indices": np.array([[0, 1, 3]]),
             "mask": np.zeros((1, 3))}]


def _fixed_focal_loss(dtype: str) -> list[dict]:
    return [{"hm_pred": np.array([0.0, 1.0, 1e-9, 0.5]).reshape(1, 2, 2, 1), "hm_true": np.zeros((1, 2, 2, 1))}]


FIXED: dict[str, Callable[[str], list[dict]]] = {
    "sigmoid": _fixed_logits("x"),
    "sigmoid_cross_entropy_with_logits": _fixed_logits("logits", "labels"),
    "bbox_iou": _fixed_boxes,
    "bbox_giou": _fixed_boxes,
    "iou_loss": _fixed_boxes,
    "giou_loss": _fixed_boxes,
    "decode": _fixed_decode,
    "reg_l1_loss": _fixed_reg_l1,
    "focal_loss": _fixed_focal_loss,
}
