"""Tests of the YOLOv3 family of the oracle (docs/contracts.md) against straightforward mpmath references."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from helpers import assert_rel, fd_vjp, from_mp, to_mp
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import oracle
from oracle import maxiou
from oracle import yolov3 as Y

MPF = mpmath.mpf
NAN = mpmath.mpf("nan")

# ----------------------------------------------------------------------------------------------------------------
# mpmath references, written from the spec (scalar, one box pair / one cell at a time)
# ----------------------------------------------------------------------------------------------------------------


def mp_sig(x):
    return 1 / (1 + mpmath.exp(-x))


def mp_sce(z, x):
    """z * -log(sigmoid(x)) + (1 - z) * -log(1 - sigmoid(x))."""
    return z * mpmath.log(1 + mpmath.exp(-x)) + (1 - z) * mpmath.log(1 + mpmath.exp(x))


# Enough digits to hold sums of float64 values across the whole exponent range exactly (2 * 1075 bits).
EXACT_DPS = 700


def _corners(b):
    x, y, w, h = (MPF(v) for v in b)
    return [x - w / 2, y - h / 2], [x + w / 2, y + h / 2]


def mp_iou(b1, b2):
    with mpmath.workdps(EXACT_DPS):
        a1 = MPF(b1[2]) * MPF(b1[3])
        a2 = MPF(b2[2]) * MPF(b2[3])
        l1, r1 = _corners(b1)
        l2, r2 = _corners(b2)
        inter = MPF(1)
        for k in range(2):
            inter *= max(min(r1[k], r2[k]) - max(l1[k], l2[k]), 0)
        union = a1 + a2 - inter
        return NAN if union == 0 else inter / union


def mp_giou(b1, b2):
    with mpmath.workdps(EXACT_DPS):
        boxes = []
        for b in (b1, b2):
            lo, hi = _corners(b)
            boxes.append(([min(lo[k], hi[k]) for k in range(2)], [max(lo[k], hi[k]) for k in range(2)]))
        (l1, r1), (l2, r2) = boxes
        a1 = (r1[0] - l1[0]) * (r1[1] - l1[1])
        a2 = (r2[0] - l2[0]) * (r2[1] - l2[1])
        inter = MPF(1)
        enclose = MPF(1)
        for k in range(2):
            inter *= max(min(r1[k], r2[k]) - max(l1[k], l2[k]), 0)
            enclose *= max(max(r1[k], r2[k]) - min(l1[k], l2[k]), 0)
        union = a1 + a2 - inter
        if union == 0 or enclose == 0:
            return NAN
        return inter / union - (enclose - union) / enclose


MP_BOX = {"bbox_iou": mp_iou, "bbox_giou": mp_giou,
          "iou_loss": lambda a, b: 1 - mp_iou(a, b), "giou_loss": lambda a, b: 1 - mp_giou(a, b)}


def mp_box_fn(name, b1, b2):
    """Apply the scalar reference over broadcast box arrays (object or float)."""
    b1, b2 = np.broadcast_arrays(np.asarray(b1, dtype=object), np.asarray(b2, dtype=object))
    out = np.empty(b1.shape[:-1], dtype=object)
    for idx in np.ndindex(out.shape):
        out[idx] = MP_BOX[name](b1[idx], b2[idx])
    return out


def mp_decode(raw, anchors, stride):
    """raw: (B, S, S, A, 5+N) float or mpf -> object array of mpf."""
    raw = np.asarray(raw, dtype=object)
    out = np.empty(raw.shape, dtype=object)
    for b, i, j, a in np.ndindex(raw.shape[:4]):
        r = [MPF(v) for v in raw[b, i, j, a]]
        out[b, i, j, a, 0] = (mp_sig(r[0]) + j) * MPF(stride)
        out[b, i, j, a, 1] = (mp_sig(r[1]) + i) * MPF(stride)
        out[b, i, j, a, 2] = mpmath.exp(r[2]) * MPF(anchors[a][0]) * MPF(stride)
        out[b, i, j, a, 3] = mpmath.exp(r[3]) * MPF(anchors[a][1]) * MPF(stride)
        for k in range(4, raw.shape[-1]):
            out[b, i, j, a, k] = mp_sig(r[k])
    return out


def mp_loss_layer(conv, label, bboxes, anchors, stride, num_class, thresh, pred=None):
    """(giou_loss, conf_loss, prob_loss, margin) with margin = min |max_iou - thresh| over cells with r == 0."""
    conv = np.asarray(conv, dtype=object)
    n_b, size = conv.shape[0], conv.shape[1]
    n_a = len(anchors)
    raw = conv.reshape(n_b, size, size, n_a, 5 + num_class)
    if pred is None:
        pred = mp_decode(raw, anchors, stride)
    pred = np.asarray(pred, dtype=object)
    input_size = MPF(stride) * size
    g_sum = c_sum = p_sum = MPF(0)
    margin = mpmath.inf
    for b, i, j, a in np.ndindex(raw.shape[:4]):
        p = [MPF(v) for v in pred[b, i, j, a]]
        lab = [MPF(float(v)) for v in label[b, i, j, a]]
        rr = [MPF(v) for v in raw[b, i, j, a]]
        r = lab[4]
        scale = 2 - lab[2] * lab[3] / input_size**2
        g_sum += r * scale * (1 - mp_giou(p[:4], lab[:4]))
        ious = [mp_iou(p[:4], bboxes[b][m]) for m in range(len(bboxes[b]))]
        if any(mpmath.isnan(v) for v in ious):
            mx = NAN
        else:
            mx = max(ious) if ious else -mpmath.inf
        bgd = (1 - r) * (1 if mx < thresh else 0)
        if 1 - r != 0:
            margin = NAN if (mpmath.isnan(mx) or mpmath.isnan(margin)) else min(margin, abs(mx - MPF(thresh)))
        sce = mp_sce(r, rr[4])
        c_sum += (r - p[4]) ** 2 * (r * sce + bgd * sce)
        for k in range(num_class):
            p_sum += r * mp_sce(lab[5 + k], rr[5 + k])
    return g_sum / n_b, c_sum / n_b, p_sum / n_b, margin


# ----------------------------------------------------------------------------------------------------------------
# Strategies
# ----------------------------------------------------------------------------------------------------------------

SPECIAL = [0.0, -0.0, 0.5, 1.0, -1.0, 2.0, 3.0, 1 / 3, 0.1, 1e-30, 1e30, -1e30, 1e6, 1e6 + 0.5, -7.25]
# No float64 subnormals (nor numbers near them, see box_pairs): the suite flushes tiny inputs to zero before the oracle
# sees them (docs/tolerances.md, "Inputs the model assumes"), and products of such extents lose the digits compared.
coord = st.one_of(st.sampled_from(SPECIAL), st.floats(-10, 10, allow_subnormal=False), st.floats(1e6 - 4, 1e6 + 4),
                  st.floats(-1e30, 1e30, allow_subnormal=False))
extent = st.one_of(st.sampled_from(SPECIAL), st.floats(-10, 10, allow_subnormal=False), st.floats(1e-30, 1e30),
                   st.floats(-1e3, -1e-3))


@st.composite
def box_pairs(draw):
    n = draw(st.integers(1, 4))
    b1 = np.array([[draw(coord), draw(coord), draw(extent), draw(extent)] for _ in range(n)])
    mode = draw(st.sampled_from(["free", "identical", "inverted", "shifted", "degenerate", "scaled"]))
    if mode == "free":
        b2 = np.array([[draw(coord), draw(coord), draw(extent), draw(extent)] for _ in range(n)])
    elif mode == "identical":
        b2 = b1.copy()
    elif mode == "inverted":
        b2 = b1 * np.array([1.0, 1.0, -1.0, draw(st.sampled_from([1.0, -1.0]))])
    elif mode == "shifted":  # touching, overlapping by half, nested, barely apart
        f = draw(st.sampled_from([0.0, 0.25, 0.5, 1.0, 1.5, 1 - 2**-40, 1 + 2**-40]))
        b2 = b1 + np.array([1.0, 0.0, 0.0, 0.0]) * b1[:, 2:3] * f
        b2[:, 3] = draw(extent)
    elif mode == "degenerate":
        b2 = b1.copy()
        b1[:, 2] = 0.0
        b2[:, draw(st.sampled_from([2, 3]))] = 0.0
    else:
        b2 = b1 * draw(st.sampled_from([0.5, 3.0, 1e-3]))
    # magnitudes below 1e-150 as 0 (the suite's strategies map those below 1e-30 to 0): products of two such
    # numbers leave float64's normal range, where the oracle's digits and mpmath's part
    return tuple(np.where(np.abs(b) < 1e-150, 0.0, b) for b in (b1, b2))


# ----------------------------------------------------------------------------------------------------------------
# Boxes: values
# ----------------------------------------------------------------------------------------------------------------

BOX_NAMES = ["bbox_iou", "bbox_giou", "iou_loss", "giou_loss"]


@given(box_pairs())
@example((np.array([[0.0, 0.5, 0.5, 2.4e-231]]), np.array([[0.0, 0.5, 0.5, 2.4e-231]])))  # identical, tiny height
@example((np.array([[0.0, 0.5, 0.5, -2.4e-231]]), np.array([[0.0, 0.5, 0.5, -2.4e-231]])))
def test_box_functions_match_mpmath(pair):
    b1, b2 = pair
    for name in BOX_NAMES:
        got = oracle.evaluate(name, boxes1=b1, boxes2=b2)
        want = from_mp(mp_box_fn(name, b1, b2))
        # GIoU near 0 is accurate to a few ulps of 1 (documented); the rest relatively.
        assert_rel(got, want, rtol=1e-12, atol=1e-15, what=name)


@given(st.integers(0, 2**32 - 1), st.sampled_from([((3, 1, 4), (2, 4)), ((4,), (2, 3, 4)), ((2, 1, 4), (1, 3, 4))]))
def test_box_broadcasting(seed, shapes):
    rng = np.random.default_rng(seed)
    b1 = rng.normal(size=shapes[0]) * 3
    b2 = rng.normal(size=shapes[1]) * 3
    for name in BOX_NAMES:
        got = getattr(oracle, name)(b1, b2)
        assert got.shape == np.broadcast_shapes(b1.shape, b2.shape)[:-1]
        assert_rel(got, from_mp(mp_box_fn(name, b1, b2)), rtol=1e-12, atol=1e-15, what=name)


def test_box_known_values():
    b1 = np.array([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, -1.0, 1.0], [0.0, 0.0, 0.0, 0.0], [5.0, 5.0, 0.0, 2.0]])
    b2 = np.array([[1.0, 1.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0], [5.0, 5.0, 0.0, 2.0]])
    # overlap 1, union 7, enclosure 9
    assert_rel(oracle.bbox_iou(b1, b2)[0], 1 / 7)
    assert_rel(oracle.bbox_giou(b1, b2)[0], 1 / 7 - 2 / 9)
    # YOLO-IOU-RAW-AREA: raw areas -1 + 1 = 0 -> 0/0; the sorted GIoU sees identical boxes
    assert np.isnan(oracle.bbox_iou(b1, b2)[1]) and oracle.bbox_giou(b1, b2)[1] == 1.0
    # YOLO-ZERO-UNION: degenerate boxes give NaN
    assert np.isnan(oracle.bbox_iou(b1, b2)[2:]).all() and np.isnan(oracle.bbox_giou(b1, b2)[2:]).all()
    assert np.isnan(oracle.giou_loss(b1, b2)[2:]).all() and np.isnan(oracle.iou_loss(b1, b2)[2:]).all()


def test_large_coordinates_no_cancellation():
    # centres near 1e6, unit extents, overlapping by 2**-30: corners x -+ w/2 would lose ~1e-10 absolute
    c = 1e6 + 0.3
    b1 = np.array([c, 7.0, 1.0, 1.0])
    b2 = np.array([c + 1.0 - 2.0**-30, 7.0, 1.0, 1.0])
    for name in BOX_NAMES:
        assert_rel(getattr(oracle, name)(b1, b2), from_mp(mp_box_fn(name, b1, b2)), rtol=1e-13, what=name)
    assert_rel(oracle.bbox_iou(b1, b2), 2.0**-30 / (2 - 2.0**-30), rtol=1e-14)


# ----------------------------------------------------------------------------------------------------------------
# Boxes: properties
# ----------------------------------------------------------------------------------------------------------------


@given(box_pairs())
def test_box_properties(pair):
    b1, b2 = np.abs(pair[0]), np.abs(pair[1])
    iou = oracle.bbox_iou(b1, b2)
    giou = oracle.bbox_giou(b1, b2)
    ok = ~np.isnan(giou)
    assert np.array_equal(np.isnan(iou), np.isnan(giou))
    assert np.all(giou[ok] <= iou[ok] + 1e-15)
    assert np.all((giou[ok] >= -1.0) & (giou[ok] <= 1.0))
    assert np.all((iou[ok] >= 0.0) & (iou[ok] <= 1.0))
    # symmetry (exact: the computation is symmetric)
    for name in BOX_NAMES:
        assert_rel(getattr(oracle, name)(b2, b1), getattr(oracle, name)(b1, b2), rtol=0, what=name)
    # scale invariance: powers of two are exact, and the oracle is invariant exactly
    for k in (-3, 5):
        assert_rel(oracle.bbox_giou(b1 * 2.0**k, b2 * 2.0**k), giou, rtol=0, what="giou scaled")
        assert_rel(oracle.bbox_iou(b1 * 2.0**k, b2 * 2.0**k), iou, rtol=0, what="iou scaled")
    # identical non-degenerate boxes
    nd = (b1[:, 2] > 0) & (b1[:, 3] > 0) & np.all(np.isfinite(b1), axis=1)
    assert np.all(oracle.bbox_iou(b1[nd], b1[nd]) == 1.0)
    assert np.all(oracle.bbox_giou(b1[nd], b1[nd]) == 1.0)
    assert np.all(oracle.giou_loss(b1[nd], b1[nd]) == 0.0)


@given(st.integers(0, 2**32 - 1), st.sampled_from([3.0, 0.1, 7.5]))
def test_scale_invariance_non_power_of_two(seed, factor):
    rng = np.random.default_rng(seed)
    b1 = np.concatenate([rng.uniform(-5, 5, (6, 2)), rng.uniform(0.2, 5, (6, 2))], axis=1)
    b2 = np.concatenate([rng.uniform(-5, 5, (6, 2)), rng.uniform(0.2, 5, (6, 2))], axis=1)
    for name in BOX_NAMES:
        f = getattr(oracle, name)
        # scaling rounds the inputs; the ratio of the two results is 1 up to that perturbation
        assert_rel(f(b1 * factor, b2 * factor), f(b1, b2), rtol=1e-13, atol=1e-13, what=name)


# ----------------------------------------------------------------------------------------------------------------
# Boxes: VJPs
# ----------------------------------------------------------------------------------------------------------------


def box_margin(b1, b2):
    """Distance of a box pair to the nearest kink (corner ties, zero overlap, zero extent), per pair."""
    b1, b2 = np.broadcast_arrays(b1, b2)
    gaps = []
    for k in range(2):
        for sort in (False, True):
            w1, w2 = (np.abs(b1[..., 2 + k]), np.abs(b2[..., 2 + k])) if sort else (b1[..., 2 + k], b2[..., 2 + k])
            l1, r1 = b1[..., k] - w1 / 2, b1[..., k] + w1 / 2
            l2, r2 = b2[..., k] - w2 / 2, b2[..., k] + w2 / 2
            gaps += [np.abs(l1 - l2), np.abs(r1 - r2), np.abs(np.minimum(r1, r2) - np.maximum(l1, l2))]
        gaps += [np.abs(b1[..., 2 + k]), np.abs(b2[..., 2 + k])]
    return np.min(gaps, axis=0)


def random_boxes(rng, shape, negative=False):
    b = np.concatenate([rng.uniform(-4, 4, shape + (2,)), rng.uniform(0.3, 4, shape + (2,))], axis=-1)
    if negative:
        b[..., 2:] *= rng.choice([-1.0, 1.0], size=shape + (2,))
    return b


@pytest.mark.parametrize("name", BOX_NAMES)
@given(seed=st.integers(0, 2**32 - 1), shapes=st.sampled_from([((5,), (5,)), ((3, 1), (4,)), ((1,), (2, 3))]),
       negative=st.booleans())
def test_box_vjp_matches_finite_differences(name, seed, shapes, negative):
    rng = np.random.default_rng(seed)
    b1 = random_boxes(rng, shapes[0], negative)
    b2 = random_boxes(rng, shapes[1], negative)
    assume(np.all(box_margin(b1, b2) > 1e-3))
    out_shape = np.broadcast_shapes(b1.shape, b2.shape)[:-1]
    cot = rng.normal(size=out_shape)
    assume(np.all(np.isfinite(oracle.evaluate(name, boxes1=b1, boxes2=b2))))
    for wrt, arg in (("boxes1", b1), ("boxes2", b2)):
        assert not oracle.kinks(name, wrt, boxes1=b1, boxes2=b2).any()

        def f(x, wrt=wrt):
            kw = {"boxes1": b1, "boxes2": b2, wrt: x}
            return oracle.evaluate(name, **kw)

        got = oracle.vjp(name, cot, wrt, boxes1=b1, boxes2=b2)
        assert got.shape == arg.shape
        assert_rel(got, fd_vjp(f, arg, cot), rtol=1e-6, atol=1e-8, what=f"{name} d/{wrt}")


def directional_mp(fn_mp, x, v, cot):
    """d/dt <cot, fn_mp(x + t v)> at t = 0 with mpmath.diff."""
    xm, vm, cm = to_mp(x), to_mp(v), to_mp(cot)

    def g(t):
        out = fn_mp(xm + vm * t)
        return sum(c * o for c, o in zip(np.ravel(cm), np.ravel(out), strict=True))

    return float(mpmath.diff(g, 0))


@pytest.mark.parametrize("name", BOX_NAMES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_box_vjp_matches_mpmath_diff(name, seed):
    rng = np.random.default_rng(seed)
    b1 = random_boxes(rng, (3,), negative=seed == 3)
    b2 = random_boxes(rng, (3,), negative=seed == 3)
    b2[0] = b1[0] + [0.5, -0.25, 0.1, 0.3]  # make sure one pair overlaps
    assert np.all(box_margin(b1, b2) > 1e-3)
    cot = rng.normal(size=3)
    for wrt in ("boxes1", "boxes2"):
        x = b1 if wrt == "boxes1" else b2
        v = rng.normal(size=x.shape)

        def fn(xm, wrt=wrt):
            return mp_box_fn(name, xm, b2) if wrt == "boxes1" else mp_box_fn(name, b1, xm)

        want = directional_mp(fn, x, v, cot)
        got = float(np.sum(v * oracle.vjp(name, cot, wrt, boxes1=b1, boxes2=b2)))
        assert_rel(got, want, rtol=1e-10, atol=1e-14, what=f"{name} d/{wrt}")


def test_box_vjp_tie_conventions():
    # Identical boxes: every min/max tie goes to boxes1 (TensorFlow: maximum -> x when x >= y,
    # minimum -> x when x <= y).  bbox_iou: d iou / d boxes2 comes only through the raw area.
    b = np.array([0.0, 0.0, 2.0, 4.0])
    g1 = oracle.vjp("bbox_iou", 1.0, "boxes1", boxes1=b, boxes2=b)
    g2 = oracle.vjp("bbox_iou", 1.0, "boxes2", boxes1=b, boxes2=b)
    # iou = I / (A1 + A2 - I): dI = 2/A, dA = -1/A with A = 8; I = Ix*Iy flows to boxes1's corners
    assert_rel(g1, [0.0, 0.0, 2 / 8 * 4 * 1.0 - 4 / 8, 2 / 8 * 2 * 1.0 - 2 / 8], what="iou boxes1")
    assert_rel(g2, [0.0, 0.0, -4 / 8, -2 / 8], what="iou boxes2")
    assert oracle.kinks("bbox_iou", "boxes1", boxes1=b, boxes2=b).all()
    # zero width in GIoU: at the sorting tie both sorted corners follow x - w/2 (minimum -> l when l <= r,
    # maximum -> l when l >= r), so d/dw = -d/dx / 2 there; it is a kink
    b1 = np.array([0.0, 0.0, 0.0, 2.0])
    b2 = np.array([3.0, 0.3, 2.0, 3.0])
    g = oracle.vjp("bbox_giou", 1.0, "boxes1", boxes1=b1, boxes2=b2)
    assert g[0] != 0.0 and g[2] == -0.5 * g[0]
    assert oracle.kinks("bbox_giou", "boxes1", boxes1=b1, boxes2=b2).tolist() == [False, False, True, False]
    # touching boxes: max(right - left, 0) at 0 passes the gradient
    b1 = np.array([0.0, 0.0, 2.0, 2.0])
    b2 = np.array([2.0, 0.0, 2.0, 2.0])
    k = oracle.kinks("bbox_iou", "boxes1", boxes1=b1, boxes2=b2)
    # x touches (a kink: y overlaps); y ties (identical extent) but the x overlap is 0 and y does not move it
    assert k.tolist() == [True, False, True, False]
    g = oracle.vjp("bbox_iou", 1.0, "boxes1", boxes1=b1, boxes2=b2)
    assert_rel(g, [0.25, 0.0, 0.125, 0.0], what="touching")


def test_box_kinks_only_where_they_matter():
    # corner tie L1 == L2 on x while the (unsorted) overlap is empty: IoU is flat there, GIoU touches
    b1 = np.array([0.0, 0.0, -2.0, 1.0])
    b2 = np.array([2.0, 0.0, 2.0, 3.0])
    assert not oracle.kinks("bbox_iou", "boxes1", boxes1=b1, boxes2=b2)[[0, 2]].any()
    assert oracle.kinks("bbox_giou", "boxes1", boxes1=b1, boxes2=b2)[[0, 2]].all()
    # side by side with equal heights: the union fills the enclosing box, touching along x is no kink
    # (the equal y extents are enclosure ties, kinks in y)
    b2 = np.array([2.0, 0.0, 2.0, 1.0])
    assert oracle.kinks("bbox_giou", "boxes1", boxes1=b1, boxes2=b2).tolist() == [False, True, False, True]
    # a tie along x while the y extents are apart: the intersection is 0 nearby, no kink in IoU
    b1, b2 = np.array([0.0, 0.0, 2.0, 2.0]), np.array([0.5, 5.0, 3.0, 2.0])
    assert not oracle.kinks("bbox_iou", "boxes1", boxes1=b1, boxes2=b2).any()
    assert oracle.kinks("bbox_giou", "boxes1", boxes1=b1, boxes2=b2).tolist() == [True, False, True, False]


def _one_sided_partials(name, b1, b2, wrt, i, h="1e-50"):
    """(left, right) one-sided partial derivatives of the mpmath reference wrt entry i of ``wrt``."""
    with mpmath.workdps(120):
        base = [to_mp(b1), to_mp(b2)]
        j = 0 if wrt == "boxes1" else 1

        def f(t):
            args = [base[0].copy(), base[1].copy()]
            args[j][i] = args[j][i] + t
            return MP_BOX[name](args[0], args[1])

        step = MPF(h)
        f0 = f(0)
        return float((f0 - f(-step)) / step), float((f(step) - f0) / step)


KINK_CASES = {
    "identical": ([0.0, 0.0, 2.0, 4.0], [0.0, 0.0, 2.0, 4.0]),
    "x touches, y identical": ([0.0, 0.0, 2.0, 2.0], [2.0, 0.0, 2.0, 2.0]),
    "left tie on x, y apart": ([0.0, 0.0, 2.0, 2.0], [0.5, 5.0, 3.0, 2.0]),
    "left tie on x, y overlapping": ([0.0, 0.0, 2.0, 2.0], [0.5, 0.5, 3.0, 2.0]),
    "zero width": ([0.0, 0.0, 0.0, 2.0], [3.0, 0.3, 2.0, 3.0]),
    "touching corners": ([0.0, 0.0, 2.0, 2.0], [2.0, 2.0, 2.0, 2.0]),
    "x touches, y nested": ([0.0, 0.0, 2.0, 2.0], [2.0, 0.5, 2.0, 4.0]),
    "point inside": ([0.5, 0.25, 0.0, 0.0], [0.0, 0.0, 4.0, 4.0]),
    "point inside on x, above on y": ([0.5, 5.0, 0.0, 0.0], [0.0, 0.0, 4.0, 4.0]),
    "zero width touching a spanning box": ([1.0, 0.0, 0.0, 1.0], [2.0, 0.0, 2.0, 4.0]),
    "negative width, left tie": ([0.0, 0.0, -2.0, 1.0], [2.0, 0.0, 2.0, 1.0]),
}
# Cases where several ties meet at one entry: a kink there (the generalised gradient's projection on the
# entry is not a single value) can have equal one-sided partial derivatives along the entry's own axis.
MULTI_TIE_CASES = {"zero width touching a spanning box"}


@pytest.mark.parametrize("name", BOX_NAMES)
@pytest.mark.parametrize("case", KINK_CASES)
def test_box_kinks_are_exactly_the_non_differentiable_entries(name, case):
    """Marked entries have distinct one-sided partials (mpmath); unmarked ones agree with each other and the VJP."""
    b1, b2 = (np.array(b) for b in KINK_CASES[case])
    for wrt in ("boxes1", "boxes2"):
        k = oracle.kinks(name, wrt, boxes1=b1, boxes2=b2)
        g = oracle.vjp(name, 1.0, wrt, boxes1=b1, boxes2=b2)
        for i in range(4):
            left, right = _one_sided_partials(name, b1, b2, wrt, i)
            if k[i]:
                assert case in MULTI_TIE_CASES or abs(left - right) > 1e-6, (
                    f"{case}: {wrt}[{i}] marked but differentiable ({left}, {right})")
            else:
                assert_rel([left], [right], rtol=1e-12, atol=1e-14, what=f"{case}: {wrt}[{i}] one-sided")
                assert_rel([g[i]], [right], rtol=1e-12, atol=1e-14, what=f"{case}: {wrt}[{i}] VJP")


def test_box_kinks_none_for_generic_boxes():
    b1 = np.array([[0.1, 0.2, 2.3, 1.7]])
    b2 = np.array([[0.9, -0.4, 1.1, 2.9]])
    for name in BOX_NAMES:
        for wrt in ("boxes1", "boxes2"):
            assert not oracle.kinks(name, wrt, boxes1=b1, boxes2=b2).any()


# ----------------------------------------------------------------------------------------------------------------
# decode
# ----------------------------------------------------------------------------------------------------------------

logit = st.one_of(st.floats(-40, 40), st.sampled_from([0.0, -0.0, 1e-300, -750.0, 710.0, 712.5, -745.0, 30.0]))


@st.composite
def decode_inputs(draw):
    b, s, a, n = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
    conv = np.array(draw(st.lists(logit, min_size=b * s * s * a * (5 + n), max_size=b * s * s * a * (5 + n))))
    anchors = np.array(draw(st.lists(st.floats(0.05, 20), min_size=2 * a, max_size=2 * a))).reshape(a, 2)
    stride = draw(st.sampled_from([1.0, 8.0, 16.0, 32.0, 0.5, 3.0]))
    return conv.reshape(b, s, s, a * (5 + n)), anchors, stride, n


@given(decode_inputs())
def test_decode_matches_mpmath(args):
    conv, anchors, stride, n = args
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        got = oracle.decode(conv, anchors, stride, n)
    raw = conv.reshape(conv.shape[:3] + (len(anchors), 5 + n))
    assert got.shape == raw.shape
    assert_rel(got, from_mp(mp_decode(raw, anchors, stride)), rtol=1e-14, atol=1e-300, what="decode")


def test_decode_grid_order():
    conv = np.zeros((1, 2, 2, 6))  # A = 1, N = 1; sigmoid(0) = 0.5
    out = oracle.decode(conv, [[1.0, 2.0]], 8, 1)
    assert out[0, 0, 1, 0, :2].tolist() == [12.0, 4.0]  # x from the column index
    assert out[0, 1, 0, 0, :2].tolist() == [4.0, 12.0]  # y from the row index
    assert out[0, 1, 1, 0, 2:4].tolist() == [8.0, 16.0]


@given(decode_inputs(), st.integers(0, 2**32 - 1))
def test_decode_vjp(args, seed):
    conv, anchors, stride, n = args
    conv = np.clip(conv, -8, 8)  # finite differences need moderate logits
    rng = np.random.default_rng(seed)
    out_shape = conv.shape[:3] + (len(anchors), 5 + n)
    cot = rng.normal(size=out_shape)
    kw = {"conv_output": conv, "anchors": anchors, "stride": stride, "num_class": n}
    got = oracle.vjp("decode", cot, "conv_output", **kw)
    assert got.shape == conv.shape
    assert not oracle.kinks("decode", "conv_output", **kw).any()
    want = fd_vjp(lambda x: oracle.decode(x, anchors, stride, n), conv, cot)
    # fd_vjp sums all outputs (up to ~1e3 in size): its rounding error is ~1e-7 of the largest output
    assert_rel(got, want, rtol=1e-6, atol=1e-7 * float(np.max(np.abs(oracle.decode(conv, anchors, stride, n)))),
               what="decode vjp")


def test_decode_vjp_matches_mpmath_diff():
    rng = np.random.default_rng(7)
    conv = rng.normal(size=(1, 2, 2, 14)) * 2
    anchors = np.array([[1.5, 2.5], [0.7, 3.0]])
    cot = rng.normal(size=(1, 2, 2, 2, 7))
    v = rng.normal(size=conv.shape)
    want = directional_mp(lambda c: mp_decode(c.reshape(1, 2, 2, 2, 7), anchors, 16.0), conv, v, cot)
    got = np.sum(v * oracle.vjp("decode", cot, "conv_output", conv_output=conv, anchors=anchors, stride=16.0,
                                num_class=2))
    assert_rel(got, want, rtol=1e-12)


# ----------------------------------------------------------------------------------------------------------------
# focal
# ----------------------------------------------------------------------------------------------------------------


@given(st.lists(st.floats(-3, 3), min_size=1, max_size=6), st.lists(st.floats(-3, 3), min_size=1, max_size=6),
       st.sampled_from([0.25, 1.0, 2.0]), st.sampled_from([0.5, 1.0, 2.0, 2.5, 3.0]))
def test_focal_matches_mpmath(t, a, alpha, gamma):
    t = np.array(t)[:, None]
    a = np.array(a)[None, :]
    got = oracle.focal(t, a, alpha=alpha, gamma=gamma)
    want = np.vectorize(lambda u, w: float(MPF(alpha) * abs(MPF(u) - MPF(w)) ** MPF(gamma)))(t, a)
    assert_rel(got, want, what="focal")
    assert_rel(oracle.evaluate("focal", target=t, actual=a, alpha=alpha, gamma=gamma), want)


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0, 3.0])
def test_focal_vjp(gamma):
    rng = np.random.default_rng(3)
    t = rng.uniform(-1, 1, size=(3, 4))
    a = rng.uniform(-1, 1, size=(4,))
    cot = rng.normal(size=(3, 4))
    kw = {"target": t, "actual": a, "alpha": 0.75, "gamma": gamma}
    got = oracle.vjp("focal", cot, "actual", **kw)
    assert got.shape == a.shape and not oracle.kinks("focal", "actual", **kw).any()
    assert_rel(got, fd_vjp(lambda x: oracle.focal(t, x, 0.75, gamma), a, cot), rtol=1e-6, atol=1e-9)
    want = directional_mp(lambda x: np.vectorize(lambda u, w: MPF("0.75") * abs(u - w) ** gamma, otypes=[object])(
        to_mp(t), x), a, np.ones_like(a), cot)
    assert_rel(np.sum(got), want, rtol=1e-10)
    # at target == actual: subgradient 0, a kink only for gamma <= 1
    kw0 = {"target": [0.5], "actual": [0.5], "alpha": 1.0, "gamma": gamma}
    assert oracle.vjp("focal", [1.0], "actual", **kw0).tolist() == [0.0]
    assert oracle.kinks("focal", "actual", **kw0).tolist() == [gamma <= 1]


@pytest.mark.parametrize(("gamma", "kink"), [(0.0, False), (-1.0, True), (0.5, True), (2.0, False)])
def test_focal_kink_only_where_not_differentiable(gamma, kink):
    # gamma == 0: the constant alpha (|d|**0 == 1, also at d = 0); gamma < 0: a pole; 0 < gamma <= 1: a cusp
    kw0 = {"target": [0.5], "actual": [0.5], "alpha": 1.5, "gamma": gamma}
    assert oracle.kinks("focal", "actual", **kw0).tolist() == [kink]
    if gamma == 0.0:
        assert oracle.focal(**kw0).tolist() == [1.5]
        assert oracle.vjp("focal", [1.0], "actual", **kw0).tolist() == [0.0]


def test_focal_derivative_formula():
    # d/dactual = -alpha*gamma*|d|^(gamma-1)*sign(d), d = target - actual
    got = oracle.vjp("focal", [1.0, 1.0], "actual", target=[1.0, 0.0], actual=[0.25, 0.5], alpha=2.0, gamma=2.5)
    assert_rel(got, [-2 * 2.5 * 0.75**1.5, 2 * 2.5 * 0.5**1.5])


# ----------------------------------------------------------------------------------------------------------------
# loss_layer / compute_loss
# ----------------------------------------------------------------------------------------------------------------


def make_layer(rng, b, s, a, n, m, stride, mode="random"):
    """Random single-scale inputs; ``mode`` adds adversarial structure."""
    anchors = rng.uniform(0.5, 3.0, size=(a, 2))
    conv = rng.normal(size=(b, s, s, a * (5 + n))) * 1.5
    isz = stride * s
    r = (rng.random((b, s, s, a)) < 0.5).astype(float)
    if mode == "no_objects":
        r[:] = 0.0
    label = np.zeros((b, s, s, a, 5 + n))
    boxes = np.concatenate([rng.uniform(0, isz, (b, s, s, a, 2)), rng.uniform(1, isz, (b, s, s, a, 2))], axis=-1)
    label[..., :4] = boxes * r[..., None]
    label[..., 4] = r
    label[..., 5:] = rng.random((b, s, s, a, n)) * r[..., None]
    bboxes = np.concatenate([rng.uniform(0, isz, (b, m, 2)), rng.uniform(1, isz, (b, m, 2))], axis=-1)
    if m > 1:
        bboxes[:, -1] = 0.0  # zero padding
    if mode == "big_logits":
        conv = conv * 12.0
    if mode == "near_match":  # predictions close to their label boxes: the giou loss is small
        raw = conv.reshape(b, s, s, a, 5 + n)
        pred = oracle.decode(conv, anchors, stride, n)
        label[..., :4] = np.where(r[..., None] > 0, pred[..., :4] * (1 + 1e-3 * rng.normal(size=pred[..., :4].shape)),
                                  0.0)
        conv = raw.reshape(conv.shape)
    return {"conv": conv, "label": label, "bboxes": bboxes, "anchors": anchors, "stride": stride, "num_class": n,
            "iou_loss_thresh": float(rng.choice([0.5, 0.3, 0.1]))}


@st.composite
def layer_inputs(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2)),
             draw(st.integers(1, 4)))
    stride = draw(st.sampled_from([8.0, 16.0, 32.0, 2.0]))
    mode = draw(st.sampled_from(["random", "no_objects", "big_logits", "near_match"]))
    return make_layer(np.random.default_rng(seed), *shape, stride, mode)


def mp_layer(kw, pred=None):
    return mp_loss_layer(kw["conv"], kw["label"], kw["bboxes"], kw["anchors"], kw["stride"], kw["num_class"],
                         kw["iou_loss_thresh"], pred=pred)


def giou_atol(kw):
    """Absolute floor for the giou term: the decoded boxes are rounded to float64 (documented), so each
    responsible cell's 1 - GIoU carries an error of a few ulps of |coordinate| / extent."""
    pred = oracle.decode(kw["conv"], kw["anchors"], kw["stride"], kw["num_class"])[..., :4]
    lab = kw["label"][..., :4]
    size = np.minimum(np.min(np.abs(pred[..., 2:]), axis=-1), np.min(np.abs(lab[..., 2:]), axis=-1))
    mag = np.maximum(np.max(np.abs(pred), axis=-1), np.max(np.abs(lab), axis=-1))
    r = kw["label"][..., 4]
    cond = np.where(r != 0, r * 2.0 * mag / np.where(r != 0, size, 1.0), 0.0)
    return 8 * np.finfo(float).eps * float(np.sum(cond)) / kw["conv"].shape[0]


