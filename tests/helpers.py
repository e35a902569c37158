"""Small helpers for the project's own tests: of the oracle, and draws of a contract's strategy."""

from __future__ import annotations

from collections.abc import Callable

import mpmath
import numpy as np
from hypothesis import HealthCheck, Phase, given, settings

mpmath.mp.dps = 60


def fd_vjp(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, cotangent: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central finite-difference VJP: d/dx_i <cotangent, f(x)> for every element of ``x``.

    ``h`` is relative to ``max(1, |x_i|)``.  Intended for small arrays (one pair of
    evaluations per element).
    """
    x = np.asarray(x, dtype=np.float64)
    cot = np.asarray(cotangent, dtype=np.float64)
    out = np.zeros_like(x)
    flat = out.reshape(-1)
    for i in range(x.size):
        step = h * max(1.0, abs(x.flat[i]))
        xp = x.copy()
        xm = x.copy()
        xp.flat[i] += step
        xm.flat[i] -= step
        flat[i] = (np.sum(cot * f(xp)) - np.sum(cot * f(xm))) / (2 * step)
    return out


def assert_rel(actual, expected, rtol: float = 1e-12, atol: float = 1e-300, what: str = "") -> None:
    """Assert ``|actual - expected| <= atol + rtol * |expected|`` elementwise (NaN must match NaN)."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != {e.shape}"
    nan_a, nan_e = np.isnan(a), np.isnan(e)
    assert np.array_equal(nan_a, nan_e), f"{what}: NaN pattern differs: actual {a}, expected {e}"
    with np.errstate(invalid="ignore"):  # inf - inf where both are the same infinity (a == e covers it)
        ok = nan_e | (a == e) | (np.abs(a - e) <= atol + rtol * np.abs(e))
    if not np.all(ok):
        idx = tuple(np.argwhere(~ok)[0])
        rel = abs(a[idx] - e[idx]) / max(abs(e[idx]), 1e-300)
        raise AssertionError(
            f"{what}: {int((~ok).sum())}/{a.size} mismatched; first at {idx}: actual {a[idx]!r}, "
            f"expected {e[idx]!r}, rel err {rel:.3e}"
        )


def to_mp(x) -> np.ndarray:
    """Exact conversion of a float64 array to an object array of ``mpmath.mpf``."""
    return np.vectorize(lambda v: mpmath.mpf(float(v)), otypes=[object])(np.asarray(x, dtype=np.float64))


def from_mp(x) -> np.ndarray:
    """Round an object array of ``mpmath`` numbers to float64."""
    return np.vectorize(lambda v: float(v), otypes=[np.float64])(np.asarray(x, dtype=object))


def strategy_draws(name: str, n: int) -> list[dict]:
    """The first ``n`` examples of contract ``name``'s own strategy (derandomized: the same on every run)."""
    from conformance.contracts import REGISTRY

    drawn: list[dict] = []

    @settings(max_examples=n, derandomize=True, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(REGISTRY[name].strategy())
    def collect(ex):
        drawn.append(ex)

    collect()
    return drawn
