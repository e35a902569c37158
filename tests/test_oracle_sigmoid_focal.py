"""The oracle's RetinaNet sigmoid focal loss against mpmath (value and derivative) and its defining properties."""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from helpers import assert_rel
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import oracle

LOGITS = st.one_of(st.sampled_from([0.0, 1.0, -1.0, 20.0, -20.0, 36.7, -36.7, 200.0, -200.0, 700.0, -700.0]),
                   st.floats(-60, 60))
LABELS = st.one_of(st.sampled_from([0.0, 1.0, 0.5, 1e-9, 1 - 1e-9]), st.floats(0, 1))
ALPHAS = st.sampled_from([0.25, 0.5, 0.75, 0.0, 1.0, -1.0])
GAMMAS = st.one_of(st.sampled_from([0.0, 0.5, 1.0, 2.0, 5.0]), st.floats(0, 6))
SHAPES = hnp.array_shapes(min_dims=1, max_dims=2, max_side=4)


def mp_focal(z, x, alpha, gamma):
    """The textbook formula at high precision: p = σ(x), p_t = z·p + (1 − z)(1 − p)."""
    p = 1 / (1 + mp.exp(-x))
    ce = -(z * mp.log(p) + (1 - z) * mp.log(1 - p))
    p_t = z * p + (1 - z) * (1 - p)
    alpha_t = alpha * z + (1 - alpha) * (1 - z) if alpha >= 0 else 1
    return alpha_t * (1 - p_t) ** gamma * ce


def _dps(x: np.ndarray) -> int:
    return 80 + int(min(400.0, float(np.max(np.abs(x), initial=0.0))))


@given(st.data())
def test_value_vs_mpmath(data):
    shape = data.draw(SHAPES)
    x = data.draw(hnp.arrays(np.float64, shape, elements=LOGITS))
    z = data.draw(hnp.arrays(np.float64, shape, elements=LABELS))
    alpha, gamma = data.draw(ALPHAS), data.draw(GAMMAS)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = oracle.sigmoid_focal_loss(labels=z, logits=x, alpha=alpha, gamma=gamma)
    want = np.empty(shape)
    with mp.workdps(_dps(x)):
        for i in np.ndindex(shape):
            want[i] = float(mp_focal(mp.mpf(z[i]), mp.mpf(x[i]), mp.mpf(alpha), mp.mpf(gamma)))
    assert_rel(got, want, rtol=1e-12, atol=1e-300, what="sigmoid focal loss")


@pytest.mark.parametrize("x", [-40.0, -3.0, -0.5, 0.0, 0.7, 4.0, 40.0])
@pytest.mark.parametrize(("z", "alpha", "gamma"), [(1.0, 0.25, 2.0), (0.0, 0.25, 2.0), (0.3, 0.6, 0.5),
                                                   (0.8, -1.0, 1.0), (0.5, 0.25, 0.0), (0.0, 1.0, 5.0)])
def test_vjp_vs_mpmath_diff(x, z, alpha, gamma):
    got = oracle.vjp("sigmoid_focal_loss", [2.0], "logits", labels=[z], logits=[x], alpha=alpha, gamma=gamma)
    with mp.workdps(80):
        want = 2 * mp.diff(lambda a: mp_focal(mp.mpf(z), a, mp.mpf(alpha), mp.mpf(gamma)), mp.mpf(x))
    assert_rel(got, np.array([float(want)]), rtol=1e-10, atol=1e-300, what="d focal / d logits")


def test_properties():
    z = np.array([0.0, 1.0, 0.25, 1.0])
    x = np.array([3.0, -2.0, 0.0, 50.0])
    sce = oracle.sigmoid_cross_entropy_with_logits(labels=z, logits=x)
    # γ = 0 and α < 0: the plain sigmoid cross-entropy; γ = 0, α ≥ 0: α_t times it
    assert_rel(oracle.sigmoid_focal_loss(z, x, alpha=-1.0, gamma=0.0), sce)
    assert_rel(oracle.sigmoid_focal_loss(z, x, alpha=0.25, gamma=0.0), (0.25 * z + 0.75 * (1 - z)) * sce)
    # the modulating factor down-weights confident, correct predictions: L ≤ α_t·SCE, strictly where 1 − p_t < 1
    assert np.all(oracle.sigmoid_focal_loss(z, x, alpha=-1.0, gamma=2.0) < sce)
    # defaults are torchvision's (α = 0.25, γ = 2)
    assert_rel(oracle.sigmoid_focal_loss(z, x), oracle.sigmoid_focal_loss(z, x, alpha=0.25, gamma=2.0))
    # smooth: no kinks, also at logits 0
    assert not oracle.kinks("sigmoid_focal_loss", "logits", labels=z, logits=x).any()


def test_extreme_logits_stay_finite_and_small_gamma_has_a_finite_gradient():
    z, x = np.array([0.0, 1.0, 0.0]), np.array([-745.0, 745.0, -1e4])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value = oracle.sigmoid_focal_loss(z, x, alpha=0.25, gamma=0.5)
        grad = oracle.vjp("sigmoid_focal_loss", np.ones(3), "logits", labels=z, logits=x, alpha=0.25, gamma=0.5)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    assert np.all(value >= 0) and np.all(value < 1e-300)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"labels": [0.0, 1.0], "logits": [0.0]}, "logits"),
    ({"labels": [0.0], "logits": [0.0], "gamma": -1.0}, "gamma"),
    ({"labels": [0.0], "logits": [0.0], "alpha": [0.25, 0.5]}, "alpha"),
    ({"labels": None, "logits": [0.0]}, "labels"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        oracle.sigmoid_focal_loss(**kwargs)
