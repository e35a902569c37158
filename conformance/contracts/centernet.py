"""Family ``centernet``: the TF2 CenterNet losses of docs/contracts.md."""

from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conformance.contracts import tags
from conformance.contracts.adversarial import big_fill, heatmap_fill, overriding, prob_fill, zero_mask_fill
from conformance.contracts.centernet_entries import ENTRIES as CENTERNET_ENTRIES
from conformance.contracts.draw import arrays, fixed_normal, fixed_probs, masks, probabilities, reals, seeded
from conformance.contracts.record import BadCase, Call, Contract, Domain, Tag, TimingCase
from conformance.numerics.form_bounds import bounds
from conformance.numerics.tolerance import Tolerance


@st.composite
def heatmap(draw: st.DrawFn, shape: tuple[int, ...]) -> np.ndarray:
    """Gaussian-like heatmaps in [0, 1], with or without exact 1.0 peaks."""
    hm = draw(arrays(shape, reals(0.0, 1.0, (0.0, 0.5, 0.9, 0.999))))
    if draw(st.booleans()):
        peaks = draw(arrays(shape, st.sampled_from((0.0, 0.0, 0.0, 1.0))))
        hm = np.where(peaks == 1.0, 1.0, hm)
    return hm


@st.composite
def focal_loss(draw: st.DrawFn) -> dict:
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 4)))
    return {"hm_pred": draw(probabilities(shape)), "hm_true": draw(heatmap(shape))}


@st.composite
def _regression(draw: st.DrawFn) -> tuple:
    b, h, w, k = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 6))
    hw = h * w
    idx = draw(hnp.arrays(np.int64, (b, k), elements=st.sampled_from((0, hw - 1)) | st.integers(0, hw - 1)))
    return b, h, w, k, idx, draw(masks((b, k)))


VALUES = reals(-8.0, 8.0, (0.0, 0.5, 1.0))


@st.composite
def reg_l1_loss(draw: st.DrawFn) -> dict:
    b, h, w, k, idx, mask = draw(_regression())
    return {
        "y_pred": draw(arrays((b, h, w, 2), VALUES)),
        "y_true": draw(arrays((b, k, 2), VALUES)),
        "indices": idx,
        "mask": mask,
    }


@st.composite
def loss(draw: st.DrawFn) -> dict:
    b, h, w, k, idx, mask = draw(_regression())
    c = draw(st.integers(1, 3))
    return {
        "hm_pred": draw(probabilities((b, h, w, c))),
        "wh_pred": draw(arrays((b, h, w, 2), reals(0.0, 40.0, (0.0, 1.0)))),
        "reg_pred": draw(arrays((b, h, w, 2), reals(0.0, 1.0, (0.0, 0.5)))),
        "hm_true": draw(heatmap((b, h, w, c))),
        "wh_true": draw(arrays((b, k, 2), reals(0.0, 40.0, (0.0, 1.0)))),
        "reg_true": draw(arrays((b, k, 2), reals(0.0, 1.0, (0.0, 0.5)))),
        "reg_mask": mask,
        "indices": idx,
    }


# --- tolerances and range ----------------------------------------------------------------------------------------

def _reg_terms(ex, pred, true, idx, mask):
    b = np.shape(ex[pred])[0]
    flat = np.reshape(ex[pred], (b, -1, 2))
    g = np.take_along_axis(flat, np.asarray(ex[idx])[..., None], axis=1)
    m = np.asarray(ex[mask])[..., None]
    return np.sum(np.abs(ex[true] * m) + np.abs(g * m)) / (np.sum(m) * 2 + 1e-4)


def _reg_l1_value(ex, e):
    return _reg_terms(ex, "y_pred", "y_true", "indices", "mask") + np.abs(e)


def _loss_value(ex, e):
    return (np.abs(e) + 0.1 * _reg_terms(ex, "wh_pred", "wh_true", "indices", "reg_mask")
            + _reg_terms(ex, "reg_pred", "reg_true", "indices", "reg_mask"))


