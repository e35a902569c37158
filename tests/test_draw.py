"""Cheap drawing of large arrays (``conformance.contracts.draw``): deterministic, in range, with the specials."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from conformance.checks.profiles import without_local_constants
from conformance.contracts import REGISTRY
from conformance.contracts.draw import SMALL, TINY, arrays, filled, masks, reals

GATE_LIKE = settings(max_examples=15, derandomize=True, database=None, deadline=None,
                     phases=(Phase.explicit, Phase.generate))


def _draw_all(strategy: st.SearchStrategy, name: str, hypothesis_settings: settings = GATE_LIKE) -> list:
    """Every example a settings-decorated ``@given`` test draws from ``strategy``, in order."""
    seen: list = []

    @hypothesis_settings
    @given(ex=strategy)
    def t(ex) -> None:
        seen.append(ex)

    t.__name__ = t.__qualname__ = name  # derandomized runs are seeded by the test's name
    with without_local_constants():  # as the checks draw: independent of the modules loaded
        t()
    return seen


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return np.array_equal(np.asarray(a), np.asarray(b))


def _arrays_of(ex: dict) -> list[np.ndarray]:
    return [a for v in ex.values() for a in (v if isinstance(v, list) else [v]) if isinstance(a, np.ndarray)]


@pytest.mark.parametrize("name", ["compute_loss", "rpn_loss_regr", "loss", "focal_loss"])
def test_drawing_is_deterministic_for_a_fixed_seed(name: str) -> None:
    c = REGISTRY[name]
    for strategy in (c.strategy, lambda: c.adversarial("float32")):
        first = _draw_all(strategy(), f"determinism_{name}")
        again = _draw_all(strategy(), f"determinism_{name}")
        assert len(first) == len(again) == GATE_LIKE.max_examples
        assert all(_same(a, b) for a, b in zip(first, again, strict=True))
        # and the arrays differ between examples: the NumPy fill follows Hypothesis' draws
        big = [x for x in first if any(np.size(a) > SMALL for a in _arrays_of(x))]
        assert big, f"{name}: no example above {SMALL} elements"


def test_large_arrays_are_filled_within_bounds_with_specials() -> None:
    specials = (0.0, 1.0, 1e-9, 1 - 1e-9)
    shape = (4, 5, 6)
    assert np.prod(shape) > SMALL
    xs = _draw_all(arrays(shape, reals(0.0, 1.0, specials)), "bounds", settings(GATE_LIKE, max_examples=40))
    for x in xs:
        assert x.shape == shape and x.dtype == np.float64
        assert np.all((x >= 0.0) & (x <= 1.0)) and not np.any((x != 0) & (np.abs(x) < TINY))
    at_special = [np.isin(x, specials).mean() for x in xs]
    assert max(at_special) > 0.9, "no array mostly of specials"
    assert min(at_special) < 0.5, "no array mostly of ordinary values"
    # distinct examples: different seeds
    assert len({x.tobytes() for x in xs}) > len(xs) // 2


def test_small_arrays_draw_every_element() -> None:
    # up to SMALL elements Hypothesis draws each element itself: its own choices show (exact zeros, values within
    # an ulp of a bound), which a uniform NumPy fill would essentially never produce
    xs = _draw_all(arrays((2, 3), reals(-3.0, 5.0)), "small", settings(GATE_LIKE, max_examples=60))
    values = np.concatenate([x.ravel() for x in xs])
    assert np.all((values >= -3.0) & (values <= 5.0))
    assert np.any(values == 0.0)
    assert np.any(np.abs(values - 5.0) <= 1e-12) or np.any(np.abs(values + 3.0) <= 1e-12)


def test_filled_is_a_function_of_the_draw() -> None:
    s = filled((10, 10), reals(-1.0, 1.0), -1.0, 1.0, (0.0,))
    a = _draw_all(s, "filled_function")
    b = _draw_all(s, "filled_function")
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_large_masks_are_binary_and_mixed() -> None:
    xs = _draw_all(masks((3, 4, 5)), "masks", settings(GATE_LIKE, max_examples=40))
    assert all(set(np.unique(x).tolist()) <= {0.0, 1.0} for x in xs)
    shares = {float(x.mean()) for x in xs}
    assert 0.0 in shares and 1.0 in shares and any(0.0 < s < 1.0 for s in shares)
