"""Tests of the ``nn`` family of the oracle (docs/contracts.md) against mpmath and the spec's properties."""

from __future__ import annotations

import subprocess
import sys

import mpmath as mp
import numpy as np
import pytest
from helpers import assert_rel, fd_vjp
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import oracle
from oracle._dtypes import FLOAT_DTYPES, clip_bounds, dtype_name, round_to

# assert_rel subtracts inf from inf where both sides are +inf (they then compare equal).
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in subtract:RuntimeWarning")

# ----------------------------------------------------------------------------- constants
# Clip bounds computed here independently of the oracle, the way the dtypes do it.

EPS = 1e-7


def _bounds(dt: str) -> tuple[float, float]:
    if dt == "bfloat16":
        ml = pytest.importorskip("ml_dtypes")
        e = ml.bfloat16(np.float32(EPS))
        return float(e), float(ml.bfloat16(1.0) - e)
    t = getattr(np, dt)
    return float(t(EPS)), float(t(1.0) - t(EPS))


LO64, HI64 = 1e-7, 1.0 - 1e-7
LO32, HI32 = float(np.float32(EPS)), float(np.float32(1.0) - np.float32(EPS))
LO16, HI16 = float(np.float16(EPS)), float(np.float16(1.0) - np.float16(EPS))
NUM_DTYPES = ("float16", "float32", "float64")

# ----------------------------------------------------------------------------- mpmath references
# Straightforward spec formulas at >= 60 digits.  Where a formula takes log(1 + e^{-|x|})
# the precision grows with |x| (capped: beyond |x| ~ 900 the lost part is below 1e-400).


def _dps(*arrays) -> int:
    m = max((abs(float(v)) for a in arrays for v in np.ravel(a) if np.isfinite(v)), default=0.0)
    return 65 + int(min(400.0, 2.0 * m / 2.3))


def _f(v) -> float:
    return float(v)


def ref_map(fn, *arrays, dps: int = 60) -> np.ndarray:
    arrs = np.broadcast_arrays(*[np.asarray(a, dtype=np.float64) for a in arrays])
    out = np.empty(arrs[0].shape)
    with mp.workdps(dps):
        for idx in np.ndindex(out.shape):
            out[idx] = _f(fn(*[mp.mpf(float(a[idx])) for a in arrs]))
    return out


def ref_rows(fn, *arrays, dps: int = 60) -> np.ndarray:
    """Apply ``fn(list_of_mp_rows...)`` to each last-axis row."""
    arrs = [np.asarray(a, dtype=np.float64) for a in arrays]
    out = np.empty(arrs[0].shape[:-1])
    with mp.workdps(dps):
        for idx in np.ndindex(out.shape):
            out[idx] = _f(fn(*[[mp.mpf(float(v)) for v in a[idx]] for a in arrs]))
    return out


def mp_sigmoid(x):
    return 1 / (1 + mp.exp(-x))


def mp_sce(z, x):
    # z·(−log σ(x)) + (1 − z)·(−log(1 − σ(x))), with σ(x) = 1/(1+e^{−x}), 1 − σ(x) = 1/(1+e^{x})
    return z * mp.log(1 + mp.exp(-x)) + (1 - z) * mp.log(1 + mp.exp(x))


def mp_wce(z, x, q):
    return q * z * mp.log(1 + mp.exp(-x)) + (1 - z) * mp.log(1 + mp.exp(x))


def mp_softmax_row(x):
    s = mp.fsum(mp.exp(v) for v in x)
    return [mp.exp(v) / s for v in x]


def mp_softmax_ce(y, x):
    sm = mp_softmax_row(x)
    return -mp.fsum(yi * mp.log(si) for yi, si in zip(y, sm, strict=True))


def mp_clip(p, lo, hi):
    return min(max(p, mp.mpf(lo)), mp.mpf(hi))


def mp_bce(t, p, conv, lo, hi):
    P = mp_clip(p, lo, hi)
    if conv == "keras-ops":
        return -(t * mp.log(P) + (1 - t) * mp.log(1 - P))
    e = mp.mpf(lo)
    return -(t * mp.log(P + e) + (1 - t) * mp.log(1 - P + e))


def mp_cce(t, p, lo, hi):
    s = mp.fsum(p)
    return -mp.fsum(ti * mp.log(mp_clip(pi / s, lo, hi)) for ti, pi in zip(t, p, strict=True))


def mp_entropy(p):
    return -mp.fsum(0 if v == 0 else v * mp.log(v) for v in p)


def mp_kl_terms(p, q):
    out = []
    for a, b in zip(p, q, strict=True):
        if a == 0:
            out.append(mp.mpf(0))
        elif b == 0:
            out.append(mp.inf)
        else:
            out.append(a * mp.log(a / b))
    return out


def mp_smooth_l1(x):
    return x * x / 2 if abs(x) <= 1 else abs(x) - mp.mpf(1) / 2


# ----------------------------------------------------------------------------- strategies

LOGIT_SPECIALS = [0.0, -0.0, 745.0, -745.0, 1e4, -1e4, 200.0, -200.0, 36.7, -36.7, 1e-300, -1e-300, 1e-20]
LOGITS = st.one_of(st.sampled_from(LOGIT_SPECIALS), st.floats(-60, 60))
WIDE_LOGITS = st.one_of(LOGITS, st.sampled_from([1e308, -1e308, 1e300, -1e300]))
PROB_SPECIALS = [0.0, 1.0, 1e-9, 1 - 1e-9, 0.5, 1e-300, LO64, HI64, LO32, HI32, LO16, HI16, 0.99999994, 2e-7]
PROBS = st.one_of(st.sampled_from(PROB_SPECIALS), st.floats(0, 1))
LABELS = st.one_of(st.sampled_from([0.0, 1.0, 0.5, 1e-9, 1 - 1e-9]), st.floats(0, 1))
SHAPES = hnp.array_shapes(min_dims=1, max_dims=2, max_side=4)