def _focal_conditioning(ex, e):
    """Σ_neg p^α·(1 − y)^β / max(num_pos, 1): 1 − p rounds once in −log(clip(1 − p, ε_c, 1)), an absolute error of
    the log, u per unit weight (relative to the term it is u / p: large for small p).  1 − y and 1 − p in the
    weights round relatively (exact for y, p ≥ 0.5): part of the chain."""
    p, y = np.asarray(ex["hm_pred"], float), np.asarray(ex["hm_true"], float)
    neg = y < 1
    w = np.sum(np.where(neg, p**2 * (1 - np.where(neg, y, 0.0)) ** 4, 0.0))
    return np.full(np.shape(e), w / max(float(np.sum(y == 1)), 1.0))


def _den(ex: dict) -> float:
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


# --- pinned examples, stability cases, bad inputs, timing --------------------------------------------------------

@functools.cache
def _pinned() -> dict[str, list[dict]]:
    rng = seeded("centernet")
    b, h, w, c, k = 1, 128, 128, 80, 100  # the documents' 512 input, COCO
    hm = rng.random((b, h, w, c)) ** 8
    idx = rng.integers(0, h * w, (b, k))
    hm.reshape(b, h * w, c)[0, idx[0], rng.integers(0, c, k)] = 1.0
    mask = (np.arange(k) < 30).astype(np.float64)[None]
    fl = {"hm_pred": rng.random((b, h, w, c)) * 0.5, "hm_true": hm}
    reg = {"y_pred": rng.random((b, h, w, 2)) * 40, "y_true": rng.random((b, k, 2)) * 40, "indices": idx,
           "mask": mask}
    no_pos = {"hm_pred": rng.random((2, 3, 5, 2)), "hm_true": rng.random((2, 3, 5, 2)) * 0.9}
    # a batch of 32 with 128 object slots each and one object in all: ε once (1e-4) against ε per element (0.82)
    sparse = {"y_pred": rng.random((32, 16, 16, 2)) * 40, "y_true": rng.random((32, 128, 2)) * 40,
              "indices": rng.integers(0, 16 * 16, (32, 128)), "mask": np.zeros((32, 128))}
    sparse["mask"][3, 0] = 1.0
    return {"focal_loss": [fl, no_pos], "reg_l1_loss": [reg, sparse]}


def _fixed_reg_l1(dtype: str) -> list[dict]:
    return [{"y_pred": np.full((1, 2, 2, 2), 3.0), "y_true": np.ones((1, 3, 2)), "indices": np.array([[0, 1, 3]]),
             "mask": np.zeros((1, 3))}]


def _fixed_focal_loss(dtype: str) -> list[dict]:
    return [{"hm_pred": np.array([0.0, 1.0, 1e-9, 0.5]).reshape(1, 2, 2, 1), "hm_true": np.zeros((1, 2, 2, 1))}]


def _reg_bad(indices: np.ndarray, channels: int = 2, mask_k: int = 3):
    return lambda: {"y_pred": fixed_normal(2, 2, 3, channels), "y_true": fixed_normal(2, 3, 2), "indices": indices,
                    "mask": np.ones((2, mask_k))}


def _loss_bad(indices: np.ndarray):
    def make() -> dict:
        hm_true = np.zeros((2, 2, 3, 2))
        hm_true[:, 0, 0, 0] = 1.0
        return {"hm_pred": fixed_probs(2, 2, 3, 2), "wh_pred": np.abs(fixed_normal(2, 2, 3, 2)) * 10,
                "reg_pred": fixed_probs(2, 2, 3, 2), "hm_true": hm_true, "wh_true": np.abs(fixed_normal(2, 3, 2)) * 10,
                "reg_true": fixed_probs(2, 3, 2), "reg_mask": np.ones((2, 3)), "indices": indices}
    return make


