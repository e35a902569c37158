"""CenterNet oracle (docs/contracts.md) against straightforward mpmath references."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from helpers import assert_rel, fd_vjp, to_mp
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from oracle import centernet

EPS = mp.mpf("1e-4")
DTYPES = ("float64", "float32", "float16", "bfloat16")
SPEC = {s.name: s for s in centernet.SPECS}


# --------------------------------------------------------------------------- independent references


def eps_c(dtype: str) -> mp.mpf:
    """1e-6 rounded to ``dtype`` (NumPy casts; bfloat16 as 8 significant bits via mpmath)."""
    if dtype == "bfloat16":
        with mp.workprec(8):
            return +mp.mpf(1e-6)
    return mp.mpf(float(getattr(np, dtype)(1e-6)))


def ref_focal(p, h, dtype="float64"):
    """The contract's focal loss on mpmath object arrays."""
    e = eps_c(dtype)
    pos_loss, neg_loss, num_pos = [], [], 0
    for pi, hi in zip(p.ravel(), h.ravel(), strict=True):
        if hi == 1:
            num_pos += 1
            pos_loss.append(-mp.log(min(max(pi, e), 1)) * (1 - pi) ** 2)
        elif hi < 1:
            neg_loss.append(-mp.log(min(max(1 - pi, e), 1)) * pi**2 * (1 - hi) ** 4)
    pos, neg = mp.fsum(pos_loss), mp.fsum(neg_loss)
    return (pos + neg) / num_pos if num_pos > 0 else neg


def ref_reg_l1(y_pred, y_true, indices, mask, per_element=False):
    """Σ |y_true·M − g·M| / (Σ M + ε) with explicit loops over (b, k, c)."""
    b_n, _, w_n, _ = y_pred.shape
    total, msum, count = [], [], 0
    for b in range(b_n):
        for k in range(indices.shape[1]):
            row, col = divmod(int(indices[b, k]), w_n)
            for c in range(2):
                m = mask[b, k]
                total.append(abs(y_true[b, k, c] * m - y_pred[b, row, col, c] * m))
                msum.append(m)
                count += 1
    den = mp.fsum(msum) + (EPS * count if per_element else EPS)
    return mp.fsum(total) / den


def ref_loss(args, dtype="float64", per_element=False):
    hm_p, wh_p, reg_p, hm_t, wh_t, reg_t, mask, idx = args
    return (
        ref_focal(hm_p, hm_t, dtype)
        + mp.mpf("0.1") * ref_reg_l1(wh_p, wh_t, idx, mask, per_element)
        + ref_reg_l1(reg_p, reg_t, idx, mask, per_element)
    )


def mp_args(args):
    *floats, idx = args
    return [to_mp(a) for a in floats] + [np.asarray(idx)]


# --------------------------------------------------------------------------- strategies

PRED_SPECIALS = [0.0, 1.0, 1e-9, 1 - 1e-9, 1e-6, 1 - 1e-6, 0.5, 1e-300, -0.25, 1.25]
TRUE_SPECIALS = [0.0, 1.0, 1.0, 1.5, 0.999, 1e-9, 0.5]


@st.composite
def heatmaps(draw, peaks=None):
    b, h, w, k = draw(st.integers(2, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 3))
    p = draw(hnp.arrays(np.float64, (b, h, w, k), elements=st.one_of(st.sampled_from(PRED_SPECIALS), st.floats(0, 1))))
    t = draw(hnp.arrays(np.float64, (b, h, w, k), elements=st.one_of(st.sampled_from(TRUE_SPECIALS), st.floats(0, 1))))
    with_peaks = draw(st.booleans()) if peaks is None else peaks
    if not with_peaks:
        t = np.where(t == 1.0, 0.75, t)
    return p, t


