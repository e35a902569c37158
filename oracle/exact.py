"""Error-free float64 arithmetic (vectorised): TwoSum, TwoProduct, compensated sums and double-double values.

A double-double is a pair ``(hi, lo)`` of float64 arrays with ``hi + lo`` the exact value and ``|lo|`` at most
half an ulp of ``hi``.  The box functions (:mod:`oracle.boxes`, :mod:`oracle.diou`) hold box corners this way so
that overlap and enclosure extents are obtained without cancellation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["binary_exponent", "compensated_sum", "dd_eq", "dd_ge", "dd_sub", "dd_where", "two_prod", "two_sum"]

_SPLIT = 134217729.0  # 2**27 + 1, Dekker's splitter


def two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(s, e)`` with ``s = fl(a + b)`` and ``s + e = a + b`` exactly (``e = 0`` where ``s`` is not finite)."""
    s = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    return s, np.where(np.isfinite(s), e, 0.0)


def two_prod(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(p, e)`` with ``p = fl(a b)`` and ``p + e = a b`` exactly (Dekker; ``e = 0`` near underflow/overflow)."""
    p = a * b
    ca, cb = _SPLIT * a, _SPLIT * b
    ah = ca - (ca - a)
    al = a - ah
    bh = cb - (cb - b)
    bl = b - bh
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    ok = np.isfinite(e) & np.isfinite(p) & (np.abs(p) > 1e-290)
    return p, np.where(ok, e, 0.0)


def compensated_sum(terms: Sequence[np.ndarray]) -> np.ndarray:
    """Compensated sum (as if in twice the working precision)."""
    s = terms[0]
    c = np.zeros_like(s)
    for t in terms[1:]:
        s, e = two_sum(s, t)
        c = c + e
    return np.where(np.isfinite(s), s + c, s)


def dd_ge(a: tuple, b: tuple) -> np.ndarray:
    """Exact ``a >= b`` for normalised double-double values."""
    return (a[0] > b[0]) | ((a[0] == b[0]) & (a[1] >= b[1]))


def dd_eq(a: tuple, b: tuple) -> np.ndarray:
    """Exact ``a == b`` for normalised double-double values."""
    return (a[0] == b[0]) & (a[1] == b[1])


def dd_where(m: np.ndarray, a: tuple, b: tuple) -> tuple:
    """Elementwise ``a if m else b`` for double-double values."""
    return np.where(m, a[0], b[0]), np.where(m, a[1], b[1])


def dd_sub(a: tuple, b: tuple) -> np.ndarray:
    """``a - b`` of two double-double values, rounded once to float64."""
    s, e = two_sum(a[0], -b[0])
    return np.where(np.isfinite(s), s + (e + (a[1] - b[1])), s)


def binary_exponent(*lengths: np.ndarray) -> np.ndarray:
    """Binary exponent k with max |length| in [2**(k-1), 2**k) (0 where all are 0 or not finite)."""
    m = np.zeros(np.shape(lengths[0]))
    for v in lengths:
        m = np.fmax(m, np.where(np.isfinite(v), np.abs(v), 0.0))
    return np.frexp(m)[1]