def arr(shape, elements):
    return hnp.arrays(np.float64, shape, elements=elements)


def ok_rel(actual, expected, what=""):
    assert_rel(actual, expected, rtol=1e-12, atol=1e-300, what=what)


def close_fd(actual, expected, what=""):
    assert_rel(actual, expected, rtol=1e-6, atol=1e-6, what=what)


# ============================================================================= values vs mpmath


@given(arr(SHAPES, WIDE_LOGITS))
def test_sigmoid_vs_mpmath(x):
    # stable: no overflow / invalid warnings even at ±1e308
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = oracle.sigmoid(x)
    ok_rel(got, ref_map(mp_sigmoid, x, dps=_dps(x)), "sigmoid")


@given(st.data())
def test_sigmoid_ce_vs_mpmath(data):
    shape = data.draw(SHAPES)
    x = data.draw(arr(shape, WIDE_LOGITS))
    z = data.draw(arr(shape, LABELS))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = oracle.sigmoid_cross_entropy_with_logits(labels=z, logits=x)
    ok_rel(got, ref_map(mp_sce, z, x, dps=_dps(x)), "sigmoid CE")


@given(st.data())
def test_weighted_ce_vs_mpmath(data):
    shape = data.draw(SHAPES)
    x = data.draw(arr(shape, WIDE_LOGITS))
    z = data.draw(arr(shape, LABELS))
    q = data.draw(st.one_of(st.sampled_from([0.0, 1.0, 0.5, 10.0]), st.floats(0, 20)))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = oracle.weighted_cross_entropy_with_logits(z, x, q)
    ok_rel(got, ref_map(mp_wce, z, x, q, dps=_dps(x)), "weighted CE")


def test_weighted_ce_value_beyond_float64_is_inf_without_overflow_error():
    """Found by Hypothesis: q·z·|x| = 10 · 1e308 exceeds float64; its rounding is inf (no FloatingPointError)."""
    z, x = np.array([0.0, 1.0]), np.array([0.0, -1e308])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = oracle.weighted_cross_entropy_with_logits(z, x, 10.0)
    ok_rel(got, ref_map(mp_wce, z, x, 10.0, dps=_dps(x)), "weighted CE")
    assert got[1] == np.inf


@given(arr(SHAPES, LOGITS))
def test_softmax_vs_mpmath(x):
    got = oracle.softmax(x)
    out = np.empty(x.shape)
    with mp.workdps(60):
        for idx in np.ndindex(x.shape[:-1]):
            out[idx] = [float(v) for v in mp_softmax_row([mp.mpf(float(v)) for v in x[idx]])]
    ok_rel(got, out, "softmax")
    ok_rel(oracle.softmax(x.T, axis=0), out.T, "softmax axis=0")


@given(st.data())
def test_softmax_ce_vs_mpmath(data):
    shape = data.draw(SHAPES)
    x = data.draw(arr(shape, LOGITS))
    y = data.draw(arr(shape, LABELS))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = oracle.softmax_cross_entropy_with_logits(labels=y, logits=x)
    ok_rel(got, ref_rows(mp_softmax_ce, y, x, dps=_dps(x)), "softmax CE")
    ok_rel(oracle.softmax_cross_entropy_with_logits(labels=y.T, logits=x.T, axis=0), got, "softmax CE axis=0")


@given(st.data())
def test_sparse_softmax_ce_vs_mpmath(data):
    shape = data.draw(SHAPES)
    x = data.draw(arr(shape, LOGITS))
    k = data.draw(hnp.arrays(np.int64, shape[:-1], elements=st.integers(0, shape[-1] - 1)))
    got = oracle.sparse_softmax_cross_entropy_with_logits(labels=k, logits=x)

    def ref(row_x, kk):
        return -mp.log(mp_softmax_row(row_x)[kk])

    out = np.empty(shape[:-1])
    with mp.workdps(_dps(x)):
        for idx in np.ndindex(out.shape):
            out[idx] = float(ref([mp.mpf(float(v)) for v in x[idx]], int(k[idx])))
    ok_rel(got, out, "sparse softmax CE")


@pytest.mark.parametrize("conv", ["keras-ops", "keras-legacy"])
@pytest.mark.parametrize("dt", NUM_DTYPES + ("bfloat16",))
@given(data=st.data())
def test_binary_crossentropy_vs_mpmath(conv, dt, data):
    shape = data.draw(SHAPES)
    p = data.draw(arr(shape, PROBS))
    t = data.draw(arr(shape, LABELS))
    lo, hi = _bounds(dt)
    got = oracle.binary_crossentropy(t, p, convention=conv, constants_dtype=dt)
    ok_rel(got, ref_map(lambda a, b: mp_bce(a, b, conv, lo, hi), t, p), f"BCE {conv} {dt}")


@pytest.mark.parametrize("dt", ["float32", "float64"])
@given(data=st.data())
def test_categorical_crossentropy_vs_mpmath(dt, data):
    shape = data.draw(SHAPES)
    p = data.draw(arr(shape, PROBS))
    assume(np.all(p.sum(axis=-1) > 0))
    t = data.draw(arr(shape, LABELS))
    conv = data.draw(st.sampled_from(oracle.CONVENTIONS))
    lo, hi = _bounds(dt)
    got = oracle.categorical_crossentropy(t, p, convention=conv, constants_dtype=dt)
    ok_rel(got, ref_rows(lambda a, b: mp_cce(a, b, lo, hi), t, p), f"CCE {dt}")
    ok_rel(oracle.categorical_crossentropy(t.T, p.T, axis=0, constants_dtype=dt), got, "CCE axis=0")