@st.composite
def reg_case(draw, b=None):
    b = draw(st.integers(2, 3)) if b is None else b
    h, w, k = draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 6))
    y_pred = draw(hnp.arrays(np.float64, (b, h, w, 2), elements=st.floats(-10, 10)))
    y_true = draw(hnp.arrays(np.float64, (b, k, 2), elements=st.one_of(st.floats(-10, 10), st.just(0.0))))
    indices = draw(hnp.arrays(np.int64, (b, k), elements=st.integers(0, h * w - 1)))
    kind = draw(st.sampled_from(["zero", "one", "mixed", "mixed"]))
    if kind == "zero":
        mask = np.zeros((b, k))
    elif kind == "one":
        mask = np.ones((b, k))
    else:
        mask = draw(hnp.arrays(np.float64, (b, k), elements=st.sampled_from([0.0, 1.0])))
    return y_pred, y_true, indices, mask


@st.composite
def loss_args(draw):
    hm_p, hm_t = draw(heatmaps())
    b = hm_p.shape[0]
    wh_p, wh_t, idx, mask = draw(reg_case(b))
    h, w = wh_p.shape[1:3]
    reg_p = draw(hnp.arrays(np.float64, (b, h, w, 2), elements=st.floats(-1, 1)))
    reg_t = draw(hnp.arrays(np.float64, wh_t.shape, elements=st.floats(0, 1)))
    return [hm_p, wh_p, reg_p, hm_t, wh_t, reg_t, mask, idx]


# --------------------------------------------------------------------------- values against mpmath


@given(heatmaps(), st.sampled_from(DTYPES))
def test_focal_loss_matches_mpmath(case, dtype):
    p, t = case
    got = centernet.focal_loss(p, t, constants_dtype=dtype)
    assert got.dtype == np.float64 and got.shape == ()
    assert_rel(got, float(ref_focal(to_mp(p), to_mp(t), dtype)), what=f"focal_loss {dtype}")


@given(reg_case(), st.booleans())
def test_reg_l1_loss_matches_mpmath(case, per_element):
    y_pred, y_true, idx, mask = case
    variants = ("EPS-PER-ELEMENT",) if per_element else ()
    got = centernet.reg_l1_loss(y_pred, y_true, idx, mask, variants=variants)
    assert_rel(got, float(ref_reg_l1(to_mp(y_pred), to_mp(y_true), idx, to_mp(mask), per_element)))


@given(loss_args(), st.sampled_from(DTYPES), st.booleans())
@settings(max_examples=40)
def test_loss_matches_mpmath(args, dtype, per_element):
    variants = ("EPS-PER-ELEMENT",) if per_element else ()
    got = centernet.loss(args, constants_dtype=dtype, variants=variants)
    assert_rel(got, float(ref_loss(mp_args(args), dtype, per_element)), what="loss")


def test_focal_loss_tiny_terms_keep_relative_accuracy():
    # −log(1 − p) for p = 1e-9 must not lose digits to 1 − p.
    p = np.full((1, 1, 2, 1), 1e-9)
    t = np.array([[[[0.0], [0.5]]]])
    assert_rel(centernet.focal_loss(p, t), float(ref_focal(to_mp(p), to_mp(t))), rtol=1e-14)


# --------------------------------------------------------------------------- spec properties


def test_no_positive_branch_is_not_divided():
    p = np.array([[[[0.3], [0.6]]]])
    t = np.array([[[[0.5], [0.0]]]])  # no exact 1.0
    want = -math.log(0.7) * 0.09 * 0.5**4 - math.log(0.4) * 0.36
    assert_rel(centernet.focal_loss(p, t), want, rtol=1e-14)
    # one positive: (pos + neg) / 1
    t2 = np.array([[[[1.0], [0.0]]]])
    assert_rel(centernet.focal_loss(p, t2), -math.log(0.3) * 0.49 - math.log(0.4) * 0.36, rtol=1e-14)
    # two positives: divided by 2; values above 1 are neither positive nor negative
    t3 = np.array([[[[1.0], [1.0]]], [[[1.5], [1.2]]]])
    p3 = np.array([[[[0.3], [0.6]]], [[[0.9], [0.1]]]])
    assert_rel(centernet.focal_loss(p3, t3), (-math.log(0.3) * 0.49 - math.log(0.6) * 0.16) / 2, rtol=1e-14)
    # no positive and no negative at all: exactly 0
    assert centernet.focal_loss(p, np.full_like(p, 2.0)) == 0.0


