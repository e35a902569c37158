"""Running error bounds: a formula evaluated on exact values with a rigorous bound on what the dtype makes of it.

An :class:`Approx` holds, per element, the exact value ``mid`` (float64 on the dtype's inputs) and the error of the
formula evaluated step by step in the dtype as an affine form in noise symbols ε_k ∈ [−1, 1] (affine arithmetic,
Stolfi & de Figueiredo): one symbol per rounding and per nonlinear remainder (``e_x·e_y`` of a product), shared by
every quantity the rounding reaches, so errors cancel where the formula subtracts them.  ``rad`` bounds the error.
:meth:`Bounded.f`, the rounding of a result to the dtype, adds half an ulp of the largest value the computed result
can have (and float64's own rounding of ``mid``), the smallest normal where it may be flushed, inf on overflow.

:class:`Bounded` has the interface of the literal evaluator's arithmetic (``c``, ``a``, ``f``, ``maximum``, ...;
:mod:`conformance.numerics.literal`), so the documents' forms written there for the literal evaluation give their
bound unchanged: one text of each form, two readings (docs/tolerances.md, "Running error bounds").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from conformance.numerics.arithmetic import SAFETY
from conformance.numerics.dtypes import info, round_to

U64 = 2.0**-53  # unit roundoff of the float64 midpoints


class Noise:
    """The noise symbols of one evaluation: ε_k ∈ [−1, 1], one per rounding or nonlinear remainder."""

    def __init__(self) -> None:
        self.k = 0
        self.slots: dict[tuple[int, str], int] = {}

    def fresh(self) -> int:
        self.k += 1
        return self.k - 1

    def slot(self, k: int, part: str) -> int:
        """Symbol ``k`` restricted to the elements ``part`` selects.  A symbol stands for one rounding of each
        element of an array, independently per element: two different parts of an array must not share it."""
        if (k, part) not in self.slots:
            self.slots[(k, part)] = self.fresh()
        return self.slots[(k, part)]


class Approx:
    """Exact values ``mid`` and the error of the dtype's evaluation as an affine form in the noise symbols:
    computed − exact = ``e0 + Σ_k dev[k]·ε_{ids[k]}`` for one ε ∈ [−1, 1]^K shared by every quantity of the
    evaluation, so the errors that two quantities inherit from one rounding cancel where the formula subtracts them
    (affine arithmetic, Stolfi & de Figueiredo; the error is bounded by ``rad = |e0| + Σ|dev|``).  Only the symbols
    a quantity depends on are stored (``ids``, ascending): an evaluation creates thousands, a quantity holds few."""

    __array_ufunc__ = None  # NumPy scalars and arrays defer to the operators below

    def __init__(self, mid: Any, rad: Any = 0.0, noise: Noise | None = None, *, e0: Any = 0.0,
                 dev: np.ndarray | None = None, ids: np.ndarray | None = None):
        self.mid = np.asarray(mid, dtype=np.float64)
        self.noise = noise
        self.e0 = e0  # a scalar or an array broadcasting against mid
        self.ids = _NONE if ids is None else ids
        self.dev = np.zeros((0,) + self.mid.shape) if dev is None else dev
        self._rad: np.ndarray | None = None
        if not (isinstance(rad, float) and rad == 0.0) and np.any(np.asarray(rad) != 0):
            if self.noise is None:
                raise ValueError("an error needs the evaluation's noise symbols (Approx(mid, rad, noise))")
            fresh = np.broadcast_to(np.asarray(rad, dtype=np.float64), self.mid.shape)[None]
            self.dev = np.concatenate([_full(self.dev, self.mid.shape), fresh])
            self.ids = np.append(self.ids, self.noise.fresh())

    @property
    def rad(self) -> np.ndarray:
        if self._rad is None:
            r = np.abs(self.e0) + np.sum(np.abs(self.dev), axis=0)
            self._rad = np.where(np.isnan(r), np.inf, r)
        return self._rad

    @staticmethod
    def of(x: Any) -> Approx:
        return x if isinstance(x, Approx) else Approx(x)

    def widened(self, by: Any, shift: Any = 0.0) -> Approx:
        """This error plus ``shift`` and a fresh symbol of coefficient ``by`` (a remainder, a rounding)."""
        return Approx(self.mid, by, self.noise, e0=self.e0 + shift, dev=self.dev, ids=self.ids)

    def __getitem__(self, key: Any) -> Approx:
        """Some of the elements, their symbols renamed per part (the elements' roundings are independent)."""
        mid = self.mid[key]
        sub = _full(self.dev, self.mid.shape)[(slice(None),) + _key(key)]
        if self.noise is None or not len(sub):
            return Approx(mid, 0.0, self.noise, e0=self._e0(key), dev=sub, ids=self.ids)
        used = np.flatnonzero(np.any(sub != 0, axis=tuple(range(1, sub.ndim))))
        ids = np.array([self.noise.slot(int(self.ids[k]), repr(_key(key))) for k in used], dtype=np.int64)
        order = np.argsort(ids)
        return Approx(mid, 0.0, self.noise, e0=self._e0(key), dev=sub[used][order], ids=ids[order])

    def _e0(self, key: Any) -> Any:
        return np.broadcast_to(self.e0, self.mid.shape)[key] if np.ndim(self.e0) else self.e0

    def _linear(self, o: Any, a: float, b: float) -> Approx:
        """a·self + b·o (exact: the errors combine with their signs)."""
        o = Approx.of(o)
        mid = a * self.mid + b * o.mid
        ids, x, y = _align(self.ids, self.dev, o.ids, o.dev, mid.shape)
        return Approx(mid, 0.0, _shared(self, o), e0=a * self.e0 + b * o.e0, dev=a * x + b * y, ids=ids)

    def __add__(self, o: Any) -> Approx:
        return self._linear(o, 1.0, 1.0)

    __radd__ = __add__

    def __sub__(self, o: Any) -> Approx:
        return self._linear(o, 1.0, -1.0)

    def __rsub__(self, o: Any) -> Approx:
        return Approx.of(o) - self

    def __neg__(self) -> Approx:
        return Approx(-self.mid, 0.0, self.noise, e0=-self.e0, dev=-self.dev, ids=self.ids)

    def _scaled(self, s: np.ndarray) -> tuple[Any, np.ndarray]:
        """(s·e0, s·dev) for ``s`` broadcasting against the values."""
        shape = np.broadcast_shapes(np.shape(s), self.mid.shape)
        return s * self.e0, s * _full(self.dev, shape)

    def __mul__(self, o: Any) -> Approx:
        """x̂ŷ − xy = x·e_y + y·e_x + e_x·e_y: linear in the errors, and a fresh symbol for the product of errors."""
        o = Approx.of(o)
        mid = self.mid * o.mid
        (a0, ad), (b0, bd) = o._scaled(self.mid), self._scaled(o.mid)
        ids, x, y = _align(o.ids, ad, self.ids, bd, mid.shape)
        out = Approx(mid, 0.0, _shared(self, o), e0=a0 + b0, dev=x + y, ids=ids)
        rest = self.rad * o.rad
        return out.widened(np.where(np.isnan(rest), np.inf, rest))

    __rmul__ = __mul__

    def reciprocal(self) -> Approx:
        """1/ŷ − 1/y = −e_y/y² + e_y²/(y²·ŷ): linear, and a remainder below r²/(y²(|y| − r)) while r < |y|."""
        ay, r = np.abs(self.mid), self.rad
        e0, dev = self._scaled(-1.0 / self.mid**2)
        rest = np.where(r < ay, r * r / (ay * ay * (ay - r)), np.inf)
        rest = np.where(np.isnan(rest), np.inf, rest)
        return Approx(1.0 / self.mid, 0.0, self.noise, e0=e0, dev=dev, ids=self.ids).widened(rest)

    def __truediv__(self, o: Any) -> Approx:
        return self * Approx.of(o).reciprocal()

    def __rtruediv__(self, o: Any) -> Approx:
        return Approx.of(o) / self

    @staticmethod
    def select(cond: np.ndarray, a: Approx, b: Approx) -> Approx:
        """``a`` where ``cond``, else ``b``, symbol by symbol."""
        mid = np.where(cond, a.mid, b.mid)
        ids, x, y = _align(a.ids, a.dev, b.ids, b.dev, mid.shape)
        return Approx(mid, 0.0, _shared(a, b), e0=np.where(cond, a.e0, b.e0), dev=np.where(cond, x, y), ids=ids)

    def reshape(self, shape: tuple) -> Approx:
        """The same elements in another shape, each keeping its symbols."""
        mid = self.mid.reshape(shape)
        e0 = np.broadcast_to(self.e0, self.mid.shape).reshape(shape) if np.ndim(self.e0) else self.e0
        dev = _full(self.dev, self.mid.shape).reshape((len(self.ids),) + mid.shape)
        return Approx(mid, 0.0, self.noise, e0=e0, dev=dev, ids=self.ids)

    def broadcast(self, shape: tuple) -> Approx:
        """The values broadcast to ``shape``: a copied element keeps its symbols (the same rounding)."""
        mid = np.broadcast_to(self.mid, shape)
        e0 = np.broadcast_to(self.e0, shape) if np.ndim(self.e0) else self.e0
        return Approx(mid, 0.0, self.noise, e0=e0, dev=_full(self.dev, tuple(shape)), ids=self.ids)

    @staticmethod
    def scatter(shape: tuple, key: Any, g: Approx) -> Approx:
        """Zeros of ``shape`` holding ``g`` at ``key`` (the gradient of an indexing), symbol by symbol."""
        mid, e0, dev = np.zeros(shape), np.zeros(shape), np.zeros((len(g.ids),) + tuple(shape))
        mid[key], e0[key] = g.mid, g.e0
        dev[(slice(None),) + _key(key)] = _full(g.dev, g.mid.shape)
        return Approx(mid, 0.0, g.noise, e0=e0, dev=dev, ids=g.ids)


_NONE = np.zeros(0, dtype=np.int64)


def exact(x: Any) -> np.ndarray:
    """The exact values of an operand, an :class:`Approx` or an array (decisions such as p > 0 are taken on the
    inputs, which are exact)."""
    return np.asarray(getattr(x, "mid", x), dtype=np.float64)


def _shared(a: Approx, b: Approx) -> Noise | None:
    """The operands' noise symbols: one evaluation's (an exact operand has none of its own)."""
    if a.noise is not None and b.noise is not None and a.noise is not b.noise:
        raise ValueError("operands from two evaluations: their noise symbols are unrelated")
    return a.noise or b.noise


def _key(key: Any) -> tuple:
    return key if isinstance(key, tuple) else (key,)


def _full(dev: np.ndarray, shape: tuple) -> np.ndarray:
    """Coefficients ``dev`` (symbols first) over values of ``shape`` (a view where they broadcast)."""
    shape = tuple(shape)
    if dev.shape[1:] == shape:
        return dev
    lead = (1,) * (len(shape) - (dev.ndim - 1))  # values broadcast over leading axes: align the trailing axes
    return np.broadcast_to(dev.reshape((len(dev),) + lead + dev.shape[1:]), (len(dev),) + shape)


def _align(ia: np.ndarray, da: np.ndarray, ib: np.ndarray, db: np.ndarray,
           shape: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two operands' coefficients over the union of their symbols (0 where one lacks a symbol), of ``shape``."""
    da, db = _full(da, shape), _full(db, shape)
    if len(ia) == len(ib) and np.array_equal(ia, ib):
        return ia, da, db
    ids = np.union1d(ia, ib)
    out = []
    for i, d in ((ia, da), (ib, db)):
        if len(i) == len(ids):
            out.append(d)
        else:
            full = np.zeros((len(ids),) + tuple(shape))
            full[np.searchsorted(ids, i)] = d
            out.append(full)
    return ids, out[0], out[1]


def _extremum(larger: bool, a: Any, b: Any) -> Approx:
    """max / min, the operand chosen by the exact values.  The computed result is the chosen operand's computed
    value plus max(0, other − chosen) (min(0, ·) for a min), between 0 and that difference's extreme: half of it
    shifts the error, half is a fresh symbol; exact where the computed operands cannot swap.  Where the operands may
    swap, also within the larger operand radius (max and min are 1-Lipschitz in the max norm): the smaller of the two
    bounds, the latter as a fresh symbol."""
    a, b = Approx.of(a), Approx.of(b)
    first = a.mid >= b.mid if larger else a.mid <= b.mid
    chosen = Approx.select(first, a, b)
    d = Approx.select(first, b, a) - chosen
    reach = d.mid + d.rad if larger else d.mid - d.rad
    t = np.where(reach > 0 if larger else reach < 0, reach, 0.0)
    affine = chosen.widened(np.abs(t) / 2, t / 2)
    lipschitz = np.maximum(a.rad, b.rad)
    if not np.any(lipschitz < affine.rad) or _shared(a, b) is None:
        return affine
    return Approx.select(lipschitz < affine.rad, Approx(chosen.mid, lipschitz, _shared(a, b)), affine)


def maximum(a: Any, b: Any) -> Approx:
    return _extremum(True, a, b)


def minimum(a: Any, b: Any) -> Approx:
    return _extremum(False, a, b)


class Bounded:
    """The literal evaluator's arithmetic, read as a bound: constants and inputs exact unless the dtype rounds them,
    every ``f`` (a result rounded to the dtype) widening the radius by the rounding."""

    def __init__(self, dtype: str, kernels: dict[str, float] | None = None,
                 reduction_rtol: Callable[[int], float] | None = None, profiles: dict[str, Any] | None = None,
                 nearest: bool = False):
        self.dtype = dtype
        self.nearest = nearest  # +, −, ×, ÷ round to nearest (measured): a step on exact operands rounds knowably
        self.ud = info(dtype).unit_roundoff
        self.u = self.ud + U64
        self.tiny, self.max = info(dtype).tiny, info(dtype).max
        self.kernels = dict(kernels or {})  # elementwise kernel -> its largest error in u (measured; 4 if not)
        self.profiles = dict(profiles or {})  # elementwise kernel -> its largest error per range of inputs
        self.noise = Noise()
        # a sum of n terms: its accumulation's error relative to the sum of magnitudes (float32 accumulation unless
        # the platform's measured arithmetic says otherwise: numerics.arithmetic)
        self.reduction_rtol = reduction_rtol or (lambda n: 1.01 * (n - 1) * 2.0**-24)

    def c(self, v: Any) -> Approx:
        """A constant as the dtype holds it: exact, within one rounding of it (or of 0, below the smallest normal:
        TensorFlow's kernels flush subnormal operands)."""
        v = np.asarray(v, dtype=np.float64)
        flush = np.where((0.0 < np.abs(v)) & (np.abs(v) < self.tiny), self.tiny, 0.0)
        rad = np.where(round_to(self.dtype, v) != v, self.u * np.abs(v), 0.0) + flush
        return Approx(v, rad if np.ndim(v) else float(rad), self.noise)

    def a(self, x: Any) -> Approx:
        """An input already in the dtype: exact."""
        return Approx(np.asarray(x, dtype=np.float64), 0.0, self.noise)

    def f(self, x: Any) -> Approx:
        """``x`` rounded to the dtype: within half an ulp of the computed value, itself within ``rad`` of ``mid``
        and so at most ``|mid| + rad`` in magnitude; within the smallest normal of it where it may be flushed to 0
        (TensorFlow's kernels flush subnormal results); unbounded where it may overflow.

        Where the platform's +, −, ×, ÷ round to nearest (``nearest``, measured) and the computed operands are
        exact, the rounding is known instead (:meth:`_known`).  The credit is per form: each form the tolerance
        admits is evaluated with its own steps, so another form's exact steps are credited in its own bound."""
        x = Approx.of(x)
        top = np.abs(x.mid) + x.rad
        half_ulp = self.ud * np.ldexp(1.0, np.frexp(np.maximum(top, self.tiny))[1] - 1)  # u·2^floor(log2 top)
        rad = half_ulp + U64 * top + np.where(np.abs(x.mid) - x.rad < self.tiny, self.tiny, 0.0)
        rad = np.where(top < self.max, rad, np.inf)
        if not self.nearest:
            return x.widened(rad)
        rad, shift = self._known(x, rad)
        return x.widened(rad, shift)

    def _known(self, x: Approx, rad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(radius, shift) of the rounding where the computed operands were exact (``rad`` 0): the step's exact
        result is ``mid``, and the platform (measured: +, −, ×, ÷ round to nearest) either rounds it to the dtype,
        or keeps it in float32 or wider, or rounds it to float32 and then to the dtype.  The computed value lies
        between the ends of those four, an interval often narrower than half an ulp either way (0 where the
        step is exact in the dtype); elsewhere ``rad``.  ``mid`` may itself be float64's rounding of the exact
        result: a quotient of two values of a short dtype is never within 2⁻⁵³ of a value or a rounding boundary
        of the dtype or float32 unless on it, so the four ends are the same, and float64's error is added where
        they differ (where they coincide, the result is a value of the dtype and exact)."""
        shape = np.broadcast_shapes(np.shape(x.mid), np.shape(x.rad), np.shape(rad))
        rad, exact = np.broadcast_to(rad, shape), np.broadcast_to(x.rad, shape) == 0
        if not exact.any():  # only steps on exact operands can be credited: round those alone
            return rad, np.zeros(shape)
        m = np.broadcast_to(x.mid, shape)[exact]
        with np.errstate(all="ignore"):
            ends = np.stack([m, round_to("float32", m), round_to(self.dtype, m),
                             round_to(self.dtype, round_to("float32", m))])
        lo, hi = ends.min(axis=0), ends.max(axis=0)
        slack = np.where(lo == hi, 0.0, U64 * np.abs(m))  # a value of the dtype is exact (no quotient is near one)
        lo, hi = lo - slack, hi + slack
        ok = ((np.abs(m) >= self.tiny) | (m == 0)) & np.isfinite(lo + hi)
        out, shift = rad.copy(), np.zeros(shape)
        out[exact] = np.where(ok, (hi - lo) / 2, rad[exact])
        shift[exact] = np.where(ok, (hi + lo) / 2 - m, 0.0)
        return out, shift

    def kernel(self, name: str, x: Approx, cost: Any = None) -> Approx:
        """An elementwise kernel's result: within its measured error (in u; SAFETY where not measured; ``cost``
        per element where known for the element's inputs) of the computed value, itself within ``rad`` of
        ``mid``; within the smallest normal of 0 where it may be flushed."""
        cost = np.maximum(1.0, float(self.kernels.get(name, SAFETY)) if cost is None else cost)
        flush = np.where(np.abs(x.mid) - x.rad < self.tiny, self.tiny, 0.0)  # a subnormal result may read as 0
        return x.widened(cost * self.u * (np.abs(x.mid) + x.rad) + flush)

    maximum = staticmethod(maximum)
    minimum = staticmethod(minimum)

    def monotone(self, name: str, x: Approx, fn: Any, lo: float = -np.inf) -> Approx:
        """A monotone elementwise kernel ``fn`` (on arguments ≥ ``lo``): the input error moves the result at most
        as far as the input interval's ends do (a fresh symbol), then the kernel's own error: its largest over the
        inputs in that interval where the probes measured it per input, else its largest over every input."""
        x = Approx.of(x)
        with np.errstate(all="ignore"):
            mid = fn(x.mid)
            low, high = np.maximum(x.mid - x.rad, lo), x.mid + x.rad
            moved = np.maximum(np.abs(fn(low) - mid), np.abs(fn(high) - mid))
            moved = np.where(x.rad == 0, 0.0, np.where(np.isnan(moved), np.inf, moved))
        profile = self.profiles.get(name)
        return self.kernel(name, Approx(mid, moved, self.noise), None if profile is None else profile.worst(low, high))

    def exp(self, x: Approx) -> Approx:
        return self.monotone("exp", x, np.exp)

    def log1p(self, x: Approx) -> Approx:
        return self.monotone("log1p", x, np.log1p, lo=-1.0)

    def log(self, x: Approx) -> Approx:
        return self.monotone("log", x, np.log, lo=0.0)

    def softplus(self, x: Approx) -> Approx:
        return self.monotone("softplus", x, lambda v: np.logaddexp(0.0, v))

    def where(self, cond: np.ndarray, a: Any, b: Any) -> Approx:
        """``a`` where ``cond`` (decided on exact inputs), else ``b``."""
        return Approx.select(np.asarray(cond), Approx.of(a), Approx.of(b))

    def concat(self, parts: list[Approx], axis: int = -1) -> Approx:
        """Arrays joined along ``axis``: each element keeps its own symbols (no two parts share a rounding)."""
        parts = [Approx.of(p) for p in parts]
        ids = np.unique(np.concatenate([p.ids for p in parts]))
        devs = []
        for p in parts:
            full = np.zeros((len(ids),) + p.mid.shape)
            full[np.searchsorted(ids, p.ids)] = _full(p.dev, p.mid.shape)
            devs.append(full)
        e0s = [np.broadcast_to(p.e0, p.mid.shape) for p in parts]
        ax = axis % parts[0].mid.ndim
        return Approx(np.concatenate([p.mid for p in parts], ax), 0.0, self.noise, e0=np.concatenate(e0s, ax),
                      dev=np.concatenate(devs, ax + 1), ids=ids)

    def stack(self, parts: list[Approx]) -> Approx:
        """Scalars as one vector (a name's several outputs), each within its radius (fresh symbols)."""
        parts = [Approx.of(p) for p in parts]
        return Approx(np.array([p.mid for p in parts]), np.array([p.rad for p in parts]), self.noise)

    def sum(self, x: Approx, axis: int | tuple | None) -> Approx:
        """The sum along ``axis`` (every axis for None; kept, of length 1), rounded to the dtype: the terms' errors
        add (each element's symbols are its own, so their radii add), the accumulation errs at most
        ``reduction_rtol(n)`` of the sum of the terms' largest magnitudes; correlations with other quantities are
        given up (a fresh symbol)."""
        x = Approx.of(x)
        n = x.mid.size if axis is None else int(np.prod([x.mid.shape[a] for a in np.atleast_1d(axis)]))
        rad = np.broadcast_to(x.rad, x.mid.shape)
        spread = np.sum(rad, axis=axis, keepdims=True)
        mag = np.sum(np.abs(x.mid) + rad, axis=axis, keepdims=True)
        with np.errstate(invalid="ignore"):
            out = Approx(np.sum(x.mid, axis=axis, keepdims=True), spread + self.reduction_rtol(n) * mag, self.noise)
        return self.f(out)

    def amax(self, x: Approx, axis: int) -> Approx:
        """The largest element along ``axis`` (kept): exact selection, within the largest radius (1-Lipschitz)."""
        x = Approx.of(x)
        rad = np.broadcast_to(x.rad, x.mid.shape)
        return Approx(np.max(x.mid, axis=axis, keepdims=True), np.max(rad, axis=axis, keepdims=True), self.noise)

    def take(self, x: Approx, index: np.ndarray, axis: int) -> Approx:
        """``np.take_along_axis``: the selected elements, with their radii (a fresh symbol)."""
        x = Approx.of(x)
        rad = np.broadcast_to(x.rad, x.mid.shape)
        return Approx(np.take_along_axis(x.mid, index, axis), np.take_along_axis(rad, index, axis), self.noise)

    def sigmoid(self, x: Approx) -> Approx:
        return self.monotone("sigmoid", x, lambda v: np.exp(-np.logaddexp(0.0, -v)))

    def pow(self, x: Approx, p: float) -> Approx:
        """x^p for x ≥ 0 (the computed base is a sum of non-negative products, never below 0)."""
        return self.monotone("pow", x, lambda v: np.power(v, p), lo=0.0)

    def abs(self, x: Approx) -> Approx:
        x = Approx.of(x)
        return Approx.select(x.mid >= 0, x, -x)

    def atan2(self, y: Approx, x: Approx) -> Approx:
        """atan2 is 1/r-Lipschitz (r = |(x, y)|) in each argument: the inputs' radii over the smallest r they allow,
        then the ``atan`` kernel's error."""
        y, x = Approx.of(y), Approx.of(x)
        spread = y.rad + x.rad
        with np.errstate(all="ignore"):
            r = np.hypot(y.mid, x.mid) - spread
            rad = np.where(spread == 0, 0.0, np.where(r > 0, spread / r, np.pi))
        return self.kernel("atan", Approx(np.arctan2(y.mid, x.mid), np.minimum(rad, np.pi), self.noise))

    def fraction(self, part: Approx, rest: Approx) -> Approx:
        """part / (rest + part) for part, rest ≥ 0 (0 where part is 0): the computed fraction lies in [0, 1] too
        (rounding is monotone), so its radius is at most 1 also where the quotient's bound is not finite."""
        q = self.f(part / self.f(rest + part))
        zero = part.mid == 0
        return Approx(np.where(zero, 0.0, q.mid), np.where(zero, np.where(part.rad > 0, 1.0, 0.0),
                                                           np.minimum(q.rad, 1.0)), self.noise)


def _rounds(dtype: str, v: float) -> bool:
    return float(round_to(dtype, np.asarray(float(v)))) != float(v)