def test_categorical_crossentropy_near_one_and_on_bounds():
    # q ≈ 1 − 1e-9 needs log1p of the complement; rows sitting on both clip bounds.
    rows = np.array([[1e-9, 1 - 1e-9, 0.0], [LO64, HI64, 0.0], [2e-7, 1 - 2e-7, 1e-300], [3.0, 1e-8, 0.0]])
    for t in (np.eye(3), np.full((3, 3), 0.5)):
        tt = np.vstack([t, t[:1]])
        ref = ref_rows(lambda a, b: mp_cce(a, b, LO64, HI64), tt, rows)
        ok_rel(oracle.categorical_crossentropy(tt, rows), ref, "CCE near 1")


@given(arr(SHAPES, PROBS))
def test_entropy_vs_mpmath(p):
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = oracle.entropy(p)
    ok_rel(got, ref_rows(mp_entropy, p), "entropy")


@given(st.data())
def test_kl_vs_mpmath(data):
    shape = data.draw(SHAPES)
    p = data.draw(arr(shape, PROBS))
    q = data.draw(arr(shape, st.one_of(PROBS, st.sampled_from([0.5 + 1e-12, 0.5 - 1e-12]))))
    got = oracle.kl_divergence(p, q)
    ref = np.empty(shape[:-1])
    scale = np.empty(shape[:-1])
    with mp.workdps(60):
        for idx in np.ndindex(ref.shape):
            terms = mp_kl_terms([mp.mpf(float(v)) for v in p[idx]], [mp.mpf(float(v)) for v in q[idx]])
            ref[idx] = float(mp.fsum(terms))
            scale[idx] = float(mp.fsum(abs(tm) for tm in terms))
    # Terms of mixed sign: accuracy relative to Σ|terms| (the sum's condition).
    fin = np.isfinite(ref)
    assert np.array_equal(np.isposinf(got), np.isposinf(ref))
    assert np.all(np.abs(got[fin] - ref[fin]) <= 1e-12 * scale[fin] + 1e-300)
    # Each term on its own (rows of length 1) to 1e-12 relative.
    ok_rel(oracle.kl_divergence(p.reshape(-1, 1), q.reshape(-1, 1)),
           ref_rows(lambda a, b: mp.fsum(mp_kl_terms(a, b)), p.reshape(-1, 1), q.reshape(-1, 1)), "KL terms")


@given(arr(SHAPES, st.one_of(st.sampled_from([1.0, -1.0, 0.0, 1e-300, 1e308, -1e308]), st.floats(-10, 10))))
def test_smooth_l1_vs_mpmath(x):
    ok_rel(oracle.smooth_l1(x), ref_map(mp_smooth_l1, x), "smooth_l1")


# ============================================================================= VJPs vs finite differences

MOD_LOGITS = st.floats(-8, 8)
MOD_PROBS = st.floats(0.01, 0.99)
COT = st.floats(-2, 2)


def _fd(name, wrt, cot, kwargs):
    def f(v):
        return oracle.evaluate(name, **{**kwargs, wrt: v})

    return fd_vjp(f, np.asarray(kwargs[wrt], dtype=np.float64), cot)


def _check_fd(name, wrt, cot, **kwargs):
    assume(not np.any(oracle.kinks(name, wrt, **kwargs)))  # finite differences are meaningless on a kink
    got = oracle.vjp(name, cot, wrt, **kwargs)
    close_fd(got, _fd(name, wrt, cot, kwargs), f"{name} d/d{wrt}")


@given(st.data())
def test_vjp_elementwise_fd(data):
    shape = data.draw(SHAPES)
    x = data.draw(arr(shape, MOD_LOGITS))
    z = data.draw(arr(shape, LABELS))
    c = data.draw(arr(shape, COT))
    q = data.draw(st.floats(0.1, 5))
    _check_fd("sigmoid", "x", c, x=x)
    _check_fd("sigmoid_cross_entropy_with_logits", "logits", c, labels=z, logits=x)
    _check_fd("weighted_cross_entropy_with_logits", "logits", c, labels=z, logits=x, pos_weight=q)
    xs = data.draw(arr(shape, st.floats(-3, 3).filter(lambda v: abs(abs(v) - 1) > 1e-3)))
    _check_fd("smooth_l1", "x", c, x=xs)


@given(st.data())
def test_vjp_softmax_family_fd(data):
    shape = data.draw(SHAPES)
    x = data.draw(arr(shape, MOD_LOGITS))
    y = data.draw(arr(shape, LABELS))  # rows need not sum to 1: the calculus gradient s·Σy − y
    axis = data.draw(st.sampled_from([-1, 0]))
    c = data.draw(arr(shape, COT))
    _check_fd("softmax", "logits", c, logits=x, axis=axis)
    red = shape[:axis] + shape[axis + 1 :] if axis == 0 else shape[:-1]
    cr = data.draw(arr(red, COT))
    _check_fd("softmax_cross_entropy_with_logits", "logits", cr, labels=y, logits=x, axis=axis)
    k = data.draw(hnp.arrays(np.int64, shape[:-1], elements=st.integers(0, shape[-1] - 1)))
    _check_fd("sparse_softmax_cross_entropy_with_logits", "logits", data.draw(arr(shape[:-1], COT)),
              labels=k, logits=x)