def test_focal_clip_bounds():
    e32 = float(np.float32(1e-6))
    p = np.array([[[[0.0], [1.0], [1.0 - 1e-7]]]])
    t = np.array([[[[1.0], [0.0], [0.0]]]])
    got = centernet.focal_loss(p, t, constants_dtype="float32")
    want = -math.log(e32) * 1.0 - math.log(e32) * 1.0 - math.log(e32) * (1 - 1e-7) ** 2
    assert_rel(got, want, rtol=1e-14)
    k = SPEC["focal_loss"].kinks("hm_pred", hm_pred=p, hm_true=t, constants_dtype="float32")
    assert not k.any()  # 0 and 1 − 1e-7 are clipped but sit on no bound (ε_c, 1)
    p2 = np.array([[[[e32], [1.0], [0.0], [0.5]]]])
    t2 = np.array([[[[1.0], [1.0], [0.2], [0.2]]]])
    assert SPEC["focal_loss"].kinks("hm_pred", hm_pred=p2, hm_true=t2, constants_dtype="float32").ravel().tolist() == [
        True,
        True,
        True,
        False,
    ]


def test_eps_added_once_in_reg_l1():
    y_pred = np.zeros((1, 1, 3, 2))
    y_true = np.array([[[3.0, -1.0], [5.0, 5.0], [0.5, 0.0]]])
    idx = np.array([[0, 1, 2]])
    mask = np.array([[1.0, 0.0, 1.0]])
    got = centernet.reg_l1_loss(y_pred, y_true, idx, mask)
    assert got == 4.5 / (4 + 1e-4)
    assert got != 4.5 / (4 + 6e-4)
    assert_rel(
        centernet.reg_l1_loss(y_pred, y_true, idx, mask, variants="EPS-PER-ELEMENT"), 4.5 / (4 + 6e-4), rtol=1e-15
    )


def test_zero_mask_gives_exact_zero():
    y_pred = np.full((2, 2, 3, 2), 7.0)
    y_true = np.full((2, 4, 2), -3.0)  # targets non-zero where the mask is zero
    idx = np.array([[0, 1, 5, 5], [2, 2, 3, 4]])
    mask = np.zeros((2, 4))
    assert centernet.reg_l1_loss(y_pred, y_true, idx, mask) == 0.0
    assert np.all(SPEC["reg_l1_loss"].vjp(1.0, "y_pred", y_pred=y_pred, y_true=y_true, indices=idx, mask=mask) == 0.0)


def test_duplicate_indices_accumulate():
    y_pred = np.zeros((1, 2, 2, 2))
    y_true = np.array([[[1.0, -2.0], [3.0, 4.0], [-1.0, 1.0]]])
    idx = np.array([[3, 3, 0]])
    mask = np.array([[1.0, 1.0, 1.0]])
    g = SPEC["reg_l1_loss"].vjp(1.0, "y_pred", y_pred=y_pred, y_true=y_true, indices=idx, mask=mask)
    den = 6 + 1e-4
    want = np.zeros((1, 2, 2, 2))
    want[0, 1, 1] = [-2 / den, 0.0]  # −sign(1) − sign(3) ; −sign(−2) − sign(4)
    want[0, 0, 0] = [1 / den, -1 / den]
    assert_rel(g, want, rtol=1e-15)