@given(layer_inputs(), st.booleans())
def test_loss_layer_matches_mpmath(kw, given_pred):
    ref = mp_layer(kw)
    assume(not mpmath.isnan(ref[3]) and ref[3] > 1e-9)  # keep away from the background threshold
    assert_rel(Y.threshold_margin(**kw), float(ref[3]), rtol=1e-9, atol=1e-14, what="margin")
    pred = oracle.decode(kw["conv"], kw["anchors"], kw["stride"], kw["num_class"]) if given_pred else None
    if given_pred:
        ref = mp_layer(kw, pred=pred)
    got = oracle.evaluate("loss_layer", pred=pred, **kw)
    assert isinstance(got, tuple) and len(got) == 3
    for k, what in enumerate(("giou", "conf", "prob")):
        atol = giou_atol(kw) if k == 0 else 1e-300
        assert_rel(got[k], float(ref[k]), rtol=1e-12, atol=atol, what=what)
    assert_rel(oracle.loss_layer(kw["conv"], pred, kw["label"], kw["bboxes"], kw["anchors"], kw["stride"],
                                 kw["num_class"], kw["iou_loss_thresh"]), got, rtol=0)
    if not kw["label"][..., 4].any():
        assert float(got[0]) == 0.0 and float(got[2]) == 0.0