@pytest.mark.parametrize("conv", ["keras-ops", "keras-legacy"])
@given(data=st.data())
def test_vjp_probability_losses_fd(conv, data):
    shape = data.draw(SHAPES)
    p = data.draw(arr(shape, MOD_PROBS))
    t = data.draw(arr(shape, LABELS))
    c = data.draw(arr(shape, COT))
    dt = data.draw(st.sampled_from(NUM_DTYPES))
    _check_fd("binary_crossentropy", "output", c, target=t, output=p, convention=conv, constants_dtype=dt)
    axis = data.draw(st.sampled_from([-1, 0]))
    pr = data.draw(arr(shape, st.floats(0.05, 1)))
    assume(np.all(pr / pr.sum(axis=axis, keepdims=True) < 0.99))  # away from the upper clip bound
    red = shape[1:] if axis == 0 else shape[:-1]
    cr = data.draw(arr(red, COT))
    _check_fd("categorical_crossentropy", "output", cr, target=t, output=pr, axis=axis, convention=conv,
              constants_dtype=dt)
    q = data.draw(arr(shape, st.floats(0.05, 1)))
    _check_fd("entropy", "p", cr, p=pr, axis=axis)
    _check_fd("kl_divergence", "p", cr, p=pr, q=q, axis=axis)
    _check_fd("kl_divergence", "q", cr, p=pr, q=q, axis=axis)


# ============================================================================= VJPs vs mpmath.diff


def _mp_grad(fn, point):
    """Gradient of a scalar mp function of len(point) variables, by mpmath.diff."""
    n = len(point)
    with mp.workdps(60):
        pts = [mp.mpf(float(v)) for v in point]
        return np.array([float(mp.diff(fn, pts, tuple(int(i == j) for i in range(n)))) for j in range(n)])


def _close_mp(actual, expected, what):
    assert_rel(actual, expected, rtol=1e-10, atol=1e-14, what=what)


@pytest.mark.parametrize("x", [-30.0, -2.5, 0.0, 0.7, 4.0, 40.0])
def test_vjp_elementwise_mpdiff(x):
    z, q = 0.3, 2.5
    pts = np.array([x])
    _close_mp(oracle.vjp("sigmoid", [1.0], "x", x=pts), _mp_grad(lambda a: mp_sigmoid(a), [x]), "sigmoid")
    _close_mp(oracle.vjp("sigmoid_cross_entropy_with_logits", [1.0], "logits", labels=[z], logits=pts),
              _mp_grad(lambda a: mp_sce(mp.mpf(z), a), [x]), "SCE")
    _close_mp(oracle.vjp("weighted_cross_entropy_with_logits", [1.0], "logits", labels=[z], logits=pts,
                         pos_weight=q), _mp_grad(lambda a: mp_wce(mp.mpf(z), a, mp.mpf(q)), [x]), "WCE")
    if abs(abs(x) - 1) > 0.1:
        _close_mp(oracle.vjp("smooth_l1", [1.0], "x", x=pts), _mp_grad(mp_smooth_l1, [x]), "smooth_l1")


ROWS = [np.array([0.2, 0.5, 0.3]), np.array([0.9, 0.06, 0.04]), np.array([0.1, 2.0, 0.7])]
TARGETS = [np.array([0.0, 1.0, 0.0]), np.array([0.2, 0.3, 0.5]), np.array([1.0, 0.4, 0.0])]


@pytest.mark.parametrize("i", range(3))
def test_vjp_reductions_mpdiff(i):
    p, t = ROWS[i], TARGETS[i]
    x = np.log(p) * 3.0
    c = 1.7
    e = lambda v: [mp.mpf(float(a)) for a in v]  # noqa: E731
    _close_mp(oracle.vjp("softmax_cross_entropy_with_logits", c, "logits", labels=t, logits=x),
              c * _mp_grad(lambda *a: mp_softmax_ce(e(t), list(a)), x), "softmax CE")
    _close_mp(oracle.vjp("sparse_softmax_cross_entropy_with_logits", c, "logits", labels=i, logits=x),
              c * _mp_grad(lambda *a: -mp.log(mp_softmax_row(list(a))[i]), x), "sparse CE")
    w = np.array([0.5, -1.0, 2.0])
    def mp_dot_softmax(*a):
        return mp.fsum(wi * si for wi, si in zip(e(w), mp_softmax_row(list(a)), strict=True))

    _close_mp(oracle.vjp("softmax", w, "logits", logits=x), _mp_grad(mp_dot_softmax, x), "softmax")
    for conv in oracle.CONVENTIONS:
        for dt in NUM_DTYPES:
            lo, hi = _bounds(dt)
            _close_mp(oracle.vjp("categorical_crossentropy", c, "output", target=t, output=p, convention=conv,
                                 constants_dtype=dt),
                      c * _mp_grad(lambda *a, lo=lo, hi=hi: mp_cce(e(t), list(a), lo, hi), p), f"CCE {conv} {dt}")
            pe = np.clip(p, 0.01, 0.99)
            got = oracle.vjp("binary_crossentropy", np.ones(3), "output", target=t, output=pe, convention=conv,
                             constants_dtype=dt)
            ref = _mp_grad(lambda *a, c_=conv, lo=lo, hi=hi: mp.fsum(
                mp_bce(ti, ai, c_, lo, hi) for ti, ai in zip(e(t), a, strict=True)), pe)
            _close_mp(got, ref, f"BCE {conv} {dt}")
    _close_mp(oracle.vjp("entropy", c, "p", p=p), c * _mp_grad(lambda *a: mp_entropy(list(a)), p), "entropy")
    q = ROWS[(i + 1) % 3]
    _close_mp(oracle.vjp("kl_divergence", c, "p", p=p, q=q),
              c * _mp_grad(lambda *a: mp.fsum(mp_kl_terms(list(a), e(q))), p), "KL dp")
    _close_mp(oracle.vjp("kl_divergence", c, "q", p=p, q=q),
              c * _mp_grad(lambda *a: mp.fsum(mp_kl_terms(e(p), list(a))), q), "KL dq")