_IDX_OK = np.array([[0, 1, 5], [2, 3, 4]])
_IDX_HIGH = np.array([[0, 1, 6], [2, 3, 4]])  # H*W = 6
_IDX_NEG = np.array([[0, 1, 5], [-1, 3, 4]])


def _timing_heatmap(rng: np.random.Generator, shape: tuple[int, ...], peaks: int) -> np.ndarray:
    """A heatmap in [0, 1): mostly near 0, with ``peaks`` exact 1.0 centres per image."""
    hm = rng.random(shape) ** 8 * 0.99
    b, h, w, k = shape
    for i in range(b):
        hm[i, rng.integers(0, h, peaks), rng.integers(0, w, peaks), rng.integers(0, k, peaks)] = 1.0
    return hm


def _timing_focal(d) -> list[TimingCase]:
    b, s, k, n = d.cn_batch, d.cn_map, d.cn_classes, d.cn_objects
    return [TimingCase(f"{b}x{s}x{s}x{k}", lambda rng: {
        "hm_pred": 1 / (1 + np.exp(-rng.standard_normal((b, s, s, k)) - 2)),
        "hm_true": _timing_heatmap(rng, (b, s, s, k), n)})]


def _timing_reg_l1(d) -> list[TimingCase]:
    b, s, n = d.cn_batch, d.cn_map, d.cn_objects
    return [TimingCase(f"{b}x{s}x{s}x2-{n}obj", lambda rng: {
        "y_pred": rng.standard_normal((b, s, s, 2)), "y_true": rng.standard_normal((b, n, 2)),
        "indices": rng.integers(0, s * s, (b, n)), "mask": np.ones((b, n))})]


def _timing_loss(d) -> list[TimingCase]:
    b, s, k, n = d.cn_batch, d.cn_map, d.cn_classes, d.cn_objects
    return [TimingCase(f"{b}x{s}x{s}x{k}-{n}obj", lambda rng: {
        "indices": rng.integers(0, s * s, (b, n)), "reg_mask": np.ones((b, n)),
        "hm_pred": 1 / (1 + np.exp(-rng.standard_normal((b, s, s, k)) - 2)),
        "wh_pred": rng.uniform(0, 40, (b, s, s, 2)), "reg_pred": rng.random((b, s, s, 2)),
        "hm_true": _timing_heatmap(rng, (b, s, s, k), n), "wh_true": rng.uniform(0, 40, (b, n, 2)),
        "reg_true": rng.random((b, n, 2))})]


# --- records -----------------------------------------------------------------------------------------------------

_ARGS = ("hm_pred", "wh_pred", "reg_pred", "hm_true", "wh_true", "reg_true", "reg_mask", "indices")


def _no_positive(c, ex, d) -> bool:
    return not np.any(ex["hm_true"] == 1.0)


_CN_TAGS = (Tag("CN-NO-POSITIVE", "no heatmap peak equals 1: the loss is neg_loss alone", _no_positive),
            Tag("CN-POSITIVE", "some heatmap peaks equal 1: the loss is divided by num_pos",
                lambda c, ex, d: not _no_positive(c, ex, d)))

_PEAKS = Domain("heatmaps with at least one peak (hm_true = 1) in every image",
                 lambda ex: bool(np.all(np.any(np.asarray(ex["hm_true"]) == 1.0, axis=(1, 2, 3)))))

_FOCAL_KERNELS = ("log|log1p", "pow", "pow")  # the value paths counted: docs/tolerances.md, "Counted chains"

