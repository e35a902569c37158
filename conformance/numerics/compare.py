"""Elementwise comparison of an implementation's output with the oracle's.

Messages follow ``numpy.testing.assert_allclose``: mismatch count, max
absolute and relative difference, then what only this suite reports: the ULP
distance in the dtype under test and the worst element with its tolerance.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.numerics.dtypes import ulp_distance


@dataclass(frozen=True)
class Comparison:
    """Outcome of comparing ``actual`` with ``expected`` under an elementwise tolerance."""

    what: str
    dtype: str
    size: int
    mismatches: int
    skipped: int
    max_abs: float
    max_rel: float
    max_ulp: int
    worst_index: tuple[int, ...] | None
    worst_actual: float
    worst_expected: float
    worst_tolerance: float
    # max |actual - expected| / tolerance over the compared elements: the number the verdict rests on (fails above 1;
    # inf where an output is NaN or infinite and the exact value is not)
    max_ratio: float = 0.0
    # relative error and ULP distance over the compared elements whose exact value exceeds their tolerance (None if
    # none does): near zero the tolerance is absolute, and there both numbers say nothing (0 vs 1e-30 is 1e9 ULP)
    scaled_rel: float | None = None
    scaled_ulp: int | None = None
    shape_error: str | None = None  # the output has the wrong shape: nothing was compared
    # median of tolerance / |exact value| over the compared elements with a finite non-zero exact value (None if
    # none): how sharp the check was (docs/tolerances.md, "Sharpness")
    sharpness: float | None = None

    @property
    def ok(self) -> bool:
        return self.mismatches == 0

    def message(self) -> str:
        """A numpy.testing-style report of the comparison."""
        if self.shape_error:
            return f"Wrong shape ({self.what}, {self.dtype}): {self.shape_error}"
        pct = 100.0 * self.mismatches / max(self.size, 1)
        lines = [
            f"Not equal to tolerance ({self.what}, {self.dtype})",
            f"Mismatched elements: {self.mismatches} / {self.size} ({pct:.3g}%)",
            f"Max error / tolerance: {ratio_text(self.max_ratio)} (an element fails above 1)",
            f"Max absolute difference among violations: {self.max_abs:.6g}",
        ]
        if self.scaled_rel is not None:
            lines.append(f"Max relative difference where |expected| > tolerance: {self.scaled_rel:.6g}")
        if self.scaled_ulp is not None:
            lines.append(f"Max ULP distance ({self.dtype}) there: {self.scaled_ulp}")
        if self.worst_index is not None:
            lines.append(
                f"Worst element at index {self.worst_index}: actual {self.worst_actual!r}, "
                f"expected {self.worst_expected!r}, tolerance {self.worst_tolerance:.3g}"
            )
        if self.skipped:
            lines.append(f"({self.skipped} element(s) on kinks or with undefined exact value not compared)")
        return "\n".join(lines)


def ratio_text(ratio: float | None) -> str:
    """Error over tolerance as text: 3 significant digits, ``inf (non-finite output)``, or ``n/a``."""
    if ratio is None or ratio != ratio:
        return "n/a"
    return "inf (non-finite output)" if ratio == float("inf") else f"{ratio:.3g}"


def shape_mismatch(actual: tuple[int, ...], expected: tuple[int, ...]) -> str:
    """``actual (3,), expected (3, 2)`` and, where the shapes say it, the likely mistake."""
    hint = shape_hint(actual, expected)
    return f"actual {tuple(actual)}, expected {tuple(expected)}" + (f": {hint}" if hint else "")


def shape_hint(actual: tuple[int, ...], expected: tuple[int, ...]) -> str:
    """The likely mistake behind an output of shape ``actual`` where the contract gives ``expected`` ("" if none)."""
    a, e = tuple(actual), tuple(expected)
    if a == e:
        return ""
    if not a:
        return "reduced to a scalar (a mean or sum the contract does not take?)"
    if len(a) < len(e):
        for dropped in reversed(list(itertools.combinations(range(len(e)), len(e) - len(a)))):  # last axes first
            if tuple(n for i, n in enumerate(e) if i not in dropped) == a:
                return f"{_axes(dropped, len(e))} of the expected shape missing (reduced over, or squeezed?)"
    if len(a) == len(e):
        ones = [i for i, (x, y) in enumerate(zip(a, e, strict=True)) if x != y]
        if all(a[i] == 1 for i in ones):
            return f"size 1 along {_axes(ones, len(e))} (reduced with keepdims=True?)"
        if sorted(a) == sorted(e):
            return "the same sizes in another order (axes transposed?)"
    if len(a) > len(e):
        for added in itertools.combinations(range(len(a)), len(a) - len(e)):
            if tuple(n for i, n in enumerate(a) if i not in added) == e:
                if all(a[i] == 1 for i in added):
                    return "extra axes of size 1 (keepdims=True, or an added axis?)"
                return "extra axes (broadcast against another argument, or a reduction the contract takes is missing?)"
    if math.prod(a) == math.prod(e):
        return "the same number of elements in another shape (reshaped or flattened?)"
    return ""


def _axes(axes: Any, ndim: int) -> str:
    names = [str(i - ndim) for i in axes]
    return ("axis " if len(names) == 1 else "axes ") + ", ".join(names)


def compare(
    actual: np.ndarray,
    expected: np.ndarray,
    tolerance: np.ndarray,
    dtype: str,
    what: str,
    skip: np.ndarray | None = None,
) -> Comparison:
    """Compare elementwise: ``|actual - expected| <= tolerance``; equal infinities and NaN pairs match.

    Elements where ``skip`` is True or the exact value (``expected``) is NaN are
    not compared.  Statistics are over the violating elements (all compared
    elements when there is none), so the first read says what is wrong.
    """
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        return Comparison(what, dtype, e.size or 1, e.size or 1, 0, np.inf, np.inf, -1, None, np.nan, np.nan, 0.0,
                          max_ratio=np.inf, shape_error=shape_mismatch(a.shape, e.shape))
    tol = np.broadcast_to(np.asarray(tolerance, dtype=np.float64), e.shape)
    skipmask = np.isnan(e)
    if skip is not None:
        skipmask = skipmask | np.broadcast_to(np.asarray(skip, dtype=bool), e.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(a - e)
        same = (a == e) | (np.isnan(a) & np.isnan(e))
        ok = same | (diff <= tol) | skipmask
    bad = ~ok
    ulps = ulp_distance(dtype, a, e)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        rel = np.where(same, 0.0, diff / np.abs(e))
    pool = bad if bad.any() else ~skipmask
    worst = None
    wa = we = wt = np.nan
    if pool.any():
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            score = np.where(pool, np.nan_to_num(diff / np.maximum(tol, 1e-300), nan=np.inf, posinf=np.inf), -1.0)
        flat = int(np.argmax(score))
        worst = tuple(int(i) for i in np.unravel_index(flat, e.shape)) if e.ndim else ()
        wa, we, wt = float(a.reshape(-1)[flat]), float(e.reshape(-1)[flat]), float(tol.reshape(-1)[flat])

    compared = ~skipmask
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        ratio = np.where(same, 0.0, np.nan_to_num(diff / tol, nan=np.inf, posinf=np.inf))
    max_ratio = float(ratio[compared].max()) if compared.any() else 0.0
    with np.errstate(invalid="ignore"):
        scaled = pool & np.isfinite(a) & np.isfinite(e) & (np.abs(e) > tol)

    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        sharp_sel = compared & np.isfinite(e) & (e != 0)
        sharpness = float(np.median(tol[sharp_sel] / np.abs(e[sharp_sel]))) if sharp_sel.any() else None

    def _max(x: np.ndarray) -> float:
        sel = x[pool]
        return float(np.nanmax(np.where(np.isnan(sel), np.inf, sel))) if sel.size else 0.0

    return Comparison(
        what=what,
        dtype=dtype,
        size=int(e.size),
        mismatches=int(bad.sum()),
        skipped=int(skipmask.sum()),
        max_abs=_max(diff),
        max_rel=_max(rel),
        max_ulp=int(ulps[pool].max()) if pool.any() else 0,
        worst_index=worst,
        worst_actual=wa,
        worst_expected=we,
        worst_tolerance=wt,
        max_ratio=max_ratio,
        scaled_rel=float(rel[scaled].max()) if scaled.any() else None,
        scaled_ulp=int(ulps[scaled].max()) if scaled.any() else None,
        sharpness=sharpness,
    )