@pytest.mark.parametrize("t", [[1.0, 0.0, 0.0], [0.9, 0.1, 0.0], [0.5, 0.25, 0.25]])
def test_cce_vjp_accurate_near_one(t):
    # q_0 = 1 − 1e-6 (inside the clip): the gradient must not cancel 1 against 1/q_0.
    p = np.array([1 - 1e-6, 6e-7, 4e-7])
    t = np.array(t)
    got = oracle.vjp("categorical_crossentropy", 1.0, "output", target=t, output=p)
    e = [mp.mpf(float(a)) for a in t]
    ref = _mp_grad(lambda *a: mp_cce(e, list(a), LO64, HI64), p)
    assert_rel(got, ref, rtol=1e-12, atol=1e-300, what="CCE gradient near q = 1")


# ============================================================================= clip conventions in gradients


@pytest.mark.parametrize("conv", oracle.CONVENTIONS)
@pytest.mark.parametrize("dt", NUM_DTYPES)
def test_bce_gradient_clip_convention(conv, dt):
    lo, hi = _bounds(dt)
    t = np.array([1.0, 0.0, 0.3, 0.3, 1.0])
    p = np.array([1e-9, -0.5, 1.0 if hi < 1 else 1.5, lo, hi])
    g = oracle.vjp("binary_crossentropy", np.ones(5), "output", target=t, output=p, convention=conv,
                   constants_dtype=dt)
    assert np.all(g[:3] == 0.0), "outside [lo, hi] the gradient is 0"
    e = lo if conv == "keras-legacy" else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        exp = -t[3:] / (p[3:] + e) + (1 - t[3:]) / (1 - p[3:] + e)
    assert_rel(g[3:], exp, rtol=1e-12, what="gradient passes at the bounds (inclusive)")
    kin = oracle.kinks("binary_crossentropy", "output", target=t, output=p, convention=conv, constants_dtype=dt)
    assert kin.tolist() == [False, False, False, True, True]


def test_cce_gradient_zero_through_clipped_entries_and_row_kinks():
    t = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    p = np.array([[1e-9, 0.5, 0.5], [0.2, 0.3, 0.5], [LO64, HI64, 0.0]])
    g = oracle.vjp("categorical_crossentropy", np.ones(3), "output", target=t, output=p)
    # Row 0: the only labelled entry is clipped at lo, so the loss is locally constant.
    assert np.all(g[0] == 0.0)
    kin = oracle.kinks("categorical_crossentropy", "output", target=t, output=p)
    assert kin.tolist() == [[False] * 3, [False] * 3, [False] * 3]  # row 2: the labelled entry is off-bound
    t2 = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    kin2 = oracle.kinks("categorical_crossentropy", "output", target=t2, output=p)
    assert kin2.tolist() == [[False] * 3, [False] * 3, [True] * 3]  # labelled entry at q = lo: whole row


def test_kink_masks():
    # smooth L1 is C¹ at |x| = 1 (both pieces have slope sign(x)): no kink, the derivative is ±1
    x = np.array([-1.0, 1.0, 0.5, -2.0])
    assert not oracle.kinks("smooth_l1", "x", x=x).any()
    assert oracle.vjp("smooth_l1", np.ones(4), "x", x=x).tolist() == [-1.0, 1.0, 0.5, -1.0]
    for name, extra in (("sigmoid_cross_entropy_with_logits", {}), ("weighted_cross_entropy_with_logits",
                                                                   {"pos_weight": 2.0})):
        got = oracle.kinks(name, "logits", labels=[0.0, 1.0, 0.5, 0.3], logits=[0.0, 2.0, -3.0, -0.0], **extra)
        assert not got.any(), "the stable cross-entropies are smooth at x = 0"
    p = np.array([[0.0, 0.4, 0.6]])
    q = np.array([[0.2, 0.0, 0.8]])
    assert oracle.kinks("entropy", "p", p=p).tolist() == [[True, False, False]]
    assert oracle.kinks("kl_divergence", "p", p=p, q=q).tolist() == [[True, True, False]]
    assert oracle.kinks("kl_divergence", "q", p=p, q=q).tolist() == [[False, True, False]]
    for name, kw in [("sigmoid", {"x": x}), ("softmax", {"logits": x}),
                     ("sigmoid_cross_entropy_with_logits", {"labels": x, "logits": x}),
                     ("softmax_cross_entropy_with_logits", {"labels": x, "logits": x})]:
        wrt = oracle.spec(name).diff_args[0]
        assert not oracle.kinks(name, wrt, **kw).any()


# ============================================================================= properties


@pytest.mark.parametrize("x0", [0.0, -0.0])
@pytest.mark.parametrize("z", [0.0, 1.0, 0.3, 0.5, 1e-9])
@pytest.mark.parametrize("q", [1.0, 2.5, 0.0, 10.0])
def test_cross_entropies_exact_derivative_at_zero(x0, z, q):
    """TF-WCE-GRAD-AT-ZERO: x = 0 is no kink; the exact derivative is required there."""
    zs, xs = np.array([z]), np.array([x0])
    # SCE: σ(0) − z, and the mpmath derivative of the exact (non-stable) formula
    sce = oracle.vjp("sigmoid_cross_entropy_with_logits", [1.0], "logits", labels=zs, logits=xs)
    assert_rel(sce, [0.5 - z], rtol=1e-15, atol=0.0, what="SCE'(0)")
    _close_mp(sce, _mp_grad(lambda a: mp_sce(mp.mpf(z), a), [0.0]), "SCE'(0) mpmath")
    assert not oracle.kinks("sigmoid_cross_entropy_with_logits", "logits", labels=zs, logits=xs).any()
    # WCE: (1 − z) − (1 + (q − 1)z)/2 (TensorFlow 2.21's op returns 1 − z here)
    wce = oracle.vjp("weighted_cross_entropy_with_logits", [1.0], "logits", labels=zs, logits=xs, pos_weight=q)
    with mp.workdps(60):
        exact = float((1 - mp.mpf(z)) - (1 + (mp.mpf(q) - 1) * mp.mpf(z)) / 2)
    # (1 − z)/2 − q·z/2 cancels: accurate to a few ulps of the terms
    assert_rel(wce, [exact], rtol=1e-15, atol=1e-15 * (1 + q * z), what="WCE'(0)")
    _close_mp(wce, _mp_grad(lambda a: mp_wce(mp.mpf(z), a, mp.mpf(q)), [0.0]), "WCE'(0) mpmath")
    assert not oracle.kinks("weighted_cross_entropy_with_logits", "logits", labels=zs, logits=xs,
                            pos_weight=q).any()
    # one-sided mpmath derivatives agree: the function is differentiable at 0
    with mp.workdps(60):
        left = mp.diff(lambda a: mp_wce(mp.mpf(z), a, mp.mpf(q)), 0, direction=-1)
        right = mp.diff(lambda a: mp_wce(mp.mpf(z), a, mp.mpf(q)), 0, direction=1)
        assert abs(left - right) < mp.mpf(10) ** -20


