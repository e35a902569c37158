"""Faster R-CNN oracle (docs/contracts.md) against straightforward mpmath references."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from helpers import assert_rel, fd_vjp, to_mp
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from oracle import frcnn

EPS = mp.mpf("1e-4")
DTYPES = ("float64", "float32", "float16", "bfloat16")
CONVENTIONS = ("keras-ops", "keras-legacy")
SPEC = {s.name: s for s in frcnn.SPECS}


# --------------------------------------------------------------------------- independent references


def rounded(dtype: str, x: float) -> mp.mpf:
    """x rounded to ``dtype`` (NumPy casts; bfloat16 as 8 significant bits via mpmath)."""
    if dtype == "bfloat16":
        with mp.workprec(8):
            return +mp.mpf(x)
    return mp.mpf(float(getattr(np, dtype)(x)))


def bounds(dtype: str) -> tuple[mp.mpf, mp.mpf]:
    lo = rounded(dtype, 1e-7)
    return lo, rounded(dtype, 1.0 - 1e-7)


def mp_smooth_l1(x):
    return x * x / 2 if abs(x) <= 1 else abs(x) - mp.mpf("0.5")


def mp_bce(t, p, conv, lo, hi):
    P = min(max(p, lo), hi)
    if conv == "keras-ops":
        return -(t * mp.log(P) + (1 - t) * mp.log(1 - P))
    return -(t * mp.log(P + lo) + (1 - t) * mp.log(1 - P + lo))


def ref_regr(m, t, y, eps_once=False, mean=False):
    """Σ m·smooth_l1(t − y) / Σ(ε + m) on mpmath object arrays."""
    m, t, y = m.ravel(), t.ravel(), y.ravel()
    num = mp.fsum(mi * mp_smooth_l1(ti - yi) for mi, ti, yi in zip(m, t, y, strict=True))
    if mean:
        return num / len(m)
    den = mp.fsum(m) + EPS if eps_once else mp.fsum(EPS + mi for mi in m)
    return num / den


def ref_rpn_cls(yt, yp, a, conv="keras-ops", dtype="float64", swapped=False, norm_axis=False):
    lo, hi = bounds(dtype)
    v, z = yt[..., :a].ravel(), yt[..., a:].ravel()
    y = yp.ravel()
    terms = [
        vi * (mp_bce(yi, zi, conv, lo, hi) if swapped else mp_bce(zi, yi, conv, lo, hi))
        for vi, zi, yi in zip(v, z, y, strict=True)
    ]
    den_src = yt[:, :a, :, :].ravel() if norm_axis else v
    return mp.fsum(terms) / mp.fsum(EPS + d for d in den_src)


def ref_class_cls(yt, yp, dtype="float64", all_batch=False):
    with mp.workdps(700):  # Σp must be exact even for p spanning 1e-300 .. 1e6
        return +_ref_class_cls(yt, yp, dtype, all_batch)


def _ref_class_cls(yt, yp, dtype, all_batch):
    lo, hi = bounds(dtype)
    rows_t = yt.reshape(-1, yt.shape[-1]) if all_batch else yt[0]
    rows_p = yp.reshape(-1, yp.shape[-1]) if all_batch else yp[0]
    out = []
    for t, p in zip(rows_t, rows_p, strict=True):
        s = mp.fsum(p)
        if s == 0:
            return mp.nan
        out.append(-mp.fsum(ti * mp.log(min(max(pi / s, lo), hi)) for ti, pi in zip(t, p, strict=True)))
    return mp.fsum(out) / len(out)


# --------------------------------------------------------------------------- strategies

PROB_SPECIALS = [0.0, 1.0, 1e-9, 1 - 1e-9, 1e-7, 1 - 1e-7, 0.5, 1e-300, 2e-7, 1 - 2e-7]


def probs(shape):
    return hnp.arrays(np.float64, shape, elements=st.one_of(st.sampled_from(PROB_SPECIALS), st.floats(0, 1)))


def reals(shape, lim=3.0):
    return hnp.arrays(np.float64, shape, elements=st.one_of(st.sampled_from([0.0, 1.0, -1.0]), st.floats(-lim, lim)))


@st.composite
def masks(draw, shape):
    kind = draw(st.sampled_from(["zero", "one", "mixed", "mixed"]))
    if kind == "zero":
        return np.zeros(shape)
    if kind == "one":
        return np.ones(shape)
    return draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0])))


@st.composite
def map_shape(draw):
    a = draw(st.integers(1, 9))
    lim = 3 if a <= 4 else 2
    return draw(st.integers(2, 3)), draw(st.integers(1, lim)), draw(st.integers(1, lim + 1)), a


@st.composite
def rpn_regr_case(draw):
    b, h, w, a = draw(map_shape())
    m = draw(masks((b, h, w, 4 * a)))
    t = draw(reals((b, h, w, 4 * a)))
    y = draw(reals((b, h, w, 4 * a)))
    return a, np.concatenate([m, t], axis=-1), y


@st.composite
def rpn_cls_case(draw):
    b, h, w, a = draw(map_shape())
    v = draw(masks((b, h, w, a)))
    z = draw(hnp.arrays(np.float64, (b, h, w, a), elements=st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0, 1))))
    return a, np.concatenate([v, z], axis=-1), draw(probs((b, h, w, a)))


@st.composite
def class_cls_case(draw):
    b, r, k = draw(st.integers(2, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 6))
    elems = st.one_of(st.floats(0, 1), st.sampled_from([0.0, 1e-9, 1e-300, 1.0, 1e6, 2e-7]))
    p = draw(hnp.arrays(np.float64, (b, r, k), elements=elems))
    p[..., 0] = np.where(np.sum(p, axis=-1) == 0, 1.0, p[..., 0])
    if draw(st.booleans()):
        t = np.eye(k)[draw(hnp.arrays(np.int64, (b, r), elements=st.integers(0, k - 1)))]
    else:
        t = draw(hnp.arrays(np.float64, (b, r, k), elements=st.floats(0, 1)))
    return t, p


# --------------------------------------------------------------------------- values against mpmath


@given(rpn_regr_case(), st.sampled_from([(), ("EPS-ONCE",), ("MEAN-NOT-SUM",)]))
@settings(max_examples=40)
def test_rpn_loss_regr_matches_mpmath(case, variants):
    a, yt, yp = case
    got = frcnn.rpn_loss_regr(a, variants=variants)(yt, yp)
    m, t = to_mp(yt[..., : 4 * a]), to_mp(yt[..., 4 * a :])
    ref = ref_regr(m, t, to_mp(yp), eps_once="EPS-ONCE" in variants, mean="MEAN-NOT-SUM" in variants)
    assert got.dtype == np.float64 and got.shape == ()
    assert_rel(got, float(ref), what="rpn_loss_regr")


@given(st.integers(2, 3), st.integers(1, 4), st.integers(1, 3), st.data())
@settings(max_examples=40)
def test_class_loss_regr_matches_mpmath(b, r, c, data):
    m = data.draw(masks((b, r, 4 * c)))
    t = data.draw(reals((b, r, 4 * c), lim=5.0))
    y = data.draw(reals((b, r, 4 * c), lim=5.0))
    yt = np.concatenate([m, t], axis=-1)
    got = frcnn.class_loss_regr(c)(yt, y)
    assert_rel(got, float(ref_regr(to_mp(m), to_mp(t), to_mp(y))), what="class_loss_regr")


@given(
    rpn_cls_case(),
    st.sampled_from(CONVENTIONS),
    st.sampled_from(DTYPES),
    st.sets(st.sampled_from(["FRCNN-SWAPPED-BCE", "FRCNN-NORM-AXIS"])),
)
@settings(max_examples=50)
def test_rpn_loss_cls_matches_mpmath(case, conv, dtype, variants):
    a, yt, yp = case
    variants = tuple(sorted(variants))
    got = frcnn.rpn_loss_cls(a, convention=conv, constants_dtype=dtype, variants=variants)(yt, yp)
    ref = ref_rpn_cls(
        to_mp(yt), to_mp(yp), a, conv, dtype, "FRCNN-SWAPPED-BCE" in variants, "FRCNN-NORM-AXIS" in variants
    )
    assert_rel(got, float(ref), what=f"rpn_loss_cls {conv} {dtype} {variants}")


@given(class_cls_case(), st.sampled_from(DTYPES), st.sampled_from(CONVENTIONS), st.booleans())
@settings(max_examples=50)
def test_class_loss_cls_matches_mpmath(case, dtype, conv, all_batch):
    t, p = case
    variants = ("CLS-ALL-BATCH",) if all_batch else ()
    got = frcnn.class_loss_cls(t, p, convention=conv, constants_dtype=dtype, variants=variants)
    ref = ref_class_cls(to_mp(t), to_mp(p), dtype, all_batch)
    assert_rel(got, float(ref), what="class_loss_cls")


def test_class_loss_cls_near_one_is_accurate():
    # q0 = 1/(1 + 2e-7) passes the clip; log q0 ≈ −2e-7 must keep its relative accuracy.
    t = np.array([[[1.0, 0.0], [1.0, 0.0]]])
    p = np.array([[[1.0, 2e-7], [1.0, 1.5e-7]]])
    assert_rel(frcnn.class_loss_cls(t, p), float(ref_class_cls(to_mp(t), to_mp(p))))


def test_convention_values_at_zero_probability():
    yt = np.array([[[[1.0, 1.0]]]])
    yp = np.array([[[[0.0]]]])
    ops = frcnn.rpn_loss_cls(1)(yt, yp)
    legacy = frcnn.rpn_loss_cls(1, convention="keras-legacy")(yt, yp)
    assert_rel(ops, -math.log(1e-7) / 1.0001, rtol=1e-14)
    assert_rel(legacy, -math.log(2e-7) / 1.0001, rtol=1e-14)
    assert abs(ops * 1.0001 - 16.1181) < 1e-4 and abs(legacy * 1.0001 - 15.4249) < 1e-4


def test_float16_constants_reproduce_fp16_clip():
    # In float16 1 − 1e-7 rounds to 1: with z = 0 the clipped p = 1 gives log(0).
    yt = np.array([[[[1.0, 0.0]]]])
    yp = np.array([[[[1.0]]]])
    assert np.isinf(frcnn.rpn_loss_cls(1, constants_dtype="float16")(yt, yp))
    assert np.isfinite(frcnn.rpn_loss_cls(1, constants_dtype="float32")(yt, yp))


# --------------------------------------------------------------------------- spec properties


def test_eps_added_per_element():
    # m: 4 ones then 4 zeros (8 elements); one residual of 3 -> smooth_l1 = 2.5.
    yt = np.zeros((1, 1, 2, 8))
    yt[0, 0, 0, :4] = 1.0
    yt[0, 0, 0, 4] = 3.0
    yp = np.zeros((1, 1, 2, 4))
    got = frcnn.rpn_loss_regr(1)(yt, yp)
    assert got == 2.5 / (4 + 8e-4)
    assert got != 2.5 / (4 + 1e-4)
    assert frcnn.rpn_loss_regr(1, variants=("EPS-ONCE",))(yt, yp) == 2.5 / (4 + 1e-4)
    assert frcnn.rpn_loss_regr(1, variants=("MEAN-NOT-SUM",))(yt, yp) == 2.5 / 8
    yc = yt.reshape(1, 2, 8)
    assert frcnn.class_loss_regr(1)(yc, yp.reshape(1, 2, 4)) == 2.5 / (4 + 8e-4)
    assert frcnn.class_loss_regr(1, variants=("EPS-ONCE",))(yc, yp.reshape(1, 2, 4)) == 2.5 / (4 + 1e-4)


def test_rpn_cls_eps_per_element_and_variants():
    yt = np.array([[[[1.0, 1.0]], [[0.0, 0.0]]]])  # (1, 2, 1, 2): one used anchor, one unused
    yp = np.array([[[[0.25]], [[0.9]]]])
    base = -math.log(0.25)
    assert_rel(frcnn.rpn_loss_cls(1)(yt, yp), base / (1 + 2e-4), rtol=1e-15)
    assert_rel(frcnn.rpn_loss_cls(1, variants="EPS-ONCE")(yt, yp), base / (1 + 1e-4), rtol=1e-15)
    assert_rel(frcnn.rpn_loss_cls(1, variants="MEAN-NOT-SUM")(yt, yp), base / 2, rtol=1e-15)


@pytest.mark.parametrize(
    ("name", "factory", "yt", "yp"),
    [
        ("rpn_loss_regr", lambda: frcnn.rpn_loss_regr(2), np.zeros((2, 2, 3, 16)), np.full((2, 2, 3, 8), 7.0)),
        ("class_loss_regr", lambda: frcnn.class_loss_regr(2), np.zeros((2, 3, 16)), np.full((2, 3, 8), -4.0)),
        ("rpn_loss_cls", lambda: frcnn.rpn_loss_cls(2), np.zeros((2, 2, 3, 4)), np.full((2, 2, 3, 2), 0.3)),
    ],
)
def test_all_zero_mask_gives_exact_zero(name, factory, yt, yp):
    yt = yt.copy()
    half = yt.shape[-1] // 2
    yt[..., half:] = 0.7  # targets / labels non-zero where the mask is zero
    assert factory()(yt, yp) == 0.0
    grad = SPEC[name].vjp(
        1.0, "y_pred", y_true=yt, y_pred=yp, **({"num_classes": 2} if "class" in name else {"num_anchors": 2})
    )
    assert np.all(grad == 0.0)


@given(class_cls_case(), st.data())
@settings(max_examples=20)
def test_class_loss_cls_uses_only_batch_zero(case, data):
    t, p = case
    p2 = p.copy()
    p2[1:] = data.draw(hnp.arrays(np.float64, p[1:].shape, elements=st.floats(0.01, 1)))
    t2 = t.copy()
    t2[1:] = 1.0 - t[1:]
    assert frcnn.class_loss_cls(t, p) == frcnn.class_loss_cls(t2, p2)
    g = SPEC["class_loss_cls"].vjp(1.0, "y_pred", y_true=t, y_pred=p)
    assert np.all(g[1:] == 0.0)


def test_class_loss_cls_all_batch_variant_by_hand():
    t = np.array([[[0.0, 1.0]], [[1.0, 0.0]]])
    p = np.array([[[0.25, 0.75]], [[1.0, 1.0]]])
    assert_rel(frcnn.class_loss_cls(t, p), -math.log(0.75), rtol=1e-15)
    assert_rel(
        frcnn.class_loss_cls(t, p, variants=["CLS-ALL-BATCH"]), (-math.log(0.75) - math.log(0.5)) / 2, rtol=1e-15
    )


def test_swapped_bce_by_hand():
    # two anchors in one row: (v=1, z=1) with p=0.3 and (v=1, z=0) with p=0.8
    yt = np.array([[[[1.0, 1.0], [1.0, 0.0]]]])
    yp = np.array([[[[0.3], [0.8]]]])
    lo, hi = 1e-7, 1 - 1e-7
    c0 = -(0.3 * math.log(hi) + 0.7 * math.log(1 - hi))
    c1 = -(0.8 * math.log(lo) + 0.2 * math.log1p(-lo))
    den = 2 + 2e-4
    assert_rel(frcnn.rpn_loss_cls(1, variants=("FRCNN-SWAPPED-BCE",))(yt, yp), (c0 + c1) / den, rtol=1e-13)
    # the loss is linear in y_pred: its gradient is log(1 − P) − log P of the clipped labels
    g = SPEC["rpn_loss_cls"].vjp(1.0, "y_pred", num_anchors=1, y_true=yt, y_pred=yp, variants=("FRCNN-SWAPPED-BCE",))
    want = np.array([[[[math.log(1 - hi) - math.log(hi)], [math.log1p(-lo) - math.log(lo)]]]]) / den
    assert_rel(g, want, rtol=1e-13)
    assert (
        not SPEC["rpn_loss_cls"]
        .kinks("y_pred", num_anchors=1, y_true=yt, y_pred=yp, variants=("FRCNN-SWAPPED-BCE",))
        .any()
    )
    # legacy convention: ε inside both logs
    c0l = -(0.3 * math.log(hi + lo) + 0.7 * math.log(1 - hi + lo))
    c1l = -(0.8 * math.log(2 * lo) + 0.2 * math.log(1 - lo + lo))
    got = frcnn.rpn_loss_cls(1, convention="keras-legacy", variants=("FRCNN-SWAPPED-BCE",))(yt, yp)
    assert_rel(got, (c0l + c1l) / den, rtol=1e-9)


def test_norm_axis_by_hand():
    # (B, H, W, 2A) = (1, 2, 1, 2): row 0 (v=1, z=0), row 1 (v=1, z=1)
    yt = np.array([[[[1.0, 0.0]], [[1.0, 1.0]]]])
    yp = np.array([[[[0.6]], [[0.7]]]])
    num = -math.log(0.4) - math.log(0.7)
    assert_rel(frcnn.rpn_loss_cls(1)(yt, yp), num / (2 + 2e-4), rtol=1e-14)
    # NORM-AXIS: Σ(ε + y_true[:, :1, :, :]) = row 0, both channels = 1 + 0 + 2ε
    assert_rel(frcnn.rpn_loss_cls(1, variants=("FRCNN-NORM-AXIS",))(yt, yp), num / (1 + 2e-4), rtol=1e-14)
    both = ("FRCNN-NORM-AXIS", "FRCNN-SWAPPED-BCE")
    lo, hi = 1e-7, 1 - 1e-7
    num_s = -(0.6 * math.log(lo) + 0.4 * math.log1p(-lo)) - (0.7 * math.log(hi) + 0.3 * math.log(1 - hi))
    assert_rel(frcnn.rpn_loss_cls(1, variants=both)(yt, yp), num_s / (1 + 2e-4), rtol=1e-12)
    # channels_first mirror: Σ(ε + y_true[..., :A]) = first column of the NCHW map
    ytc = np.transpose(yt, (0, 3, 1, 2))  # (1, 2, 2, 1): W = 1 so the first column is everything
    got = frcnn.rpn_loss_cls(1, variants=("FRCNN-NORM-AXIS",), data_format="channels_first")(
        ytc, np.transpose(yp, (0, 3, 1, 2))
    )
    assert_rel(got, num / (3 + 4e-4), rtol=1e-14)


@given(rpn_cls_case(), st.sampled_from(CONVENTIONS), st.sampled_from([(), ("FRCNN-SWAPPED-BCE",), ("EPS-ONCE",)]))
@settings(max_examples=25)
def test_channels_first_equals_channels_last(case, conv, variants):
    a, yt, yp = case
    nchw = (0, 3, 1, 2)
    kw = {"num_anchors": a, "convention": conv, "variants": variants}
    last = SPEC["rpn_loss_cls"].evaluate(y_true=yt, y_pred=yp, **kw)
    first = SPEC["rpn_loss_cls"].evaluate(
        y_true=yt.transpose(nchw), y_pred=yp.transpose(nchw), data_format="channels_first", **kw
    )
    assert_rel(first, last, rtol=1e-14)
    g_last = SPEC["rpn_loss_cls"].vjp(0.5, "y_pred", y_true=yt, y_pred=yp, **kw)
    g_first = SPEC["rpn_loss_cls"].vjp(
        0.5, "y_pred", y_true=yt.transpose(nchw), y_pred=yp.transpose(nchw), data_format="channels_first", **kw
    )
    assert_rel(g_first, g_last.transpose(nchw), rtol=1e-14)
    k_first = SPEC["rpn_loss_cls"].kinks(
        "y_pred", y_true=yt.transpose(nchw), y_pred=yp.transpose(nchw), data_format="channels_first", **kw
    )
    assert np.array_equal(k_first, SPEC["rpn_loss_cls"].kinks("y_pred", y_true=yt, y_pred=yp, **kw).transpose(nchw))
    # regression: build an (8A) map from the same shape
    yr = np.concatenate([yt[..., :a]] * 4 + [yp] * 4, axis=-1)
    pr = np.concatenate([yp * 3 - 1] * 4, axis=-1)
    first_r = frcnn.rpn_loss_regr(a, data_format="channels_first")(yr.transpose(nchw), pr.transpose(nchw))
    assert_rel(first_r, frcnn.rpn_loss_regr(a)(yr, pr), rtol=1e-14)
    gr = SPEC["rpn_loss_regr"].vjp(1.0, "y_pred", num_anchors=a, y_true=yr, y_pred=pr)
    gr_first = SPEC["rpn_loss_regr"].vjp(
        1.0, "y_pred", num_anchors=a, y_true=yr.transpose(nchw), y_pred=pr.transpose(nchw), data_format="channels_first"
    )
    assert_rel(gr_first, gr.transpose(nchw), rtol=1e-14)


# --------------------------------------------------------------------------- VJPs


def _fd_check(f, x, cot, g, what):
    fd = fd_vjp(f, x, cot)
    scale = max(np.max(np.abs(fd)), np.max(np.abs(g)))
    assert_rel(g, fd, rtol=1e-6, atol=1e-7 * scale + 1e-8, what=what)


@given(rpn_regr_case(), st.sampled_from([(), ("EPS-ONCE",), ("MEAN-NOT-SUM",)]), st.sampled_from([1.0, -0.7]))
@settings(max_examples=25)
def test_rpn_loss_regr_vjp_fd(case, variants, cot):
    a, yt, yp = case
    kw = {"num_anchors": a, "variants": variants}
    g = SPEC["rpn_loss_regr"].vjp(cot, "y_pred", y_true=yt, y_pred=yp, **kw)
    _fd_check(lambda x: SPEC["rpn_loss_regr"].evaluate(y_true=yt, y_pred=x, **kw), yp, cot, g, "rpn_loss_regr vjp")


@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.data())
@settings(max_examples=20)
def test_class_loss_regr_vjp_fd(b, r, c, data):
    m = data.draw(masks((b, r, 4 * c)))
    yt = np.concatenate([m, data.draw(reals((b, r, 4 * c)))], axis=-1)
    yp = data.draw(reals((b, r, 4 * c)))
    g = SPEC["class_loss_regr"].vjp(2.0, "y_pred", num_classes=c, y_true=yt, y_pred=yp)
    _fd_check(lambda x: frcnn.class_loss_regr(c)(yt, x), yp, 2.0, g, "class_loss_regr vjp")


@st.composite
def rpn_cls_smooth_case(draw):
    """Probabilities away from the clip bounds (or far outside them) so central FD is valid."""
    b, h, w, a = draw(map_shape())
    v = draw(masks((b, h, w, a)))
    z = draw(hnp.arrays(np.float64, (b, h, w, a), elements=st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0, 1))))
    elems = st.one_of(st.floats(1e-3, 1 - 1e-3), st.sampled_from([-0.5, 1.5, 0.5]))
    return a, np.concatenate([v, z], axis=-1), draw(hnp.arrays(np.float64, (b, h, w, a), elements=elems))


@given(
    rpn_cls_smooth_case(),
    st.sampled_from(CONVENTIONS),
    st.sampled_from(DTYPES),
    st.sets(st.sampled_from(["FRCNN-SWAPPED-BCE", "FRCNN-NORM-AXIS"])),
)
@settings(max_examples=30)
def test_rpn_loss_cls_vjp_fd(case, conv, dtype, variants):
    a, yt, yp = case
    kw = {"num_anchors": a, "convention": conv, "constants_dtype": dtype, "variants": tuple(variants)}
    # float16 holds 1 − ε_k as 1: p ≥ 1 then gives log(0) (FP16-CLIP), no derivative to check
    assume(np.isfinite(SPEC["rpn_loss_cls"].evaluate(y_true=yt, y_pred=yp, **kw)))
    g = SPEC["rpn_loss_cls"].vjp(1.5, "y_pred", y_true=yt, y_pred=yp, **kw)
    assume(not SPEC["rpn_loss_cls"].kinks("y_pred", y_true=yt, y_pred=yp, **kw).any())
    _fd_check(lambda x: SPEC["rpn_loss_cls"].evaluate(y_true=yt, y_pred=x, **kw), yp, 1.5, g, "rpn_loss_cls vjp")


@given(st.integers(2, 3), st.integers(1, 3), st.integers(2, 5), st.booleans(), st.data())
@settings(max_examples=30)
def test_class_loss_cls_vjp_fd(b, r, k, all_batch, data):
    p = data.draw(hnp.arrays(np.float64, (b, r, k), elements=st.floats(0.05, 1.0)))
    t = data.draw(hnp.arrays(np.float64, (b, r, k), elements=st.sampled_from([0.0, 1.0, 0.3])))
    kw = {"variants": ("CLS-ALL-BATCH",) if all_batch else ()}
    g = SPEC["class_loss_cls"].vjp(-1.0, "y_pred", y_true=t, y_pred=p, **kw)
    _fd_check(lambda x: frcnn.class_loss_cls(t, x, **kw), p, -1.0, g, "class_loss_cls vjp")


def test_class_loss_cls_vjp_with_clipped_entries():
    # row 0: q = (1e-9/S, ...) first entry below ε_k -> gradient through it blocked, others pass
    p = np.array([[[1e-9, 0.4, 0.6], [0.2, 0.3, 0.5]]])
    t = np.array([[[0.2, 0.5, 0.3], [0.0, 1.0, 0.0]]])
    g = SPEC["class_loss_cls"].vjp(1.0, "y_pred", y_true=t, y_pred=p)
    fd = fd_vjp(lambda x: frcnn.class_loss_cls(t, x), p, 1.0, h=1e-11)
    assert_rel(g, fd, rtol=1e-3, atol=1e-4)
    assert g[0, 0, 0] != 0.0  # p_0 still moves the other entries through Σp
    assert not SPEC["class_loss_cls"].kinks("y_pred", y_true=t, y_pred=p).any()


def _mp_diff_points(ref, x, idxs):
    out = []
    for idx in idxs:

        def f(v, idx=idx):
            xm = to_mp(x)
            xm[idx] = v
            return ref(xm)

        out.append(float(mp.diff(f, mp.mpf(float(x[idx])))))
    return np.array(out)


def test_vjps_against_mpmath_diff():
    rng = np.random.default_rng(7)
    a = 2
    # rpn_loss_regr
    m = (rng.random((2, 2, 3, 8)) < 0.6).astype(float)
    t = rng.normal(size=m.shape) * 1.5
    y = rng.normal(size=m.shape)
    yt = np.concatenate([m, t], axis=-1)
    g = SPEC["rpn_loss_regr"].vjp(1.0, "y_pred", num_anchors=a, y_true=yt, y_pred=y)
    idxs = [tuple(i) for i in np.argwhere(m != 0)[:4]]
    want = _mp_diff_points(lambda xm: ref_regr(to_mp(m), to_mp(t), xm), y, idxs)
    assert_rel(np.array([g[i] for i in idxs]), want, rtol=1e-10)
    # rpn_loss_cls, both conventions, float32 constants
    v = (rng.random((2, 2, 3, a)) < 0.7).astype(float)
    z = (rng.random(v.shape) < 0.5).astype(float)
    p = rng.uniform(0.01, 0.99, size=v.shape)
    yt = np.concatenate([v, z], axis=-1)
    idxs = [tuple(i) for i in np.argwhere(v != 0)[:3]]
    for conv in CONVENTIONS:
        for variants in [(), ("FRCNN-SWAPPED-BCE",)]:
            kw = {"num_anchors": a, "convention": conv, "constants_dtype": "float32", "variants": variants}
            g = SPEC["rpn_loss_cls"].vjp(1.0, "y_pred", y_true=yt, y_pred=p, **kw)
            want = _mp_diff_points(
                lambda xm, conv=conv, variants=variants: ref_rpn_cls(
                    to_mp(yt), xm, a, conv, "float32", swapped=bool(variants)
                ),
                p,
                idxs,
            )
            assert_rel(np.array([g[i] for i in idxs]), want, rtol=1e-10)
    # class_loss_cls with a soft target and a near-one normalised probability
    tc = np.array([[[0.0, 1.0, 0.0], [0.2, 0.3, 0.5]], [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])
    pc = np.array([[[3e-6, 1.0, 2e-6], [0.2, 0.7, 0.4]], [[0.5, 0.2, 0.3], [0.1, 0.1, 0.8]]])
    g = SPEC["class_loss_cls"].vjp(1.0, "y_pred", y_true=tc, y_pred=pc)
    idxs = [(0, 0, 0), (0, 0, 1), (0, 1, 2), (0, 1, 0)]
    want = _mp_diff_points(lambda xm: ref_class_cls(to_mp(tc), xm), pc, idxs)
    assert_rel(np.array([g[i] for i in idxs]), want, rtol=1e-9)


def test_clip_gradient_inclusive_and_kinks():
    lo32 = float(np.float32(1e-7))
    hi32 = float(np.float32(1 - 1e-7))
    below = float(np.nextafter(np.float32(lo32), np.float32(0)))
    yt = np.array([[[[1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0]]]])  # A = 4
    yp = np.array([[[[lo32, below, hi32, 0.5]]]])
    kw = {"num_anchors": 4, "constants_dtype": "float32"}
    g = SPEC["rpn_loss_cls"].vjp(1.0, "y_pred", y_true=yt, y_pred=yp, **kw)
    den = 4 + 4e-4
    assert_rel(g[0, 0, 0, 0], (lo32 - 1) / (lo32 * (1 - lo32)) / den, rtol=1e-13)  # passes at the lower bound
    assert g[0, 0, 0, 1] == 0.0  # below it: blocked
    assert_rel(g[0, 0, 0, 2], (hi32 - 1) / (hi32 * (1 - hi32)) / den, rtol=1e-9)  # passes at the upper bound
    k = SPEC["rpn_loss_cls"].kinks("y_pred", y_true=yt, y_pred=yp, **kw)
    assert k.tolist() == [[[[True, False, True, False]]]]
    # smooth L1 is C¹ at |t − y_pred| = 1: no kink there, and the gradient is −m·sign(t − y_pred)/Σ(ε + m)
    yr = np.array([[[[1.0, 1.0, 0.0, 1.0, 2.0, 0.0, 0.0, 5.0]]]])
    pr = np.array([[[[1.0, 1.0, 1.0, 3.0]]]])
    assert not SPEC["rpn_loss_regr"].kinks("y_pred", num_anchors=1, y_true=yr, y_pred=pr).any()
    g_r = SPEC["rpn_loss_regr"].vjp(1.0, "y_pred", num_anchors=1, y_true=yr, y_pred=pr)
    assert_rel(g_r.ravel(), np.array([-1.0, 1.0, 0.0, -1.0]) / (3 + 4e-4), rtol=1e-15)
    # CCE: a normalised value on a bound marks its whole row
    tc = np.array([[[1.0, 0.0]], [[1.0, 0.0]]])
    pc = np.array([[[1e-7, 1.0 - 1e-7]], [[0.5, 0.5]]])
    assert SPEC["class_loss_cls"].kinks("y_pred", y_true=tc, y_pred=pc).tolist() == [[[True, True]], [[False, False]]]


# --------------------------------------------------------------------------- uniform entry points, bad input


def test_uniform_entry_points_and_specs():
    import oracle

    assert {s.name for s in frcnn.SPECS} == {"rpn_loss_regr", "rpn_loss_cls", "class_loss_regr", "class_loss_cls"}
    assert set(frcnn.__all__) == {s.name for s in frcnn.SPECS}
    assert SPEC["rpn_loss_cls"].variants == ("FRCNN-SWAPPED-BCE", "FRCNN-NORM-AXIS", "EPS-ONCE", "MEAN-NOT-SUM")
    assert SPEC["rpn_loss_cls"].conventions and SPEC["class_loss_cls"].conventions
    assert SPEC["class_loss_cls"].variants == ("CLS-ALL-BATCH",)
    yt = np.array([[[[1.0, 0.0]]]])
    yp = np.array([[[[0.2]]]])
    assert oracle.evaluate("rpn_loss_cls", num_anchors=1, y_true=yt, y_pred=yp) == oracle.rpn_loss_cls(1)(yt, yp)


def test_bad_input_raises():
    yt, yp = np.zeros((1, 2, 2, 18)), np.zeros((1, 2, 2, 9))
    with pytest.raises(ValueError, match=r"y_true: expected last axis of size 8\*num_anchors = 72, got 18"):
        frcnn.rpn_loss_regr(9)(yt, np.zeros((1, 2, 2, 36)))
    with pytest.raises(ValueError, match="y_pred"):
        frcnn.rpn_loss_regr(9)(np.zeros((1, 2, 2, 72)), yp)
    with pytest.raises(ValueError, match="y_pred"):
        frcnn.rpn_loss_cls(9)(yt, np.zeros((1, 2, 3, 9)))
    with pytest.raises(ValueError, match="y_true"):
        frcnn.rpn_loss_cls(9)(np.zeros((2, 2, 18)), yp)
    with pytest.raises(ValueError, match="y_true: expected axis 1"):
        frcnn.rpn_loss_cls(9, data_format="channels_first")(yt, yp)
    with pytest.raises(ValueError, match="num_anchors"):
        frcnn.rpn_loss_cls(0)
    with pytest.raises(ValueError, match="num_anchors"):
        frcnn.rpn_loss_regr(1.5)
    with pytest.raises(ValueError, match="num_classes"):
        frcnn.class_loss_regr(-1)
    with pytest.raises(ValueError, match=r"y_pred: expected last axis of size 4\*num_classes = 8"):
        frcnn.class_loss_regr(2)(np.zeros((1, 3, 16)), np.zeros((1, 3, 4)))
    with pytest.raises(ValueError, match="y_pred"):
        frcnn.class_loss_regr(2)(np.zeros((1, 3, 16)), np.zeros((1, 4, 8)))
    with pytest.raises(ValueError, match="y_pred"):
        frcnn.class_loss_cls(np.zeros((1, 2, 3)), np.zeros((1, 2, 4)))
    with pytest.raises(ValueError, match="y_true"):
        frcnn.class_loss_cls(np.zeros((0, 2, 3)), np.zeros((0, 2, 3)))
    with pytest.raises(ValueError, match="y_true"):
        frcnn.class_loss_cls(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="convention"):
        frcnn.rpn_loss_cls(1, convention="keras")
    with pytest.raises(ValueError, match="constants_dtype"):
        frcnn.rpn_loss_cls(1, constants_dtype="float8")
    with pytest.raises(ValueError, match="constants_dtype"):
        frcnn.class_loss_cls(np.ones((1, 1, 2)), np.ones((1, 1, 2)), constants_dtype="int32")
    with pytest.raises(ValueError, match="data_format"):
        frcnn.rpn_loss_regr(1, data_format="NHWC")
    with pytest.raises(ValueError, match="variants"):
        frcnn.rpn_loss_regr(1, variants=("FRCNN-SWAPPED-BCE",))
    with pytest.raises(ValueError, match="variants"):
        frcnn.rpn_loss_cls(1, variants=("MEAN-NOT-SUM", "EPS-ONCE"))
    with pytest.raises(ValueError, match="wrt"):
        SPEC["rpn_loss_regr"].vjp(
            1.0, "y_true", num_anchors=9, y_true=np.zeros((1, 2, 2, 72)), y_pred=np.zeros((1, 2, 2, 36))
        )
    with pytest.raises(ValueError, match="cotangent"):
        SPEC["class_loss_cls"].vjp(np.ones(2), "y_pred", y_true=np.ones((1, 1, 2)), y_pred=np.ones((1, 1, 2)))
    with pytest.raises(ValueError, match="y_pred"):
        frcnn.rpn_loss_cls(1)(np.zeros((1, 1, 1, 2)), np.array([[[["a"]]]]))


def test_nan_where_undefined():
    # an all-zero probability row makes p / Σp undefined
    with np.errstate(all="raise"):
        assert np.isnan(frcnn.class_loss_cls(np.array([[[1.0, 0.0]]]), np.array([[[0.0, 0.0]]])))