def test_loss_layer_all_background():
    kw = make_layer(np.random.default_rng(11), 2, 3, 3, 2, 3, 16.0, mode="no_objects")
    got = oracle.evaluate("loss_layer", **kw)
    assert float(got[0]) == 0.0 and float(got[2]) == 0.0 and float(got[1]) > 0.0
    assert_rel(got[1], float(mp_layer(kw)[1]))


def test_loss_layer_nan_semantics():
    # A degenerate prediction (e^-800 underflows: zero width and height) against a zero label box with
    # r == 0: GIoU is 0/0 and NaN * 0 stays NaN (YOLO-ZERO-UNION); max_iou against zero padding is NaN,
    # and NaN < thresh is False, so the cell is not background.
    conv = np.zeros((1, 1, 1, 6))
    conv[..., 2:4] = -800.0
    label = np.zeros((1, 1, 1, 1, 6))
    bboxes = np.zeros((1, 1, 4))
    kw = {"conv": conv, "label": label, "bboxes": bboxes, "anchors": [[1.0, 1.0]], "stride": 8, "num_class": 1}
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        g, c, p = oracle.evaluate("loss_layer", **kw)
    assert np.isnan(g) and float(c) == 0.0 and float(p) == 0.0
    assert np.isnan(Y.max_iou(np.zeros((1, 1, 1, 1, 4)), bboxes)).all()
    assert math.isnan(Y.threshold_margin(**kw))
    # no true boxes at all: max over M = 0 is -inf (reduce_max identity), so every r == 0 cell is background
    kw2 = dict(kw, conv=np.zeros((1, 1, 1, 6)), bboxes=np.zeros((1, 0, 4)))
    assert Y.max_iou(np.ones((1, 4)), np.zeros((1, 0, 4))).tolist() == [-np.inf]
    assert_rel(oracle.evaluate("loss_layer", **kw2)[1], 0.25 * math.log(2))


