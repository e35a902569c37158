"""Running error bounds: a formula evaluated on exact values with a rigorous bound on what the dtype makes of it.

An :class:`Approx` holds, per element, the exact value ``mid`` (float64 on the dtype's inputs) and a radius
``rad`` such that the formula evaluated step by step in the dtype lies within ``rad`` of ``mid``.  Each operation
propagates the operands' radii exactly as interval arithmetic in midpoint-radius form does (``|x|·r_y + |y|·r_x +
r_x·r_y`` for a product, no first-order truncation), and :meth:`Bounded.f`, the rounding of a result to the dtype,
adds ``(u + u₆₄)·(|mid| + rad)``: the dtype's rounding of the computed value, and float64's of the midpoint.

:class:`Bounded` has the interface of the literal evaluator's arithmetic (``c``, ``a``, ``f``;
:mod:`conformance.numerics.literal`), so the documents' forms written there for the literal evaluation give their
bound unchanged: one text of each form, two readings (docs/tolerances.md, "Running error bounds").
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.numerics.dtypes import info, round_to

U64 = 2.0**-53  # unit roundoff of the float64 midpoints


class Approx:
    """Exact values ``mid`` with the radius ``rad`` of the dtype's evaluation around them (elementwise arrays)."""

    __array_ufunc__ = None  # NumPy defers to the operators below; np.maximum / np.minimum go through __array_ufunc__

    def __init__(self, mid: Any, rad: Any = 0.0):
        self.mid = np.asarray(mid, dtype=np.float64)
        self.rad = np.broadcast_to(np.asarray(rad, dtype=np.float64), self.mid.shape)

    @staticmethod
    def of(x: Any) -> Approx:
        return x if isinstance(x, Approx) else Approx(x)

    def __getitem__(self, key: Any) -> Approx:
        return Approx(self.mid[key], self.rad[key])

    def __add__(self, o: Any) -> Approx:
        o = Approx.of(o)
        return Approx(self.mid + o.mid, self.rad + o.rad)

    __radd__ = __add__

    def __sub__(self, o: Any) -> Approx:
        o = Approx.of(o)
        return Approx(self.mid - o.mid, self.rad + o.rad)

    def __rsub__(self, o: Any) -> Approx:
        return Approx.of(o) - self

    def __neg__(self) -> Approx:
        return Approx(-self.mid, self.rad)

    def __mul__(self, o: Any) -> Approx:
        o = Approx.of(o)
        with np.errstate(invalid="ignore", over="ignore"):
            rad = np.abs(self.mid) * o.rad + np.abs(o.mid) * self.rad + self.rad * o.rad
        return Approx(self.mid * o.mid, np.nan_to_num(rad, nan=np.inf, posinf=np.inf))

    __rmul__ = __mul__

    def __truediv__(self, o: Any) -> Approx:
        """x̂/ŷ − x/y = ((x̂ − x)·y − x·(ŷ − y)) / (y·ŷ): bounded while the divisor's radius is below |y|."""
        o = Approx.of(o)
        ay = np.abs(o.mid)
        with np.errstate(all="ignore"):
            rad = np.where(o.rad < ay, (self.rad * ay + np.abs(self.mid) * o.rad) / (ay * (ay - o.rad)), np.inf)
            return Approx(self.mid / o.mid, np.nan_to_num(rad, nan=np.inf, posinf=np.inf))

    def __rtruediv__(self, o: Any) -> Approx:
        return Approx.of(o) / self


def _extremum(pick: Any, a: Any, b: Any) -> Approx:
    """max / min: 1-Lipschitz in the max norm; exact where both operands are certainly on one side of a constant."""
    a, b = Approx.of(a), Approx.of(b)
    return Approx(pick(a.mid, b.mid), np.maximum(a.rad, b.rad))


def maximum(a: Any, b: Any) -> Approx:
    return _extremum(np.maximum, a, b)


def minimum(a: Any, b: Any) -> Approx:
    return _extremum(np.minimum, a, b)


class Bounded:
    """The literal evaluator's arithmetic, read as a bound: constants and inputs exact unless the dtype rounds them,
    every ``f`` (a result rounded to the dtype) widening the radius by the rounding."""

    def __init__(self, dtype: str, kernels: dict[str, float] | None = None):
        self.dtype = dtype
        self.ud = info(dtype).unit_roundoff
        self.u = self.ud + U64
        self.tiny, self.max = info(dtype).tiny, info(dtype).max
        self.kernels = dict(kernels or {})  # elementwise kernel -> its largest error in u (measured; 4 if not)

    def c(self, v: float) -> Approx:
        """A constant as the dtype holds it: exact, within one rounding of it."""
        return Approx(float(v), self.u * abs(float(v)) if _rounds(self.dtype, v) else 0.0)

    def a(self, x: Any) -> Approx:
        """An input already in the dtype: exact."""
        return Approx(np.asarray(x, dtype=np.float64))

    def f(self, x: Any) -> Approx:
        """``x`` rounded to the dtype: within half an ulp of the computed value, itself within ``rad`` of ``mid``
        and so at most ``|mid| + rad`` in magnitude; within the smallest normal of it where it may be flushed to 0
        (TensorFlow's kernels flush subnormal results); unbounded where it may overflow.

        Never less where the rounding happens to be exact: another faithful form of the formula rounds other
        intermediates, so a bound that credited this form's exact steps would not hold for it."""
        x = Approx.of(x)
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            top = np.abs(x.mid) + x.rad
            half_ulp = self.ud * np.exp2(np.floor(np.log2(np.maximum(top, self.tiny))))
            rad = x.rad + half_ulp + U64 * top + np.where(np.abs(x.mid) - x.rad < self.tiny, self.tiny, 0.0)
            return Approx(x.mid, np.where(top < self.max, rad, np.inf))

    def kernel(self, name: str, x: Approx) -> Approx:
        """An elementwise kernel's result: within its measured error (in u; SAFETY = 4 where not measured) of the
        computed value, itself within ``rad`` of ``mid``."""
        cost = max(1.0, float(self.kernels.get(name, 4.0)))
        with np.errstate(invalid="ignore", over="ignore"):
            return Approx(x.mid, x.rad + cost * self.u * (np.abs(x.mid) + x.rad))

    maximum = staticmethod(maximum)
    minimum = staticmethod(minimum)

    def atan2(self, y: Approx, x: Approx) -> Approx:
        """atan2 is 1/r-Lipschitz (r = |(x, y)|) in each argument: the inputs' radii over the smallest r they allow,
        then the ``atan`` kernel's error."""
        y, x = Approx.of(y), Approx.of(x)
        spread = y.rad + x.rad
        with np.errstate(all="ignore"):
            r = np.hypot(y.mid, x.mid) - spread
            rad = np.where(spread == 0, 0.0, np.where(r > 0, spread / r, np.pi))
        return self.kernel("atan", Approx(np.arctan2(y.mid, x.mid), np.minimum(rad, np.pi)))

    def fraction(self, part: Approx, rest: Approx) -> Approx:
        """part / (rest + part) for part, rest ≥ 0 (0 where part is 0): the computed fraction lies in [0, 1] too
        (rounding is monotone), so its radius is at most 1 also where the quotient's bound is not finite."""
        q = self.f(part / self.f(rest + part))
        zero = part.mid == 0
        return Approx(np.where(zero, 0.0, q.mid), np.where(zero, np.where(part.rad > 0, 1.0, 0.0),
                                                           np.minimum(q.rad, 1.0)))


def _rounds(dtype: str, v: float) -> bool:
    return float(round_to(dtype, np.asarray(float(v)))) != float(v)