def test_tf_wce_grad_at_zero_variant():
    """The divergence TF-WCE-GRAD-AT-ZERO: relu'(0) = abs'(0) = 0 drop σ(0) = 1/2 from the softplus term.

    At x = 0 the VJP is 1 − z (weighted CE, TensorFlow 2.21's op) and −z (sigmoid CE written with relu and
    abs); elsewhere, and for the values, the variant is the spec.
    """
    z = np.array([0.0, 0.3, 1.0, 0.3])
    x = np.array([0.0, 0.0, 0.0, 1.5])
    var = ("TF-WCE-GRAD-AT-ZERO",)
    for name, extra, at_zero in (("weighted_cross_entropy_with_logits", {"pos_weight": 2.5}, 1.0 - z[:3]),
                                 ("sigmoid_cross_entropy_with_logits", {}, -z[:3])):
        kw = {"labels": z, "logits": x, **extra}
        got = oracle.vjp(name, np.ones(4), "logits", variants=var, **kw)
        spec = oracle.vjp(name, np.ones(4), "logits", **kw)
        assert got[:3].tolist() == at_zero.tolist() and got[3] == spec[3], name
        assert np.all(got[:3] != spec[:3]), name
        assert np.array_equal(oracle.evaluate(name, variants=var, **kw), oracle.evaluate(name, **kw))


@pytest.mark.parametrize("x1", [1.0, -1.0])
def test_smooth_l1_differentiable_at_one(x1):
    with mp.workdps(60):
        left = mp.diff(mp_smooth_l1, mp.mpf(x1), direction=-1)
        right = mp.diff(mp_smooth_l1, mp.mpf(x1), direction=1)
        assert abs(left - right) < mp.mpf(10) ** -20
    assert oracle.vjp("smooth_l1", [1.0], "x", x=[x1]).tolist() == [float(left)] == [x1]
    assert not oracle.kinks("smooth_l1", "x", x=[x1]).any()


@given(st.data())
def test_stable_sigmoid_ce_equals_exact_forms(data):
    x = data.draw(arr(SHAPES, st.floats(-1e300, 1e300)))
    z = data.draw(arr(x.shape, LABELS))
    got = oracle.sigmoid_cross_entropy_with_logits(labels=z, logits=x)
    # The spec's stable form, literally, agrees up to rounding of its largest term.
    stable = np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x)))
    assert np.all(np.abs(got - stable) <= 4e-16 * (np.abs(x) + 1))
    # The exact form (naive, in float64) where it is well conditioned.
    xm = np.clip(x, -5, 5)
    s = 1 / (1 + np.exp(-xm))
    assert_rel(oracle.sigmoid_cross_entropy_with_logits(labels=z, logits=xm),
               z * -np.log(s) + (1 - z) * -np.log(1 - s), rtol=1e-12, atol=1e-15)


@given(st.data())
def test_weighted_ce_with_pos_weight_one_is_sigmoid_ce(data):
    x = data.draw(arr(SHAPES, WIDE_LOGITS))
    z = data.draw(arr(x.shape, LABELS))
    assert_rel(oracle.weighted_cross_entropy_with_logits(z, x, 1.0),
               oracle.sigmoid_cross_entropy_with_logits(labels=z, logits=x), rtol=1e-14, atol=1e-300)


@given(st.data())
def test_softmax_ce_one_hot_equals_sparse(data):
    x = data.draw(arr(SHAPES, LOGITS))
    k = data.draw(hnp.arrays(np.int64, x.shape[:-1], elements=st.integers(0, x.shape[-1] - 1)))
    y = np.eye(x.shape[-1])[k]
    assert_rel(oracle.softmax_cross_entropy_with_logits(labels=y, logits=x),
               oracle.sparse_softmax_cross_entropy_with_logits(labels=k, logits=x), rtol=1e-14, atol=1e-300)
    c = np.linspace(-1, 1, max(1, int(np.prod(x.shape[:-1])))).reshape(x.shape[:-1])
    assert_rel(oracle.vjp("softmax_cross_entropy_with_logits", c, "logits", labels=y, logits=x),
               oracle.vjp("sparse_softmax_cross_entropy_with_logits", c, "logits", labels=k, logits=x),
               rtol=1e-14, atol=1e-300)