def _box_sets(rng, kind, n_b=2, n_p=60, m=12):
    """Prediction and true-box sets that stress the screened max IoU."""
    if kind == "random":
        mk = lambda n: np.concatenate([rng.uniform(0, 30, (n_b, n, 2)), rng.uniform(0.1, 12, (n_b, n, 2))], -1)  # noqa: E731
        return mk(n_p), mk(m)
    if kind == "grid":  # integers: exact ties, touching boxes, IoU exactly 1/2, 1/3, zero sizes
        return rng.integers(0, 6, (n_b, n_p, 4)).astype(float), rng.integers(0, 6, (n_b, m, 4)).astype(float)
    if kind == "negative":
        return rng.integers(-3, 6, (n_b, n_p, 4)).astype(float), rng.integers(-3, 6, (n_b, m, 4)).astype(float)
    if kind == "far-out near-identical":  # centres near 1e6, predictions within 1e-9 of a true box
        b = np.concatenate([1e6 + rng.uniform(0, 8, (n_b, m, 2)), rng.uniform(0.5, 2, (n_b, m, 2))], -1)
        return np.repeat(b, n_p // m, axis=1) + rng.normal(size=(n_b, n_p // m * m, 4)) * 1e-9, b
    if kind == "at the threshold":  # IoU 1/2 exactly and within a few ulps of it
        b = np.tile([[0.5, 0.5, 1.0, 1.0]], (n_b, m, 1))
        p = np.tile([[1.0, 0.5, 2.0, 1.0]], (n_b, n_p, 1))
        p[..., 2] += rng.integers(-4, 5, (n_b, n_p)) * 2.0**-52
        return p, b
    if kind == "degenerate":  # zero padding, point boxes, tiny and huge extents, inf and NaN
        p, b = _box_sets(rng, "random", n_b, n_p, m)
        b[:, ::3] = 0.0
        p[:, ::5, 2:] = 0.0
        p[:, 1] = [1.0, 1.0, 5e-324, 1e-310]
        p[:, 2, 0], p[:, 3, 2], p[:, 4, 1] = np.inf, np.inf, np.nan
        p[:, 6, 2:] = 1e200
        b[:, 1, 2:] = [1e200, 3e199]
        return p, b
    raise AssertionError(kind)


@settings(max_examples=30)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["random", "grid", "negative", "far-out near-identical",
                                                   "at the threshold", "degenerate"]))