def test_loss_combines_the_three_terms():
    rng = np.random.default_rng(3)
    args = [
        rng.uniform(0, 1, (2, 3, 4, 2)),
        rng.normal(size=(2, 3, 4, 2)),
        rng.normal(size=(2, 3, 4, 2)),
        np.where(rng.random((2, 3, 4, 2)) < 0.1, 1.0, rng.uniform(0, 1, (2, 3, 4, 2))),
        rng.normal(size=(2, 5, 2)),
        rng.normal(size=(2, 5, 2)),
        (rng.random((2, 5)) < 0.5).astype(float),
        rng.integers(0, 12, (2, 5)),
    ]
    want = (
        centernet.focal_loss(args[0], args[3])
        + 0.1 * centernet.reg_l1_loss(args[1], args[4], args[7], args[6])
        + centernet.reg_l1_loss(args[2], args[5], args[7], args[6])
    )
    assert_rel(centernet.loss(args), want, rtol=1e-15)
    assert_rel(centernet.loss(tuple(args)), want, rtol=1e-15)


# --------------------------------------------------------------------------- VJPs


def _fd_check(f, x, cot, g, what):
    fd = fd_vjp(f, x, cot)
    scale = max(np.max(np.abs(fd)), np.max(np.abs(g)))
    assert_rel(g, fd, rtol=1e-6, atol=1e-7 * scale + 1e-8, what=what)


@given(st.data(), st.sampled_from(DTYPES), st.booleans())
@settings(max_examples=30)
def test_focal_loss_vjp_fd(data, dtype, peaks):
    shape = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)), data.draw(st.integers(1, 4)), 2)
    elems = st.one_of(st.floats(1e-3, 1 - 1e-3), st.sampled_from([-0.5, 1.5, 0.5]))
    p = data.draw(hnp.arrays(np.float64, shape, elements=elems))
    t = data.draw(hnp.arrays(np.float64, shape, elements=st.one_of(st.sampled_from(TRUE_SPECIALS), st.floats(0, 1))))
    if not peaks:
        t = np.where(t == 1.0, 0.75, t)
    kw = {"hm_true": t, "constants_dtype": dtype}
    assume(not SPEC["focal_loss"].kinks("hm_pred", hm_pred=p, **kw).any())
    g = SPEC["focal_loss"].vjp(0.8, "hm_pred", hm_pred=p, **kw)
    _fd_check(lambda x: centernet.focal_loss(x, t, constants_dtype=dtype), p, 0.8, g, "focal_loss vjp")


@given(reg_case(), st.booleans(), st.sampled_from([1.0, -2.5]))
@settings(max_examples=40)
def test_reg_l1_vjp_fd(case, per_element, cot):
    y_pred, y_true, idx, mask = case
    g_at = y_pred.reshape(y_pred.shape[0], -1, 2)[np.arange(y_pred.shape[0])[:, None], idx]
    assume(np.all(np.abs(y_true - g_at)[mask != 0] > 1e-4))  # away from the |·| kink
    kw = {"y_true": y_true, "indices": idx, "mask": mask, "variants": ("EPS-PER-ELEMENT",) if per_element else ()}
    assert not SPEC["reg_l1_loss"].kinks("y_pred", y_pred=y_pred, **kw).any()
    g = SPEC["reg_l1_loss"].vjp(cot, "y_pred", y_pred=y_pred, **kw)
    _fd_check(lambda x: SPEC["reg_l1_loss"].evaluate(y_pred=x, **kw), y_pred, cot, g, "reg_l1_loss vjp")


