"""Family ``frcnn``: the Keras Faster R-CNN losses of docs/contracts.md (closures over the anchor or class count)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import strategies as st

from conformance.contracts import tags
from conformance.contracts.adversarial import big_fill, overriding, positive_rows_fill, prob_fill, zero_mask_fill
from conformance.contracts.cce_numerics import class_cls_near_kinks
from conformance.contracts.draw import (
    arrays,
    fixed_mask,
    fixed_normal,
    fixed_probs,
    masks,
    one_hot,
    prob_rows,
    probabilities,
    random_mask,
    random_one_hot,
    reals,
    seeded,
    softmax64,
)
from conformance.contracts.frcnn_entries import ENTRIES as FRCNN_ENTRIES
from conformance.contracts.record import BadCase, Call, Contract, TimingCase
from conformance.numerics.form_bounds import bounds
from conformance.numerics.tolerance import Tolerance

TARGET = reals(-3.0, 3.0, (0.0, 1.0, -1.0, 0.5, 2.5))


@st.composite
def feature_map(draw: st.DrawFn, max_anchors: int = 9) -> tuple[int, int, int, int]:
    """(batch, rows, cols, anchors): batch above 1, non-square maps, 1-9 anchors, kept small."""
    a = draw(st.integers(1, max_anchors))
    side = 4 if a <= 3 else 2
    return draw(st.integers(1, 3)), draw(st.integers(1, side)), draw(st.integers(1, side + 1)), a


@st.composite
def rpn_loss_regr(draw: st.DrawFn) -> dict:
    b, h, w, a = draw(feature_map())
    m = draw(masks((b, h, w, 4 * a)))
    t = draw(arrays((b, h, w, 4 * a), TARGET))  # non-zero where the mask is zero too
    return {"num_anchors": a, "y_true": np.concatenate([m, t], -1), "y_pred": draw(arrays((b, h, w, 4 * a), TARGET))}


@st.composite
def rpn_loss_cls(draw: st.DrawFn) -> dict:
    b, h, w, a = draw(feature_map())
    v = draw(masks((b, h, w, a)))
    z = draw(masks((b, h, w, a)))
    return {"num_anchors": a, "y_true": np.concatenate([v, z], -1), "y_pred": draw(probabilities((b, h, w, a)))}


@st.composite
def class_loss_regr(draw: st.DrawFn) -> dict:
    b, r, c = draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 5))
    m = draw(masks((b, r, 4 * c)))
    t = draw(arrays((b, r, 4 * c), TARGET))
    return {"num_classes": c, "y_true": np.concatenate([m, t], -1), "y_pred": draw(arrays((b, r, 4 * c), TARGET))}


@st.composite
def class_loss_cls(draw: st.DrawFn) -> dict:
    b, r, k = draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(2, 6))
    return {"y_true": draw(one_hot((b, r, k))), "y_pred": draw(prob_rows((b, r, k), positive=True))}


# --- stability fills, pinned examples, bad inputs, timing --------------------------------------------------------

def _frcnn_regr_fill(draw: st.DrawFn, old: np.ndarray, dtype: str) -> np.ndarray:
    half = old.shape[-1] // 2
    m = zero_mask_fill(draw, old[..., :half], dtype)
    return np.concatenate([m, big_fill(draw, old[..., half:], dtype)], -1)


def _frcnn_cls_fill(draw: st.DrawFn, old: np.ndarray, dtype: str) -> np.ndarray:
    half = old.shape[-1] // 2
    return np.concatenate([zero_mask_fill(draw, old[..., :half], dtype), old[..., half:]], -1)


def _den(ex: dict) -> float:
    """Σ(ε + m): the normaliser of the masked losses (the mask half of y_true: 4A of 8A, A of 2A, 4C of 8C)."""
    y = ex["y_true"]
    m = y[..., : y.shape[-1] // 2]
    return float(np.sum(m) + 1e-4 * m.size)


def _cls_conditioning(ex, e):
    """The absolute rounding of the clipped logs' arguments, per unit u: 1 − P + ε (or P + ε, or p / Σp) rounds
    at most twice, and a relative error δ of a log's argument is an absolute error δ of the log; the weights Σv·t
    and Σv·(1 − t) over the normaliser are at most 1 per element.  Every term is non-negative, so each log's own
    rounding, relative to |log|, is part of |e| (docs/tolerances.md, "The bound")."""
    return np.full(np.shape(e), 2.0)


_MAP = (38, 50, 9)  # the documents' VGG-16 feature map for a 600 x 800 image, 9 anchors
_VOC = 20  # PASCAL VOC classes with boxes


def _pinned_rpn_regr() -> list[dict]:
    rng, (h, w, a) = seeded("rpn_loss_regr"), _MAP
    m = random_mask(rng, (1, h, w, 4 * a), 0.05)
    # one small object: 3 positive anchors (12 mask entries) among 68 400, where ε·numel (6.8) outweighs Σm
    one = np.zeros((1, h, w, 4 * a))
    one[0, h // 2, w // 2, :12] = 1.0
    return [{"num_anchors": a, "y_true": np.concatenate([m, rng.normal(size=(1, h, w, 4 * a))], -1),
             "y_pred": rng.normal(size=(1, h, w, 4 * a))},
            {"num_anchors": a, "y_true": np.concatenate([one, rng.normal(size=(1, h, w, 4 * a))], -1),
             "y_pred": rng.normal(size=(1, h, w, 4 * a))}]


def _pinned_rpn_cls() -> list[dict]:
    rng, (h, w, a) = seeded("rpn_loss_cls"), _MAP
    v = random_mask(rng, (1, h, w, a), 0.2)
    full = {"num_anchors": a, "y_true": np.concatenate([v, random_mask(rng, (1, h, w, a), 0.5)], -1),
            "y_pred": rng.random((1, h, w, a))}
    # batch 2 with an all-zero first element (normaliser = eps * numel only)
    hard = {"num_anchors": 3, "y_true": np.concatenate([np.zeros((2, 2, 3, 3)), random_mask(rng, (2, 2, 3, 3), .3)],
                                                       -1),
            "y_pred": np.array([0.0, 1.0, 1e-9, 1 - 1e-9, 0.5, 0.25] * 6).reshape(2, 2, 3, 3)}
    return [full, hard]


def _pinned_class_regr() -> list[dict]:
    rng, c = seeded("class_loss_regr"), _VOC
    mc = np.zeros((1, 32, 4 * c))
    mc[0, np.arange(32), 4 * (np.arange(32) % c)] = 1
    return [{"num_classes": c, "y_true": np.concatenate([mc, rng.normal(size=(1, 32, 4 * c))], -1),
             "y_pred": rng.normal(size=(1, 32, 4 * c))}]


def _pinned_class_cls() -> list[dict]:
    rng, k = seeded("class_loss_cls"), _VOC + 1
    return [{"y_true": np.eye(k)[rng.integers(0, k, (2, 32))], "y_pred": rng.dirichlet(np.ones(k), (2, 32))}]


def _fixed_class_cls(dtype: str) -> list[dict]:
    """q_3 = 1 / (1 + 6.1e-8): 5.9e-8 above the float32 clip bound 1 − ε_k, which float32's p / Σp rounds onto (found
    by the thorough profile: the gradient there is the clipped 0 in float64 and the unclipped one in float32)."""
    return [{"y_true": np.array([[[0.0, 0.0, 0.0, 1.0]]]), "y_pred": np.array([[[0.0, 1e-9, 5.9604645e-8, 1.0]]])}]


def _rpn_regr_bad(a: int, true_ch: int, pred_ch: int, hw_pred: tuple[int, int] = (3, 4)):
    def make() -> dict:
        m = fixed_mask(2, 3, 4, true_ch // 2)
        t = fixed_normal(2, 3, 4, true_ch - true_ch // 2)
        return {"num_anchors": a, "y_true": np.concatenate([m, t], -1), "y_pred": fixed_normal(2, *hw_pred, pred_ch)}
    return make


def _rpn_cls_bad(a: int, true_ch: int, pred_ch: int, hw_pred: tuple[int, int] = (3, 4)):
    return lambda: {"num_anchors": a, "y_true": fixed_mask(2, 3, 4, true_ch),
                    "y_pred": fixed_probs(2, *hw_pred, pred_ch)}


def _cls_regr_bad(c: int, true_ch: int, pred_ch: int, r_pred: int = 5):
    def make() -> dict:
        m = fixed_mask(2, 5, true_ch // 2)
        t = fixed_normal(2, 5, true_ch - true_ch // 2)
        return {"num_classes": c, "y_true": np.concatenate([m, t], -1), "y_pred": fixed_normal(2, r_pred, pred_ch)}
    return make


def _timing_map(d) -> tuple[int, int, int]:
    return (*d.frcnn_map, d.frcnn_anchors)


def _timing_rpn_regr(d) -> list[TimingCase]:
    h, w, a = _timing_map(d)

    def build(rng: np.random.Generator) -> dict:
        y_true = np.concatenate([random_mask(rng, (1, h, w, 4 * a), 0.01, True),
                                 rng.standard_normal((1, h, w, 4 * a))], -1)
        return {"num_anchors": a, "y_true": y_true, "y_pred": rng.standard_normal((1, h, w, 4 * a))}
    return [TimingCase(f"1x{h}x{w}x{a}", build)]


def _timing_rpn_cls(d) -> list[TimingCase]:
    h, w, a = _timing_map(d)

    def build(rng: np.random.Generator) -> dict:
        y_true = np.concatenate([random_mask(rng, (1, h, w, a), 256 / (h * w * a), True),
                                 random_mask(rng, (1, h, w, a), 0.5, True)], -1)
        return {"num_anchors": a, "y_true": y_true, "y_pred": rng.uniform(0.01, 0.99, (1, h, w, a))}
    return [TimingCase(f"1x{h}x{w}x{a}", build)]


def _timing_class_regr(d) -> list[TimingCase]:
    r, k = d.frcnn_rois, d.frcnn_classes
    c = k - 1  # classes with boxes

    def build(rng: np.random.Generator) -> dict:
        m = np.repeat(random_one_hot(rng, (1, r, c)) * random_mask(rng, (1, r, 1), 0.25, True), 4, axis=-1)
        y_true = np.concatenate([m, rng.standard_normal((1, r, 4 * c))], -1)
        return {"num_classes": c, "y_true": y_true, "y_pred": rng.standard_normal((1, r, 4 * c))}
    return [TimingCase(f"1x{r}x{k}", build)]


def _timing_class_cls(d) -> list[TimingCase]:
    r, k = d.frcnn_rois, d.frcnn_classes
    return [TimingCase(f"1x{r}x{k}", lambda rng: {"y_true": random_one_hot(rng, (1, r, k)),
                                                  "y_pred": softmax64(rng.standard_normal((1, r, k)))})]


# --- records -----------------------------------------------------------------------------------------------------

_REGR_SHAPES = ("{}: (B, H, W, 8A) = [mask m (4A) | targets t (4A)]; y_pred: (B, H, W, 4A); A = num_anchors")


def _mask_half(ex: dict) -> list[np.ndarray]:
    y = ex["y_true"]
    return [y[..., : y.shape[-1] // 2]]


CONTRACTS = [
    Contract("rpn_loss_regr", "frcnn", Call(("y_true", "y_pred"), factory=("num_anchors",)), rpn_loss_regr,
             ("y_true", "y_pred"), ("y_pred",), Tolerance(ops=10),
             overriding(rpn_loss_regr, {"y_true": _frcnn_regr_fill, "y_pred": big_fill}),
             "λ · Σ m·smooth_l1(t − y_pred) / Σ(ε + m), ε = 1e-4 per element", _REGR_SHAPES.format("y_true"),
             divergences=("FRCNN-EPS-PER-ELEMENT",), pinned=_pinned_rpn_regr, normaliser=_den,
             bad_inputs=(BadCase("y_true-channels-8A+4", "y_true", _rpn_regr_bad(2, 20, 8)),
                         BadCase("y_true-channels-8A-4", "y_true", _rpn_regr_bad(2, 12, 8)),
                         BadCase("y_pred-channels", "y_pred", _rpn_regr_bad(2, 16, 12)),
                         BadCase("y_pred-spatial-mismatch", "y_pred", _rpn_regr_bad(2, 16, 8, (2, 4)))),
             tags=(tags.zero_masks(_mask_half),), timing=_timing_rpn_regr),
    Contract("rpn_loss_cls", "frcnn", Call(("y_true", "y_pred"), factory=("num_anchors",)), rpn_loss_cls,
             ("y_true", "y_pred"), ("y_pred",),
             Tolerance(ops=9, kernels=("log|log1p",), conditioning=_cls_conditioning,
                       **bounds("rpn_loss_cls", gradient=False)),
             overriding(rpn_loss_cls, {"y_true": _frcnn_cls_fill, "y_pred": prob_fill}),
             "λ · Σ v·BCE(target=z, output=y_pred) / Σ(ε + v)",
             "y_true: (B, H, W, 2A) = [used v (A) | labels z (A)]; y_pred: (B, H, W, A) probabilities",
             conventions=True, constants_dtype=True, divergences=("FRCNN-SWAPPED-BCE", "FRCNN-NORM-AXIS"),
             pinned=_pinned_rpn_cls, normaliser=_den,
             bad_inputs=(BadCase("y_true-channels-2A+1", "y_true", _rpn_cls_bad(2, 5, 2)),
                         BadCase("y_pred-channels", "y_pred", _rpn_cls_bad(2, 4, 3)),
                         BadCase("y_pred-spatial-mismatch", "y_pred", _rpn_cls_bad(2, 4, 2, (2, 4)))),
             tags=(tags.conventions_differ(), tags.zero_masks(_mask_half)), timing=_timing_rpn_cls),
    Contract("class_loss_regr", "frcnn", Call(("y_true", "y_pred"), factory=("num_classes",)), class_loss_regr,
             ("y_true", "y_pred"), ("y_pred",), Tolerance(ops=10),
             overriding(class_loss_regr, {"y_true": _frcnn_regr_fill, "y_pred": big_fill}),
             "λ · Σ m·smooth_l1(t − y_pred) / Σ(ε + m)",
             "y_true: (B, R, 8C) = [mask (4C) | targets (4C)]; y_pred: (B, R, 4C); C = num_classes (no background)",
             pinned=_pinned_class_regr, normaliser=_den,
             bad_inputs=(BadCase("y_true-channels-8C+4", "y_true", _cls_regr_bad(2, 20, 8)),
                         BadCase("y_pred-channels", "y_pred", _cls_regr_bad(2, 16, 12)),
                         BadCase("y_pred-rois-mismatch", "y_pred", _cls_regr_bad(2, 16, 8, 3))),
             tags=(tags.zero_masks(_mask_half),), timing=_timing_class_regr),
    Contract("class_loss_cls", "frcnn", Call(("y_true", "y_pred")), class_loss_cls, ("y_true", "y_pred"),
             ("y_pred",), Tolerance(ops=9, kernels=("log",), conditioning=_cls_conditioning),
             overriding(class_loss_cls, {"y_pred": positive_rows_fill}),
             "λ · mean over r of CCE(y_true[0, r], y_pred[0, r]) (batch element 0 only)",
             "y_true, y_pred: (B, R, K) one-hot targets and class probabilities",
             conventions=True, constants_dtype=True, divergences=("FRCNN-BATCH0",), pinned=_pinned_class_cls,
             near_kinks=class_cls_near_kinks, stability_cases=_fixed_class_cls,
             normaliser=lambda ex: float(np.shape(ex["y_true"])[1]),
             bad_inputs=(BadCase("classes-mismatch", "y_pred",
                                 lambda: {"y_true": np.eye(3)[[[0, 1, 2, 0]]], "y_pred": fixed_probs(1, 4, 4)}),
                         BadCase("rois-mismatch", "y_pred",
                                 lambda: {"y_true": np.eye(3)[[[0, 1, 2, 0]]], "y_pred": fixed_probs(1, 3, 3)})),
             timing=_timing_class_cls),
]
CONTRACTS = [replace(c, entry=FRCNN_ENTRIES[c.name]) for c in CONTRACTS]