def test_screened_max_iou_is_the_error_free_max(seed, kind):
    # the screened maximum (plain float64 with error bounds, error-free only near the maximum) is bit for bit
    # the maximum of the error-free IoUs, NaN where that is NaN
    p, b = _box_sets(np.random.default_rng(seed), kind)
    got = maxiou.screened_max_iou(p, b)
    want = maxiou.exact_max_iou(p, b)
    assert np.array_equal(got, want, equal_nan=True), np.argwhere(~((got == want) | np.isnan(want)))[:3]
    assert np.array_equal(Y.max_iou(p, b), want, equal_nan=True)


def test_screened_max_iou_blocks():
    # more rows than one block holds: the blocks cover every row once
    rng = np.random.default_rng(5)
    p, b = _box_sets(rng, "grid", 1, 3 * (maxiou.PAIRS_PER_BLOCK // 7) + 11, 7)
    assert np.array_equal(maxiou.screened_max_iou(p, b), maxiou.exact_max_iou(p, b), equal_nan=True)


def test_loss_layer_class_term_nan_rows():
    # r == 0 and a NaN class logit: r * SCE is 0 * NaN = NaN, in the value and in that entry of the gradient,
    # as the formula computes over every element
    kw = make_layer(np.random.default_rng(3), 1, 2, 2, 2, 2, 8.0)
    label = kw["label"].copy()
    label[0, 0, 0, 0, 4] = 0.0
    conv = kw["conv"].copy()
    conv[0, 0, 0, 5] = np.nan  # anchor 0, class 0 of cell (0, 0)
    kw2 = dict(kw, conv=conv, label=label)
    g, c, p = oracle.evaluate("loss_layer", **kw2)
    assert np.isnan(p) and np.isfinite(g)
    grad = oracle.vjp("loss_layer", (0.0, 0.0, 1.0), "conv", **kw2)
    assert np.isnan(grad[0, 0, 0, 5]) and np.isfinite(np.delete(grad.reshape(-1), 5)).all()
    # and a NaN cotangent for the class term reaches every class entry (NaN * 0)
    grad = oracle.vjp("loss_layer", (0.0, 0.0, np.nan), "conv", **kw)
    assert np.isnan(grad.reshape(2, 2, 2, 7)[..., 5:]).all()


def layer_margin_ok(kw, eps=1e-4):
    m = Y.threshold_margin(**kw)
    return not math.isnan(m) and m > eps


@settings(max_examples=25)
@given(st.integers(0, 2**32 - 1), st.sampled_from([(1, 2, 2, 1, 2), (2, 1, 3, 2, 3), (1, 3, 1, 1, 1)]),
       st.sampled_from(["random", "no_objects", "near_match"]))
def test_loss_layer_vjp_matches_finite_differences(seed, shape, mode):
    rng = np.random.default_rng(seed)
    kw = make_layer(rng, *shape, 8.0, mode)
    assume(layer_margin_ok(kw))
    cot = tuple(rng.normal(size=3))
    pred = oracle.decode(kw["conv"], kw["anchors"], kw["stride"], kw["num_class"])
    assume(not oracle.kinks("loss_layer", "conv", **kw).any())
    resp = kw["label"][..., 4] == 1
    assume(np.all(box_margin(pred[..., :4][resp], kw["label"][..., :4][resp]) > 1e-3))

    def f_conv(c):
        return np.array(oracle.evaluate("loss_layer", **dict(kw, conv=c)))

    def f_pred(p):
        return np.array(oracle.evaluate("loss_layer", pred=p, **kw))

    got = oracle.vjp("loss_layer", cot, "conv", **kw)
    assert got.shape == kw["conv"].shape
    assert_rel(got, fd_vjp(f_conv, kw["conv"], np.array(cot)), rtol=1e-6, atol=1e-7, what="d/dconv")
    # wrt="conv" ignores a given pred: it is always the composite gradient
    assert_rel(oracle.vjp("loss_layer", cot, "conv", pred=pred * 2, **kw), got, rtol=0)
    got_p = oracle.vjp("loss_layer", cot, "pred", pred=pred, **kw)
    assert got_p.shape == pred.shape and np.all(got_p[..., 5:] == 0)
    assert_rel(got_p, fd_vjp(f_pred, pred, np.array(cot)), rtol=1e-6, atol=1e-7, what="d/dpred")
    assert not oracle.kinks("loss_layer", "pred", pred=pred, **kw).any()


@pytest.mark.parametrize("seed", [4, 5])
def test_loss_layer_vjp_matches_mpmath_diff(seed):
    rng = np.random.default_rng(seed)
    kw = make_layer(rng, 1, 2, 2, 1, 2, 8.0)
    assert layer_margin_ok(kw, 1e-3)
    cot = rng.normal(size=3)
    v = rng.normal(size=kw["conv"].shape)

    def mp_conv(c):
        return np.array(mp_layer(dict(kw, conv=c))[:3], dtype=object)

    want = directional_mp(mp_conv, kw["conv"], v, cot)
    got = float(np.sum(v * oracle.vjp("loss_layer", tuple(cot), "conv", **kw)))
    assert_rel(got, want, rtol=1e-10, what="d/dconv")
    pred = oracle.decode(kw["conv"], kw["anchors"], kw["stride"], kw["num_class"])
    vp = rng.normal(size=pred.shape)

    def mp_pred(p):
        return np.array(mp_layer(kw, pred=p)[:3], dtype=object)

    want = directional_mp(mp_pred, pred, vp, cot)
    got = float(np.sum(vp * oracle.vjp("loss_layer", tuple(cot), "pred", pred=pred, **kw)))
    assert_rel(got, want, rtol=1e-10, what="d/dpred")


def test_loss_layer_kinks_at_threshold():
    # one cell, one true box equal to the decoded prediction: max_iou = 1 = iou_loss_thresh exactly
    conv = np.zeros((1, 1, 1, 6))
    kw = {"conv": conv, "label": np.zeros((1, 1, 1, 1, 6)), "anchors": [[1.0, 1.0]], "stride": 8, "num_class": 1}
    pred = oracle.decode(conv, [[1.0, 1.0]], 8, 1)
    kw["bboxes"] = pred[:, 0, 0, :, :4]
    k = oracle.kinks("loss_layer", "conv", iou_loss_thresh=1.0, **kw)
    assert k.reshape(-1).tolist() == [True] * 5 + [False]
    assert Y.threshold_margin(iou_loss_thresh=1.0, **kw) == 0.0
    assert not oracle.kinks("loss_layer", "conv", iou_loss_thresh=0.5, **kw).any()
    # the comparison is strict: max_iou == thresh is not background
    assert float(oracle.evaluate("loss_layer", iou_loss_thresh=1.0, **kw)[1]) == 0.0
    assert_rel(oracle.evaluate("loss_layer", iou_loss_thresh=1.0 + 2**-52, **kw)[1], 0.25 * math.log(2))
    # a pred box that ties with its label box (r = 1) marks the 4 box entries
    label = np.zeros((1, 1, 1, 1, 6))
    label[..., :4] = pred[..., :4]
    label[..., 4] = 1.0
    kw2 = dict(kw, label=label, bboxes=np.zeros((1, 1, 4)))
    assert oracle.kinks("loss_layer", "conv", **kw2).reshape(-1).tolist() == [True] * 4 + [False] * 2


def test_compute_loss_is_sum_over_scales():
    rng = np.random.default_rng(21)
    layers = [make_layer(rng, 2, s, 3, 2, 3, st_) for s, st_ in ((3, 8.0), (2, 16.0), (1, 32.0))]
    anchors = np.stack([kw["anchors"] for kw in layers])
    args = {"convs": [kw["conv"] for kw in layers], "labels": [kw["label"] for kw in layers],
            "bboxes": [kw["bboxes"] for kw in layers], "anchors": anchors, "strides": [8, 16, 32], "num_class": 2,
            "iou_loss_thresh": 0.4}
    per = [oracle.evaluate("loss_layer", **dict(kw, iou_loss_thresh=0.4)) for kw in layers]
    got = oracle.evaluate("compute_loss", **args)
    assert len(got) == 3
    assert_rel(np.array(got), np.sum(np.array(per), axis=0), rtol=1e-15)
    assert_rel(np.array(oracle.compute_loss(*args.values())), np.array(got), rtol=0)
    cot = (0.3, -1.2, 0.8)
    grads = oracle.vjp("compute_loss", cot, "convs", **args)
    assert isinstance(grads, tuple) and len(grads) == 3
    for g, kw in zip(grads, layers, strict=True):
        assert_rel(g, oracle.vjp("loss_layer", cot, "conv", **dict(kw, iou_loss_thresh=0.4)), rtol=0)
    masks = oracle.kinks("compute_loss", "convs", **args)
    assert [m.shape for m in masks] == [c.shape for c in args["convs"]]


def test_specs_registered():
    for name in ("decode", "bbox_iou", "bbox_giou", "iou_loss", "giou_loss", "focal", "loss_layer", "compute_loss"):
        s = oracle.spec(name)
        assert s.family == "yolov3"
        assert s.n_outputs == (3 if name in ("loss_layer", "compute_loss") else 1)
    assert oracle.spec("loss_layer").diff_args == ("conv", "pred")


# ----------------------------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------------------------

_rng = np.random.default_rng(0)
GOOD = make_layer(_rng, 1, 2, 2, 1, 2, 8.0)
BOX = np.array([[0.0, 0.0, 1.0, 1.0]])


def _compute_args(**over):
    base = {"convs": [GOOD["conv"]] * 3, "labels": [GOOD["label"]] * 3, "bboxes": [GOOD["bboxes"]] * 3,
            "anchors": np.stack([GOOD["anchors"]] * 3), "strides": [8, 8, 8], "num_class": 1}
    base.update(over)
    return base


BAD = [
    ("decode", {"conv_output": np.zeros((1, 2, 2, 11)), "anchors": [[1, 1], [2, 2]], "stride": 8, "num_class": 1},
     r"conv_output: expected last axis of size A\*\(5\+N\) = 2\*\(5\+1\) = 12"),
    ("decode", {"conv_output": np.zeros((1, 2, 3, 6)), "anchors": [[1, 1]], "stride": 8, "num_class": 1},
     "conv_output: expected a square"),
    ("decode", {"conv_output": np.zeros((2, 2, 6)), "anchors": [[1, 1]], "stride": 8, "num_class": 1},
     "conv_output: expected rank 4"),
    ("decode", {"conv_output": np.zeros((1, 2, 2, 6)), "anchors": [[1, 1, 1]], "stride": 8, "num_class": 1},
     "anchors"),
    ("decode", {"conv_output": np.zeros((1, 2, 2, 6)), "anchors": [[1, 1]], "stride": -8, "num_class": 1}, "stride"),
    ("decode", {"conv_output": np.zeros((1, 2, 2, 6)), "anchors": [[1, 1]], "stride": 8, "num_class": 0},
     "num_class"),
    ("bbox_iou", {"boxes1": np.zeros((2, 3)), "boxes2": BOX}, "boxes1"),
    ("bbox_giou", {"boxes1": BOX, "boxes2": np.zeros((2, 1, 3))}, "boxes2"),
    ("giou_loss", {"boxes1": np.zeros((3, 4)), "boxes2": np.zeros((2, 4))}, "boxes2: shape"),
    ("iou_loss", {"boxes1": np.zeros((3, 4)), "boxes2": "abc"}, "boxes2"),
    ("focal", {"target": np.zeros(3), "actual": np.zeros(2)}, "actual"),
    ("focal", {"target": np.zeros(3), "actual": np.zeros(3), "gamma": [1, 2]}, "gamma"),
    ("loss_layer", dict(GOOD, conv=GOOD["conv"][..., :-1]), "conv: expected last axis"),
    ("loss_layer", dict(GOOD, label=GOOD["label"][..., :-1]), "label: expected shape"),
    ("loss_layer", dict(GOOD, bboxes=GOOD["bboxes"][..., :3]), "bboxes"),
    ("loss_layer", dict(GOOD, bboxes=np.zeros((2, 2, 4))), "bboxes: batch size"),
    ("loss_layer", dict(GOOD, bboxes=np.zeros((2, 4))), "bboxes: expected rank 3"),
    ("loss_layer", dict(GOOD, anchors=np.ones((3, 2))), "conv: expected last axis"),
    ("loss_layer", dict(GOOD, pred=np.zeros((1, 2, 2, 2, 5))), "pred: expected shape"),
    ("loss_layer", dict(GOOD, iou_loss_thresh=[0.5, 0.5]), "iou_loss_thresh"),
    ("compute_loss", _compute_args(convs=[GOOD["conv"]] * 2), "convs: expected a sequence of 3"),
    ("compute_loss", _compute_args(labels=[GOOD["label"]] * 4), "labels: expected a sequence of 3"),
    ("compute_loss", _compute_args(anchors=GOOD["anchors"]), "anchors: expected rank 3"),
    ("compute_loss", _compute_args(anchors=np.ones((2, 2, 2))), r"anchors: expected shape \(3, A, 2\)"),
    ("compute_loss", _compute_args(strides=[8, 16]), "strides"),
    ("compute_loss", _compute_args(convs=[GOOD["conv"], GOOD["conv"][:, :1], GOOD["conv"]]), r"convs\[1\]"),
    ("compute_loss", _compute_args(bboxes=[GOOD["bboxes"], GOOD["bboxes"], np.zeros((1, 2, 5))]), r"bboxes\[2\]"),
]


@pytest.mark.parametrize("name,kwargs,match", BAD)
def test_bad_input_raises(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        oracle.evaluate(name, **kwargs)


def test_bad_vjp_arguments():
    with pytest.raises(ValueError, match="wrt"):
        oracle.vjp("loss_layer", (1, 1, 1), "label", **GOOD)
    with pytest.raises(ValueError, match="cotangent"):
        oracle.vjp("loss_layer", (1, 1), "conv", **GOOD)
    with pytest.raises(ValueError, match="cotangent"):
        oracle.vjp("bbox_iou", np.ones(3), "boxes1", boxes1=np.zeros((2, 4)), boxes2=BOX)
    with pytest.raises(ValueError, match="wrt"):
        oracle.kinks("focal", "target", target=1.0, actual=0.5)
    with pytest.raises(ValueError, match="pred_xywh"):
        Y.max_iou(np.zeros((2, 3)), np.zeros((2, 1, 4)))
    with pytest.raises(ValueError, match="bboxes"):
        Y.max_iou(np.zeros((2, 4)), np.zeros((3, 1, 4)))