@given(loss_args(), st.sampled_from(["hm_pred", "wh_pred", "reg_pred"]))
@settings(max_examples=30)
def test_loss_vjp_fd(args, wrt):
    pos = {"hm_pred": 0, "wh_pred": 1, "reg_pred": 2}[wrt]
    assume(not SPEC["loss"].kinks(wrt, args=args).any())
    if wrt == "hm_pred":  # FD steps must not cross a clip bound
        p = args[0]
        assume(
            np.all(
                (np.abs(p) > 1e-5) & (np.abs(1 - p) > 1e-5) & (np.abs(p - 1e-6) > 1e-5) & (np.abs(1 - p - 1e-6) > 1e-5)
            )
        )
    else:
        g_at = args[pos].reshape(args[pos].shape[0], -1, 2)[np.arange(args[pos].shape[0])[:, None], args[7]]
        assume(np.all(np.abs(args[pos + 3] - g_at)[args[6] != 0] > 1e-4))
    g = SPEC["loss"].vjp(1.0, wrt, args=args)
    assert g.shape == args[pos].shape

    def f(x):
        a = list(args)
        a[pos] = x
        return centernet.loss(a)

    _fd_check(f, args[pos], 1.0, g, f"loss vjp {wrt}")


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
    rng = np.random.default_rng(11)
    p = rng.uniform(0.01, 0.99, (2, 2, 3, 1))
    t = np.where(rng.random(p.shape) < 0.3, 1.0, rng.uniform(0, 1, p.shape))
    t[0, 0, 0, 0], t[1, 0, 0, 0] = 1.0, 0.2
    for dtype in ("float64", "float16"):
        g = SPEC["focal_loss"].vjp(1.0, "hm_pred", hm_pred=p, hm_true=t, constants_dtype=dtype)
        idxs = [(0, 0, 0, 0), (1, 0, 0, 0), (1, 1, 2, 0)]
        want = _mp_diff_points(lambda xm, dtype=dtype: ref_focal(xm, to_mp(t), dtype), p, idxs)
        assert_rel(np.array([g[i] for i in idxs]), want, rtol=1e-10)
    # no-positive branch
    t0 = np.where(t == 1.0, 0.5, t)
    g = SPEC["focal_loss"].vjp(1.0, "hm_pred", hm_pred=p, hm_true=t0)
    want = _mp_diff_points(lambda xm: ref_focal(xm, to_mp(t0)), p, [(0, 1, 1, 0)])
    assert_rel(g[0, 1, 1, 0], want[0], rtol=1e-10)
    # reg_l1_loss with a duplicated index
    y_pred = rng.normal(size=(2, 2, 3, 2))
    y_true = rng.normal(size=(2, 4, 2))
    idx = np.array([[1, 1, 4, 0], [5, 2, 2, 3]])
    mask = np.array([[1.0, 1.0, 0.0, 1.0], [1.0, 1.0, 1.0, 0.0]])
    g = SPEC["reg_l1_loss"].vjp(1.0, "y_pred", y_pred=y_pred, y_true=y_true, indices=idx, mask=mask)
    idxs = [(0, 0, 1, 0), (1, 0, 2, 1), (1, 1, 2, 0)]
    want = _mp_diff_points(lambda xm: ref_reg_l1(xm, to_mp(y_true), idx, to_mp(mask)), y_pred, idxs)
    assert_rel(np.array([g[i] for i in idxs]), want, rtol=1e-10)


def test_kinks_of_reg_l1():
    y_pred = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])  # (1, 1, 2, 2)
    y_true = np.array([[[1.0, 0.0], [3.0, 4.0], [0.0, 0.0]]])
    idx = np.array([[0, 1, 0]])
    mask = np.array([[1.0, 0.0, 1.0]])
    k = SPEC["reg_l1_loss"].kinks("y_pred", y_pred=y_pred, y_true=y_true, indices=idx, mask=mask)
    assert k.tolist() == [[[[True, False], [False, False]]]]  # index 1 ties but is masked out


# --------------------------------------------------------------------------- uniform entry points, bad input


def test_uniform_entry_points_and_specs():
    import oracle

    assert {s.name for s in centernet.SPECS} == {"focal_loss", "reg_l1_loss", "loss"}
    assert set(centernet.__all__) == {s.name for s in centernet.SPECS}
    assert SPEC["loss"].diff_args == ("hm_pred", "wh_pred", "reg_pred")
    assert SPEC["reg_l1_loss"].variants == ("EPS-PER-ELEMENT",)
    p = np.full((1, 1, 1, 1), 0.25)
    assert oracle.evaluate("focal_loss", hm_pred=p, hm_true=p) == centernet.focal_loss(p, p)