CONTRACTS = [
    Contract("focal_loss", "centernet", Call(("hm_pred", "hm_true")), focal_loss, ("hm_pred", "hm_true"), ("hm_pred",),
             Tolerance(ops=10, kernels=_FOCAL_KERNELS, conditioning=_focal_conditioning, **bounds("focal_loss", False)),
             overriding(focal_loss, {"hm_pred": prob_fill, "hm_true": heatmap_fill}),
             "(Σ −log(clip(p, ε_c, 1))·(1−p)^α·pos + Σ −log(clip(1−p, ε_c, 1))·p^α·(1−y)^β·neg) / max-guarded num_pos",
             "hm_pred, hm_true: (B, H, W, K); hm_pred probabilities, hm_true a heatmap in [0, 1]",
             constants_dtype=True, divergences=("CN-NEG-SIGN",), pinned=lambda: _pinned()["focal_loss"],
             stability_cases=_fixed_focal_loss, normaliser=_den,
             bad_inputs=(BadCase("shape-mismatch", "hm_true",
                                 lambda: {"hm_pred": fixed_probs(1, 2, 3, 2), "hm_true": fixed_probs(1, 2, 3, 3)}),),
             tags=_CN_TAGS, timing=_timing_focal, realistic=_PEAKS),
    Contract("reg_l1_loss", "centernet", Call(("y_pred", "y_true", "indices", "mask")), reg_l1_loss,
             ("y_pred", "y_true", "mask"), ("y_pred",),
             Tolerance(ops=5, value_scale=_reg_l1_value, **bounds("reg_l1_loss", False)),
             overriding(reg_l1_loss, {"mask": zero_mask_fill, "y_pred": big_fill, "y_true": big_fill}),
             "Σ |y_true·M − gather(y_pred, indices)·M| / (Σ M + ε), ε once",
             "y_pred: (B, H, W, 2); y_true: (B, K, 2); indices: (B, K) integers in [0, H·W); mask: (B, K) 0/1",
             int_args=("indices",), divergences=("CN-TWO-CHANNELS", "CN-GATHER-RANGE"),
             pinned=lambda: _pinned()["reg_l1_loss"], stability_cases=_fixed_reg_l1, normaliser=_den,
             bad_inputs=(BadCase("index-equals-HW", "indices", _reg_bad(_IDX_HIGH), "CN-GATHER-RANGE"),
                         BadCase("index-negative", "indices", _reg_bad(_IDX_NEG), "CN-GATHER-RANGE"),
                         BadCase("y_pred-channels-3", "y_pred", _reg_bad(_IDX_OK, channels=3), "CN-TWO-CHANNELS"),
                         BadCase("mask-shape", "mask", _reg_bad(_IDX_OK, mask_k=4))),
             tags=(tags.zero_masks(lambda ex: [ex["mask"]]),), timing=_timing_reg_l1),
    Contract("loss", "centernet", Call(_ARGS, packed=True), loss, _ARGS[:-1], ("hm_pred", "wh_pred", "reg_pred"),
             Tolerance(ops=12, kernels=_FOCAL_KERNELS, value_scale=_loss_value, conditioning=_focal_conditioning,
                       **bounds("loss", False)),
             overriding(loss, {"hm_pred": prob_fill, "hm_true": heatmap_fill, "reg_mask": zero_mask_fill}),
             "focal_loss(hm_pred, hm_true) + 0.1·reg_l1_loss(wh_pred, wh_true, …) + reg_l1_loss(reg_pred, reg_true, …)",
             "args = [hm_pred, wh_pred, reg_pred, hm_true, wh_true, reg_true, reg_mask, indices], shapes as above",
             int_args=("indices",), to_oracle=lambda ex: {"args": [ex[k] for k in _ARGS]}, constants_dtype=True,
             divergences=("CN-GATHER-RANGE",), normaliser=_den,
             bad_inputs=(BadCase("index-equals-HW", "indices", _loss_bad(_IDX_HIGH), "CN-GATHER-RANGE"),
                         BadCase("index-negative", "indices", _loss_bad(_IDX_NEG), "CN-GATHER-RANGE")),
             tags=(tags.zero_masks(lambda ex: [ex["reg_mask"]]), *_CN_TAGS), timing=_timing_loss, cost=2.0,
             realistic=_PEAKS),
]
CONTRACTS = [replace(c, entry=CENTERNET_ENTRIES[c.name]) for c in CONTRACTS]