@given(st.data())
def test_cross_entropy_is_entropy_plus_kl(data):
    shape = data.draw(st.tuples(st.integers(1, 3), st.integers(2, 5)))
    a = data.draw(arr(shape, st.one_of(st.just(0.0), st.floats(1e-3, 1.0))))
    b = data.draw(arr(shape, st.floats(1e-3, 1.0)))
    assume(np.all(a.sum(-1) > 0))
    p = a / a.sum(-1, keepdims=True)
    q = b / b.sum(-1, keepdims=True)
    assume(np.all((q > 2e-7) & (q < 1 - 2e-7)))  # no clipping
    ce = oracle.categorical_crossentropy(p, q)
    h = oracle.entropy(p)
    kl = oracle.kl_divergence(p, q / q.sum(-1, keepdims=True))
    assert_rel(ce, h + kl, rtol=1e-12, atol=1e-15)
    assert np.all(oracle.kl_divergence(p, p) == 0.0)
    assert np.all(kl >= -1e-15)


def test_keras_docstring_example_and_spec_values():
    got = oracle.categorical_crossentropy([[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
    assert np.allclose(got, [0.0513, 2.303], atol=5e-4)
    assert_rel(got, [-np.log(0.95), -np.log(0.1)], rtol=1e-14)
    got = oracle.categorical_crossentropy([[1, 0, 0], [0, 1, 0], [0, 0, 1]],
                                          [[.9, .05, .05], [.05, .89, .06], [.05, .01, .94]])
    assert np.round(got, 5).tolist() == [0.10536, 0.11653, 0.06188]
    c1 = oracle.binary_crossentropy(1.0, 0.0, convention="keras-legacy")
    c2 = oracle.binary_crossentropy(1.0, 0.0, convention="keras-ops")
    assert round(float(c1), 4) == 15.4249 and round(float(c2), 4) == 16.1181
    assert_rel(c1, -np.log(2e-7), rtol=1e-14)
    assert_rel(c2, -np.log(1e-7), rtol=1e-14)
    assert float(oracle.sigmoid_cross_entropy_with_logits(labels=1.0, logits=0.0)) == np.log(2)


def test_float32_constants_effect():
    p, t = 0.99999994, 0.0
    f32 = oracle.binary_crossentropy(t, p, constants_dtype="float32")
    f64 = oracle.binary_crossentropy(t, p)
    assert_rel(f32, -np.log1p(-0.99999988079071044921875), rtol=1e-14)  # clipped to 0.99999988
    assert_rel(f32, 23 * np.log(2), rtol=1e-14)
    assert_rel(f64, -np.log1p(-HI64), rtol=1e-14)
    assert abs(f32 - f64) / f64 > 0.01
    # FP16-CLIP: 1 − 1e-7 rounds to 1.0 in float16, so p = 1 is not clipped.
    assert np.isposinf(oracle.binary_crossentropy(0.0, 1.0, constants_dtype="float16"))
    assert np.isnan(oracle.binary_crossentropy(1.0, 1.0, constants_dtype="float16"))  # 0·log 0
    assert np.isfinite(oracle.binary_crossentropy(0.0, 1.0, constants_dtype="float16", convention="keras-legacy"))


def test_undefined_and_special_values():
    assert np.isnan(oracle.categorical_crossentropy([[1.0, 0.0]], [[0.0, 0.0]])).all()  # 0/0
    assert np.isposinf(oracle.kl_divergence([0.5, 0.5], [1.0, 0.0]))
    assert oracle.kl_divergence([0.0, 1.0], [0.0, 1.0]) == 0.0
    assert oracle.entropy([0.0, 1.0]) == 0.0
    assert oracle.softmax_cross_entropy_with_logits(labels=[1.0, 0.0], logits=[1e308, -1e308]) == 0.0
    assert np.isposinf(oracle.vjp("entropy", 1.0, "p", p=[0.0, 1.0])[0])


# ============================================================================= dtypes helper


def test_round_to_matches_numpy_and_ml_dtypes():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(2000) * 10.0 ** rng.integers(-40, 40, 2000),
                        [0.0, -0.0, np.inf, -np.inf, 1e39, -1e39, 1e-50, 65520.0, 3.4e38]])
    for dt in ("float16", "float32"):
        with np.errstate(over="ignore"):
            exp = x.astype(dt).astype(np.float64)
        assert np.array_equal(round_to(dt, x), exp)
    assert np.array_equal(round_to("float64", x), x)
    ml = pytest.importorskip("ml_dtypes")
    with np.errstate(over="ignore"):
        exp = x.astype(np.float32).astype(ml.bfloat16).astype(np.float64)
    assert np.array_equal(round_to("bfloat16", x), exp)
    assert np.isnan(round_to("bfloat16", np.nan))
    # Ties go to even: spacing of bfloat16 just above 1 is 2^-7.
    assert round_to("bfloat16", 1 + 2.0**-8) == 1.0
    assert round_to("bfloat16", 1 + 3 * 2.0**-8) == 1 + 2.0**-6
    assert isinstance(round_to("float32", 0.1), np.float64)


@pytest.mark.parametrize("dt", FLOAT_DTYPES)
def test_clip_bounds(dt):
    lo, hi = clip_bounds(EPS, dt)
    assert (lo, hi) == _bounds(dt)
    assert hi == round_to(dt, 1.0 - EPS)  # Keras 3 rounds the Python float 1 − ε: same result
    for eps in (1e-6,):
        assert clip_bounds(eps, dt)[1] == round_to(dt, 1.0 - eps)
    assert clip_bounds(EPS, "float32") == (LO32, 1 - 2.0**-23)
    assert clip_bounds(EPS, "float16")[1] == 1.0


def test_dtype_name():
    assert dtype_name(np.float32) == "float32"
    assert dtype_name(np.dtype("float16")) == "float16"
    assert dtype_name(float) == "float64"
    assert dtype_name("bfloat16") == "bfloat16"
    for bad in ("float8", "int32", np.int64, None):
        with pytest.raises(ValueError, match="constants_dtype"):
            dtype_name(bad)


# ============================================================================= bad input


def test_bad_inputs():
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match="labels"):
        oracle.sparse_softmax_cross_entropy_with_logits(labels=[0, 3], logits=x)
    with pytest.raises(ValueError, match="labels"):
        oracle.sparse_softmax_cross_entropy_with_logits(labels=[0, -1], logits=x)
    with pytest.raises(ValueError, match="labels"):
        oracle.sparse_softmax_cross_entropy_with_logits(labels=[0.5, 1], logits=x)
    with pytest.raises(ValueError, match="labels"):
        oracle.sparse_softmax_cross_entropy_with_logits(labels=[0, 1, 2], logits=x)
    with pytest.raises(ValueError, match="labels"):
        oracle.sparse_softmax_cross_entropy_with_logits(labels=[[0, 1]], logits=x)
    with pytest.raises(ValueError, match="labels"):
        oracle.sparse_softmax_cross_entropy_with_logits(labels=[np.nan, 1], logits=x)
    with pytest.raises(ValueError, match="labels"):
        oracle.sigmoid_cross_entropy_with_logits(labels=np.zeros(3), logits=x)
    with pytest.raises(ValueError, match="labels"):
        oracle.sigmoid_cross_entropy_with_logits(logits=x)
    with pytest.raises(ValueError, match="labels"):
        oracle.weighted_cross_entropy_with_logits(np.zeros((3, 2)), x, 1.0)
    with pytest.raises(ValueError, match="pos_weight"):
        oracle.weighted_cross_entropy_with_logits(x, x, np.ones(2))
    with pytest.raises(ValueError, match="labels"):
        oracle.softmax_cross_entropy_with_logits(labels=np.zeros((2, 4)), logits=x)
    with pytest.raises(ValueError, match="axis"):
        oracle.softmax_cross_entropy_with_logits(labels=x, logits=x, axis=2)
    with pytest.raises(ValueError, match="axis"):
        oracle.softmax(x, axis=-3)
    with pytest.raises(ValueError, match="axis"):
        oracle.entropy(x, axis=1.0)
    with pytest.raises(ValueError, match="logits"):
        oracle.softmax(1.0)
    with pytest.raises(ValueError, match="logits"):
        oracle.softmax(["a", "b"])
    with pytest.raises(ValueError, match="target"):
        oracle.binary_crossentropy(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="target"):
        oracle.categorical_crossentropy(np.zeros((2, 2)), x)
    with pytest.raises(ValueError, match="axis"):
        oracle.categorical_crossentropy(x, x, axis=5)
    with pytest.raises(ValueError, match="convention"):
        oracle.binary_crossentropy(x, x, convention="keras")
    with pytest.raises(ValueError, match="convention"):
        oracle.categorical_crossentropy(x, x, convention="C1")
    with pytest.raises(ValueError, match="constants_dtype"):
        oracle.binary_crossentropy(x, x, constants_dtype="float128")
    with pytest.raises(ValueError, match="q"):
        oracle.kl_divergence(x, np.zeros(3))
    with pytest.raises(ValueError, match="wrt"):
        oracle.vjp("kl_divergence", np.zeros(2), "r", p=x, q=x)
    with pytest.raises(ValueError, match="wrt"):
        oracle.kinks("sigmoid", "logits", x=x)
    with pytest.raises(ValueError, match="cotangent"):
        oracle.vjp("softmax_cross_entropy_with_logits", np.zeros(3), "logits", labels=x, logits=x)


