"""DIoU and CIoU losses of the oracle (docs/contracts.md) against mpmath references written from the spec."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from helpers import assert_rel, to_mp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import oracle

MPF = mpmath.mpf
DPS = 90
NAMES = ("diou_loss", "ciou_loss")

# ----------------------------------------------------------------------------------------------------------------
# mpmath references (scalar, one box pair at a time)
# ----------------------------------------------------------------------------------------------------------------


def _mp(b):
    return [v if isinstance(v, mpmath.mpf) else MPF(float(v)) for v in b]


def mp_parts(b1, b2):
    """(1 - IoU, rho^2 / c^2, v) of one pair: IoU as bbox_iou (raw areas), corners x -+ w/2."""
    x1, y1, w1, h1 = _mp(b1)
    x2, y2, w2, h2 = _mp(b2)
    inter = MPF(1)
    c2 = MPF(0)
    for c_1, e_1, c_2, e_2 in ((x1, w1, x2, w2), (y1, h1, y2, h2)):
        l1, r1, l2, r2 = c_1 - e_1 / 2, c_1 + e_1 / 2, c_2 - e_2 / 2, c_2 + e_2 / 2
        inter *= max(min(r1, r2) - max(l1, l2), 0)
        c2 += (max(r1, r2) - min(l1, l2)) ** 2
    union = w1 * h1 + w2 * h2 - inter
    one_minus_iou = mpmath.nan if union == 0 else 1 - inter / union
    rho2 = (x1 - x2) ** 2 + (y1 - y2) ** 2
    dist = mpmath.nan if c2 == 0 else rho2 / c2
    v = 4 / mpmath.pi**2 * (mpmath.atan2(w2, h2) - mpmath.atan2(w1, h1)) ** 2
    return one_minus_iou, dist, v


def mp_alpha(b1, b2):
    one_minus_iou, _, v = mp_parts(b1, b2)
    return MPF(0) if v == 0 else v / (one_minus_iou + v)


def mp_diou(b1, b2):
    one_minus_iou, dist, _ = mp_parts(b1, b2)
    return one_minus_iou + dist


def mp_ciou(b1, b2, alpha=None):
    """CIoU; ``alpha`` given: held at that value (the stop-gradient), else computed from the boxes."""
    one_minus_iou, dist, v = mp_parts(b1, b2)
    if alpha is None:
        alpha = MPF(0) if v == 0 else v / (one_minus_iou + v)
    return one_minus_iou + dist + alpha * v


MP = {"diou_loss": mp_diou, "ciou_loss": mp_ciou}


def mp_map(name, b1, b2):
    b1, b2 = np.broadcast_arrays(np.asarray(b1, dtype=np.float64), np.asarray(b2, dtype=np.float64))
    out = np.empty(b1.shape[:-1])
    with mpmath.workdps(DPS):
        for idx in np.ndindex(out.shape):
            out[idx] = float(MP[name](b1[idx], b2[idx]))
    return out


def random_boxes(rng, n, scale=1.0, centre=0.0):
    xy = centre + rng.uniform(-4, 4, (n, 2)) * scale
    wh = rng.uniform(0.05, 4, (n, 2)) * scale
    return np.concatenate([xy, wh], axis=-1)


# ----------------------------------------------------------------------------------------------------------------
# values
# ----------------------------------------------------------------------------------------------------------------

SPECIAL_PAIRS = [
    ([0.0, 0.0, 2.0, 4.0], [0.0, 0.0, 2.0, 4.0]),  # identical: 0
    ([0.0, 0.0, 2.0, 4.0], [0.0, 0.0, 4.0, 2.0]),  # concentric, transposed aspect
    ([0.0, 0.0, 1.0, 1.0], [10.0, -7.0, 2.0, 3.0]),  # far apart
    ([0.0, 0.0, 2.0, 3.0], [1e-9, 0.0, 2.0, 3.0 + 1e-12]),  # near-perfect match, nearly equal aspect
    ([1e6, -1e6, 1.5, 0.5], [1e6 + 0.25, -1e6, 1.25, 0.5]),  # large coordinates, small extents
    ([0.0, 0.0, 0.0, 2.0], [1.0, 0.5, 2.0, 3.0]),  # zero width
    ([0.0, 0.0, 0.0, 0.0], [1.0, 0.5, 2.0, 3.0]),  # point box
    ([0.0, 0.0, 1e-200, 3e-200], [2e-200, 1e-200, 1e-200, 1e-200]),  # tiny
    ([1e200, 0.0, 3e199, 1e199], [1.1e200, 2e199, 1e199, 5e199]),  # huge
    ([0.0, 0.0, 3.0, 1.0], [4.0, 0.0, 3.0, 1.0]),  # touching, equal
]


@pytest.mark.parametrize("name", NAMES)
def test_special_values_match_mpmath(name):
    b1 = np.array([p[0] for p in SPECIAL_PAIRS])
    b2 = np.array([p[1] for p in SPECIAL_PAIRS])
    with np.errstate(all="raise"):
        got = oracle.evaluate(name, boxes1=b1, boxes2=b2)
    # 1 - IoU is accurate to a few ulps of 1 where the overlap extents round (oracle.boxes' docstring);
    # the distance and aspect terms are relatively accurate
    assert_rel(got, mp_map(name, b1, b2), rtol=1e-14, atol=1e-15, what=name)
    assert got[0] == 0.0
    exact = np.array([0, 1, 2, 4, 5, 6, 7, 8, 9])  # pairs whose extents and overlaps are exact in float64
    assert_rel(got[exact], mp_map(name, b1[exact], b2[exact]), rtol=1e-14, atol=1e-300, what=name)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=30)
@given(seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([1.0, 1e-3, 1e5]), centre=st.sampled_from([0.0, 1e4]))
def test_values_match_mpmath(name, seed, scale, centre):
    rng = np.random.default_rng(seed)
    b1 = random_boxes(rng, 4, scale, centre)
    b2 = random_boxes(rng, 4, scale, centre)
    b2[0] = b1[0] * [1.0, 1.0, 1.0 + 1e-7, 1.0]  # nearly identical pair
    assert_rel(oracle.evaluate(name, boxes1=b1, boxes2=b2), mp_map(name, b1, b2), rtol=1e-13, atol=1e-15,
               what=name)


def test_undefined_is_nan():
    p = np.array([1.0, 2.0, 0.0, 0.0])
    for name in NAMES:
        # two identical point boxes: 1 - IoU and rho^2/c^2 are 0/0 (YOLO-ZERO-UNION)
        assert np.isnan(oracle.evaluate(name, boxes1=p, boxes2=p))
        assert np.isnan(oracle.vjp(name, 1.0, "boxes1", boxes1=p, boxes2=p)).all()
        # two distinct point boxes: c^2 > 0 but the union is 0
        assert np.isnan(oracle.evaluate(name, boxes1=p, boxes2=p + [1.0, 0, 0, 0]))


def test_formula_by_hand():
    # boxes [0,2]x[0,2] and [1,3]x[0,2]: IoU = 2/6, rho^2 = 1, c^2 = 3^2 + 2^2, v = 0
    b1, b2 = np.array([1.0, 1.0, 2.0, 2.0]), np.array([2.0, 1.0, 2.0, 2.0])
    assert_rel(oracle.diou_loss(b1, b2), 1 - 2 / 6 + 1 / 13, rtol=1e-15)
    assert_rel(oracle.ciou_loss(b1, b2), 1 - 2 / 6 + 1 / 13, rtol=1e-15)
    # aspect 1:1 against 1:sqrt(3): atan2 gap pi/4 - pi/6 = pi/12, v = 4/pi^2 * pi^2/144 = 1/36
    b3 = np.array([1.0, 1.0, 1.0, 3.0**0.5])
    iou_l = float(oracle.iou_loss(b1, b3))
    rho_c = float(oracle.diou_loss(b1, b3)) - iou_l
    v = 1 / 36
    assert_rel(oracle.ciou_loss(b1, b3), iou_l + rho_c + v * v / (iou_l + v), rtol=1e-14)


# ----------------------------------------------------------------------------------------------------------------
# properties
# ----------------------------------------------------------------------------------------------------------------


@settings(max_examples=40)
@given(seed=st.integers(0, 2**32 - 1))
def test_properties(seed):
    rng = np.random.default_rng(seed)
    b1, b2 = random_boxes(rng, 6), random_boxes(rng, 6)
    iou_l = oracle.iou_loss(b1, b2)
    diou = oracle.diou_loss(b1, b2)
    ciou = oracle.ciou_loss(b1, b2)
    assert np.all(ciou >= diou) and np.all(diou >= iou_l) and np.all(diou <= 2.0)
    # identical non-degenerate boxes: exactly 0
    assert np.all(oracle.diou_loss(b1, b1) == 0.0) and np.all(oracle.ciou_loss(b1, b1) == 0.0)
    # symmetric: rho^2/c^2 and 1 - IoU do not depend on the order, nor does v
    for name in NAMES:
        assert_rel(oracle.evaluate(name, boxes1=b2, boxes2=b1), oracle.evaluate(name, boxes1=b1, boxes2=b2),
                   rtol=1e-15, what=f"{name} symmetric")
    # invariant to scaling both boxes by the same positive factor (exactly so for powers of two)
    for name in NAMES:
        base = oracle.evaluate(name, boxes1=b1, boxes2=b2)
        assert np.array_equal(oracle.evaluate(name, boxes1=b1 * 2.0**-40, boxes2=b2 * 2.0**-40), base)
        assert_rel(oracle.evaluate(name, boxes1=b1 * 3.7, boxes2=b2 * 3.7), base, rtol=1e-14,
                   what=f"{name} scaled")


def test_distance_term_by_itself():
    # concentric boxes: rho = 0, so diou == iou_loss; moving one centre only adds rho^2/c^2
    b1 = np.array([0.0, 0.0, 2.0, 2.0])
    b2 = np.array([0.0, 0.0, 4.0, 1.0])
    assert oracle.diou_loss(b1, b2) == oracle.iou_loss(b1, b2)
    far = np.array([100.0, 0.0, 2.0, 2.0])
    # disjoint boxes far apart: 1 - IoU = 1 and rho^2/c^2 -> 1
    assert 1.9 < float(oracle.diou_loss(b1, far)) < 2.0


# ----------------------------------------------------------------------------------------------------------------
# VJPs
# ----------------------------------------------------------------------------------------------------------------


def margin(b1, b2):
    """Distance of each pair to the nearest corner tie, touch, zero extent or enclosure tie."""
    b1, b2 = np.broadcast_arrays(b1, b2)
    gaps = []
    for k in range(2):
        l1, r1 = b1[..., k] - b1[..., 2 + k] / 2, b1[..., k] + b1[..., 2 + k] / 2
        l2, r2 = b2[..., k] - b2[..., 2 + k] / 2, b2[..., k] + b2[..., 2 + k] / 2
        gaps += [np.abs(l1 - l2), np.abs(r1 - r2), np.abs(np.minimum(r1, r2) - np.maximum(l1, l2)),
                 np.abs(b1[..., 2 + k]), np.abs(b2[..., 2 + k])]
    return np.min(gaps, axis=0)


def directional(name, b1, b2, wrt, direction, cot, alpha_frozen):
    """d/dt sum(cot * name(b + t direction)) at t = 0 by mpmath.diff, alpha frozen at t = 0 when asked."""
    x1, x2, dv = to_mp(b1), to_mp(b2), to_mp(direction)
    with mpmath.workdps(DPS):
        alphas = [mp_alpha(x1[i], x2[i]) for i in range(len(x1))]

        def f(t):
            a1, a2 = (x1 + dv * t, x2) if wrt == "boxes1" else (x1, x2 + dv * t)
            total = MPF(0)
            for i in range(len(a1)):
                if name == "diou_loss":
                    total += MPF(float(cot[i])) * mp_diou(a1[i], a2[i])
                else:
                    total += MPF(float(cot[i])) * mp_ciou(a1[i], a2[i], alphas[i] if alpha_frozen else None)
            return total

        return float(mpmath.diff(f, 0))


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=20)
@given(seed=st.integers(0, 2**32 - 1))
def test_vjp_matches_mpmath_alpha_frozen(name, seed):
    rng = np.random.default_rng(seed)
    b1, b2 = random_boxes(rng, 3), random_boxes(rng, 3)
    b2[0] = b1[0] + [0.3, -0.2, 0.4, -0.1]  # one overlapping pair
    b2[0, 2:] = np.abs(b2[0, 2:]) + 0.05
    assume(np.all(margin(b1, b2) > 1e-3))
    cot = rng.normal(size=3)
    for wrt in ("boxes1", "boxes2"):
        assert not oracle.kinks(name, wrt, boxes1=b1, boxes2=b2).any()
        x = b1 if wrt == "boxes1" else b2
        got = oracle.vjp(name, cot, wrt, boxes1=b1, boxes2=b2)
        assert got.shape == x.shape
        # every coordinate direction, and one random direction
        for j in range(x.size + 1):
            d = np.zeros(x.size)
            if j < x.size:
                d[j] = 1.0
            else:
                d = rng.normal(size=x.size)
            d = d.reshape(x.shape)
            want = directional(name, b1, b2, wrt, d, cot, alpha_frozen=True)
            assert_rel(float(np.sum(got * d)), want, rtol=1e-10, atol=1e-13, what=f"{name} d/{wrt} dir {j}")


def test_alpha_frozen_gradient_differs_from_fully_differentiated():
    b1 = np.array([[0.0, 0.0, 1.0, 3.0]])
    b2 = np.array([[0.5, 0.2, 2.5, 1.0]])
    cot = np.ones(1)
    for wrt in ("boxes1", "boxes2"):
        x = b1 if wrt == "boxes1" else b2
        got = oracle.vjp("ciou_loss", cot, wrt, boxes1=b1, boxes2=b2)
        frozen = np.array([directional("ciou_loss", b1, b2, wrt, np.eye(4)[j][None], cot, True) for j in range(4)])
        full = np.array([directional("ciou_loss", b1, b2, wrt, np.eye(4)[j][None], cot, False) for j in range(4)])
        assert_rel(got.reshape(-1), frozen, rtol=1e-10, atol=1e-13, what=f"frozen {wrt}")
        # the named divergence CIOU-ALPHA-GRAD is the fully differentiated loss
        div = oracle.vjp("ciou_loss", cot, wrt, boxes1=b1, boxes2=b2, variants=("CIOU-ALPHA-GRAD",))
        assert_rel(div.reshape(-1), full, rtol=1e-10, atol=1e-13, what=f"CIOU-ALPHA-GRAD {wrt}")
        assert np.array_equal(oracle.evaluate("ciou_loss", boxes1=b1, boxes2=b2, variants=("CIOU-ALPHA-GRAD",)),
                              oracle.evaluate("ciou_loss", boxes1=b1, boxes2=b2))
        # the aspect entries (w, h) carry dalpha/d(.) * v in the full derivative; the centres do not
        # (alpha depends on the centres only through IoU, which moves with them as well)
        assert np.max(np.abs(full - frozen)) > 1e-3 * np.max(np.abs(full))
        assert x.shape == got.shape


def test_vjp_large_and_tiny_scales():
    for s in (1e-150, 1e150):
        b1 = np.array([[0.0, 0.0, 1.0, 3.0]]) * s
        b2 = np.array([[0.5, 0.2, 2.5, 1.0]]) * s
        base1 = np.array([[0.0, 0.0, 1.0, 3.0]])
        base2 = np.array([[0.5, 0.2, 2.5, 1.0]])
        for name in NAMES:
            for wrt in ("boxes1", "boxes2"):
                with np.errstate(over="raise", invalid="raise"):
                    got = oracle.vjp(name, 1.0, wrt, boxes1=b1, boxes2=b2)
                # the loss is scale-invariant, so the gradient scales by 1/s
                want = oracle.vjp(name, 1.0, wrt, boxes1=base1, boxes2=base2) / s
                assert_rel(got, want, rtol=1e-14, atol=0.0, what=f"{name} {wrt} at scale {s}")


# ----------------------------------------------------------------------------------------------------------------
# kinks
# ----------------------------------------------------------------------------------------------------------------


def test_kinks():
    b = np.array([0.0, 0.0, 2.0, 4.0])
    for name in NAMES:
        assert oracle.kinks(name, "boxes1", boxes1=b, boxes2=b).all()  # identical boxes: IoU corner ties
        g = np.array([[0.1, 0.2, 2.3, 1.7]]), np.array([[0.9, -0.4, 1.1, 2.9]])
        for wrt in ("boxes1", "boxes2"):
            assert not oracle.kinks(name, wrt, boxes1=g[0], boxes2=g[1]).any()
    # left tie on x with the y extents apart: no IoU kink (no overlap nearby) but an enclosure tie of c^2
    b1, b2 = np.array([0.0, 0.0, 2.0, 2.0]), np.array([0.5, 5.0, 3.0, 2.0])
    assert oracle.kinks("diou_loss", "boxes1", boxes1=b1, boxes2=b2).tolist() == [True, False, True, False]
    # CIoU: the aspect angle of a zero-size box is undefined (atan2 at the origin)
    p, q = np.array([0.0, 0.0, 0.0, 0.0]), np.array([1.5, 0.5, 2.0, 3.0])
    assert oracle.kinks("ciou_loss", "boxes1", boxes1=p, boxes2=q).tolist() == [False, False, True, True]
    assert not oracle.kinks("diou_loss", "boxes1", boxes1=p, boxes2=q).any()


def _one_sided(b1, b2, wrt, i, h="1e-50"):
    with mpmath.workdps(120):
        step = MPF(h)
        a = [to_mp(b1), to_mp(b2)]
        j = 0 if wrt == "boxes1" else 1

        def f(t):
            args = [a[0].copy(), a[1].copy()]
            args[j][i] = args[j][i] + t
            return mp_diou(args[0], args[1])

        f0 = f(0)
        return float((f0 - f(-step)) / step), float((f(step) - f0) / step)


@pytest.mark.parametrize("case", [
    ([0.0, 0.0, 2.0, 2.0], [0.5, 5.0, 3.0, 2.0]),  # enclosure tie on x, apart on y
    ([0.0, 0.0, 2.0, 2.0], [2.0, 0.0, 2.0, 2.0]),  # touching on x, identical on y
    ([0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 4.0, 2.0]),  # concentric: rho = 0, c^2's ties do not matter
    ([0.0, 0.0, 2.0, 2.0], [0.5, 0.25, 1.0, 4.0]),  # generic overlap
])
def test_diou_kinks_match_one_sided_derivatives(case):
    b1, b2 = np.array(case[0]), np.array(case[1])
    for wrt in ("boxes1", "boxes2"):
        k = oracle.kinks("diou_loss", wrt, boxes1=b1, boxes2=b2)
        g = oracle.vjp("diou_loss", 1.0, wrt, boxes1=b1, boxes2=b2)
        for i in range(4):
            left, right = _one_sided(b1, b2, wrt, i)
            if k[i]:
                assert abs(left - right) > 1e-6, f"{wrt}[{i}] marked but differentiable ({left}, {right})"
            else:
                assert_rel([left, g[i]], [right, right], rtol=1e-12, atol=1e-14, what=f"{wrt}[{i}]")


# ----------------------------------------------------------------------------------------------------------------
# records and bad input
# ----------------------------------------------------------------------------------------------------------------


def test_registered():
    for name in NAMES:
        assert name in oracle.NAMES and name in oracle.__all__
        s = oracle.spec(name)
        assert s.family == "yolov3" and s.diff_args == ("boxes1", "boxes2")
        assert callable(getattr(oracle, name))
    b1, b2 = np.zeros((3, 1, 4)) + [0, 0, 1, 1], np.zeros((5, 4)) + [0.5, 0, 1, 2]
    for name in NAMES:
        assert oracle.evaluate(name, boxes1=b1, boxes2=b2).shape == (3, 5)
        assert oracle.vjp(name, np.ones((3, 5)), "boxes1", boxes1=b1, boxes2=b2).shape == b1.shape
        assert oracle.vjp(name, np.ones((3, 5)), "boxes2", boxes1=b1, boxes2=b2).shape == b2.shape
        assert oracle.kinks(name, "boxes2", boxes1=b1, boxes2=b2).shape == b2.shape


def test_bad_input():
    for name in NAMES:
        with pytest.raises(ValueError, match="boxes1"):
            oracle.evaluate(name, boxes1=np.zeros((2, 3)), boxes2=np.zeros((2, 4)))
        with pytest.raises(ValueError, match="boxes2"):
            oracle.evaluate(name, boxes1=np.zeros((2, 4)), boxes2=np.zeros((3, 4)))
        with pytest.raises(ValueError, match="wrt"):
            oracle.vjp(name, 1.0, "boxes3", boxes1=np.zeros(4), boxes2=np.zeros(4))
        with pytest.raises(ValueError, match="variants"):
            oracle.evaluate(name, boxes1=np.zeros(4), boxes2=np.zeros(4), variants=("NO-SUCH",))
        with pytest.raises(ValueError, match="cotangent"):
            oracle.vjp(name, np.ones(3), "boxes1", boxes1=np.zeros((2, 4)), boxes2=np.zeros((2, 4)))