def test_bad_input_raises():
    y_pred, y_true = np.zeros((2, 3, 4, 2)), np.zeros((2, 5, 2))
    idx, mask = np.zeros((2, 5), dtype=np.int64), np.ones((2, 5))
    with pytest.raises(ValueError, match="y_pred: expected last axis of size 2"):
        centernet.reg_l1_loss(np.zeros((2, 3, 4, 3)), y_true, idx, mask)
    with pytest.raises(ValueError, match="y_pred"):
        centernet.reg_l1_loss(np.zeros((2, 12, 2)), y_true, idx, mask)
    with pytest.raises(ValueError, match="y_true"):
        centernet.reg_l1_loss(y_pred, np.zeros((3, 5, 2)), idx, mask)
    with pytest.raises(ValueError, match="y_true"):
        centernet.reg_l1_loss(y_pred, np.zeros((2, 5, 3)), idx, mask)
    with pytest.raises(ValueError, match=r"indices: 1 value\(s\) outside \[0, 12\)"):
        centernet.reg_l1_loss(y_pred, y_true, np.array([[0, 1, 2, 3, 12], [0, 0, 0, 0, 0]]), mask)
    with pytest.raises(ValueError, match="indices"):
        centernet.reg_l1_loss(y_pred, y_true, np.full((2, 5), -1), mask)
    with pytest.raises(ValueError, match="indices"):
        centernet.reg_l1_loss(y_pred, y_true, np.full((2, 5), 1.5), mask)
    with pytest.raises(ValueError, match="indices"):
        centernet.reg_l1_loss(y_pred, y_true, np.zeros((2, 4), dtype=int), mask)
    with pytest.raises(ValueError, match="mask"):
        centernet.reg_l1_loss(y_pred, y_true, idx, np.ones((2, 4)))
    with pytest.raises(ValueError, match="hm_true"):
        centernet.focal_loss(np.zeros((1, 2, 2, 1)), np.zeros((1, 2, 3, 1)))
    with pytest.raises(ValueError, match="hm_pred"):
        centernet.focal_loss(np.zeros((2, 2, 1)), np.zeros((2, 2, 1)))
    with pytest.raises(ValueError, match="constants_dtype"):
        centernet.focal_loss(np.zeros((1, 1, 1, 1)), np.zeros((1, 1, 1, 1)), constants_dtype="float8")
    with pytest.raises(ValueError, match="variants"):
        centernet.reg_l1_loss(y_pred, y_true, idx, mask, variants=("EPS-ONCE",))
    with pytest.raises(ValueError, match="wrt"):
        SPEC["focal_loss"].vjp(1.0, "hm_true", hm_pred=np.zeros((1, 1, 1, 1)), hm_true=np.zeros((1, 1, 1, 1)))
    hm = np.zeros((2, 3, 4, 1))
    args = [hm, y_pred, y_pred, hm, y_true, y_true, mask, idx]
    with pytest.raises(ValueError, match="args: expected a list of 8"):
        centernet.loss(args[:7])
    with pytest.raises(ValueError, match="args"):
        centernet.loss(hm)
    with pytest.raises(ValueError, match="wh_pred"):
        centernet.loss([hm, np.zeros((2, 3, 4, 4)), *args[2:]])
    with pytest.raises(ValueError, match="reg_mask"):
        centernet.loss([*args[:6], np.ones((2, 3)), idx])
    with pytest.raises(ValueError, match="indices"):
        centernet.loss([*args[:7], idx + 12])
    with pytest.raises(ValueError, match="wrt"):
        SPEC["loss"].vjp(1.0, "hm_true", args=args)
    assert centernet.loss(args) >= 0.0