# ============================================================================= records and packaging

NAMES = ("sigmoid", "softmax", "sigmoid_cross_entropy_with_logits", "weighted_cross_entropy_with_logits",
         "sigmoid_focal_loss", "softmax_cross_entropy_with_logits", "sparse_softmax_cross_entropy_with_logits",
         "binary_crossentropy",
         "categorical_crossentropy", "entropy", "kl_divergence", "smooth_l1")


def test_specs_records():
    from oracle import nn

    assert tuple(s.name for s in nn.SPECS) == NAMES
    assert tuple(nn.__all__) == NAMES
    for s in nn.SPECS:
        expected_variants = {"categorical_crossentropy": ("CCE-UNNORMALISED",),
                             "sigmoid_cross_entropy_with_logits": ("TF-WCE-GRAD-AT-ZERO",),
                             "weighted_cross_entropy_with_logits": ("TF-WCE-GRAD-AT-ZERO",)}.get(s.name, ())
        assert s.family == "nn" and s.n_outputs == 1 and s.variants == expected_variants
        assert s.conventions == (s.name in ("binary_crossentropy", "categorical_crossentropy"))
        assert oracle.SPECS[s.name] is s
        assert getattr(oracle, s.name) is getattr(nn, s.name)
    assert oracle.spec("kl_divergence").diff_args == ("p", "q")
    assert oracle.evaluate("smooth_l1", x=[0.5, 2.0]).tolist() == [0.125, 1.5]
    assert oracle.evaluate("softmax", logits=[0.0, 0.0], axis=-1).tolist() == [0.5, 0.5]
    out = oracle.evaluate("sigmoid", x=0.0)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == ()


def test_oracle_never_imports_tensorflow():
    code = "import oracle, sys; assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


def test_softmax_ce_gradient_confident_row_matches_mpmath():
    """softmax·Σy − y for a confident row: the dominant entry is 1 − s summed from the others, not subtracted."""
    x = np.array([30.0, 0.0, -1.0])
    z = sum(mp.e ** mp.mpf(v) for v in x)
    want = [float(mp.e ** mp.mpf(x[0]) / z - 1), *(float(mp.e ** mp.mpf(v) / z) for v in x[1:])]
    for name, labels in (("sparse_softmax_cross_entropy_with_logits", 0),
                         ("softmax_cross_entropy_with_logits", np.array([1.0, 0.0, 0.0]))):
        assert_rel(oracle.vjp(name, 1.0, "logits", labels=labels, logits=x), want, rtol=1e-13)
