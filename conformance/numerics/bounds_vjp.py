"""Running error bounds of a gradient: the documents' form differentiated in reverse mode, as autodiff does, with
every forward and backward step's rounding in the dtype bounded (:mod:`conformance.numerics.bounds`).

:class:`Traced` has the literal evaluator's interface (``c``, ``a``, ``f``, ``maximum``, ``minimum``, ``atan2``,
``fraction``), so the forms written in :mod:`conformance.numerics.literal` are traced unchanged.  Each operation's
vector-Jacobian product is the one TensorFlow registers for it, evaluated on the forward pass's computed values
(their radii included) with each backward result rounded: ``x·y`` sends ``g·y`` and ``g·x``; ``x/y`` sends ``g/y`` and
``g·((−x/y)/y)``; ``atan2(y, x)`` sends ``x·g/(x² + y²)`` and ``−y·g/(x² + y²)``; a max or min routes ``g`` to the
operand it chose (the exact one; ties and near-ties are kinks, not compared); gradients of a value used twice are
added in the dtype.  ``fraction`` (CIoU's α) is a constant of the gradient, as the documents write it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from conformance.numerics.bounds import Approx, Bounded

Back = Callable[[Approx], list[tuple["Var", Approx]]]


class Var:
    """A traced value: its :class:`Approx` and, for the backward pass, how its cotangent reaches its operands."""

    def __init__(self, tape: Traced, val: Approx, back: Back | None = None):
        self.tape, self.val, self.back = tape, val, back
        self.index = len(tape.nodes)
        tape.nodes.append(self)

    def _op(self, o: Any, fn: Callable[[Approx, Approx], Approx], back: Callable[[Var, Var, Approx], list]) -> Var:
        o = self.tape.lift(o)
        return Var(self.tape, fn(self.val, o.val), lambda g: back(self, o, g))

    @property
    def mid(self) -> np.ndarray:
        """The exact values (decisions such as masks are taken on them)."""
        return self.val.mid

    def reshape(self, shape: tuple) -> Var:
        before = self.val.mid.shape
        return Var(self.tape, self.val.reshape(shape), lambda g: [(self, g.reshape(before))])

    def __getitem__(self, key: Any) -> Var:
        shape = self.val.mid.shape

        def back(g: Approx) -> list:
            return [(self, Approx.scatter(shape, key, g))]

        return Var(self.tape, self.val[key], back)

    def __add__(self, o: Any) -> Var:
        return self._op(o, Approx.__add__, lambda x, y, g: [(x, g), (y, g)])

    __radd__ = __add__

    def __sub__(self, o: Any) -> Var:
        return self._op(o, Approx.__sub__, lambda x, y, g: [(x, g), (y, -g)])

    def __rsub__(self, o: Any) -> Var:
        return self.tape.lift(o) - self

    def __neg__(self) -> Var:
        return Var(self.tape, -self.val, lambda g: [(self, -g)])

    def __mul__(self, o: Any) -> Var:
        f = self.tape.f
        return self._op(o, Approx.__mul__, lambda x, y, g: [(x, f(g * y.val)), (y, f(g * x.val))])

    __rmul__ = __mul__

    def __truediv__(self, o: Any) -> Var:
        f = self.tape.f
        return self._op(o, Approx.__truediv__,
                        lambda x, y, g: [(x, f(g / y.val)), (y, f(g * f(f(-x.val / y.val) / y.val)))])

    def __rtruediv__(self, o: Any) -> Var:
        return self.tape.lift(o) / self


class Traced:
    """The bound arithmetic of :class:`~conformance.numerics.bounds.Bounded` on traced values."""

    def __init__(self, dtype: str, kernels: dict[str, float] | None = None, profiles: dict[str, Any] | None = None,
                 nearest: bool = False):
        self.d = Bounded(dtype, kernels, profiles=profiles, nearest=nearest)
        self.nodes: list[Var] = []

    def lift(self, x: Any) -> Var:
        return x if isinstance(x, Var) else Var(self, Approx.of(x))

    def c(self, v: float) -> Var:
        return Var(self, self.d.c(v))

    def a(self, x: Any) -> Var:
        return Var(self, self.d.a(x))

    def f(self, x: Any) -> Any:
        """Rounding to the dtype: of a traced value (the gradient passes unchanged), or of a backward Approx."""
        if isinstance(x, Var):
            return Var(self, self.d.f(x.val), lambda g: [(x, g)])
        return self.d.f(x)

    def _route(self, pick: Callable, a: Any, b: Any) -> Var:
        a, b = self.lift(a), self.lift(b)
        first = pick(a.val.mid, b.val.mid) == a.val.mid  # TensorFlow routes ties to the first operand
        zero = Approx(np.zeros_like(a.val.mid))

        def back(g: Approx) -> list:
            return [(a, Approx.select(first, g, zero)), (b, Approx.select(first, zero, g))]

        val = self.d.maximum(a.val, b.val) if pick is np.maximum else self.d.minimum(a.val, b.val)
        return Var(self, val, back)

    def maximum(self, a: Any, b: Any) -> Var:
        return self._route(np.maximum, a, b)

    def minimum(self, a: Any, b: Any) -> Var:
        return self._route(np.minimum, a, b)

    def atan2(self, y: Any, x: Any) -> Var:
        y, x = self.lift(y), self.lift(x)
        f = self.f

        def back(g: Approx) -> list:
            inv = f(g / f(f(x.val * x.val) + f(y.val * y.val)))
            return [(y, f(x.val * inv)), (x, f(-y.val * inv))]

        return Var(self, self.d.atan2(y.val, x.val), back)

    def _unary(self, x: Any, val: Approx, back: Callable[[Var, Var, Approx], Approx]) -> Var:
        x = self.lift(x)
        out: Var = Var(self, val, lambda g: [(x, back(x, out, g))])
        return out

    def exp(self, x: Any) -> Var:
        f = self.f  # TensorFlow's ExpGrad: g·y
        return self._unary(x, self.d.exp(self.lift(x).val), lambda x, y, g: f(g * y.val))

    def log1p(self, x: Any) -> Var:
        f = self.f  # Log1pGrad: g / (1 + x)
        return self._unary(x, self.d.log1p(self.lift(x).val), lambda x, y, g: f(g / f(x.val + 1.0)))

    def log(self, x: Any) -> Var:
        f = self.f  # LogGrad: g·(1/x)
        return self._unary(x, self.d.log(self.lift(x).val), lambda x, y, g: f(g * f(1.0 / x.val)))

    def softplus(self, x: Any) -> Var:
        f = self.f  # SoftplusGrad: g / (e^(−x) + 1)
        return self._unary(x, self.d.softplus(self.lift(x).val),
                           lambda x, y, g: f(g / f(self.d.exp(-x.val) + 1.0)))

    def sum(self, x: Any, axis: int | tuple | None) -> Var:
        x = self.lift(x)
        shape = x.val.mid.shape  # the sum keeps its axes: its cotangent broadcasts back exactly
        return Var(self, self.d.sum(x.val, axis), lambda g: [(x, g.broadcast(shape))])

    def concat(self, parts: list[Any], axis: int = -1) -> Var:
        parts = [self.lift(p) for p in parts]
        ax = axis % parts[0].val.mid.ndim
        ends = np.cumsum([p.val.mid.shape[ax] for p in parts])

        def back(g: Approx) -> list:
            return [(p, g[(slice(None),) * ax + (slice(int(e) - p.val.mid.shape[ax], int(e)),)])
                    for p, e in zip(parts, ends, strict=True)]

        return Var(self, self.d.concat([p.val for p in parts], axis), back)

    def stack(self, parts: list[Any]) -> Var:
        parts = [self.lift(p) for p in parts]
        return Var(self, self.d.stack([p.val for p in parts]), lambda g: [(p, g[i]) for i, p in enumerate(parts)])

    def sigmoid(self, x: Any) -> Var:
        f = self.f  # SigmoidGrad: g·y·(1 − y)
        return self._unary(x, self.d.sigmoid(self.lift(x).val),
                           lambda x, y, g: f(g * f(y.val * f(1.0 - y.val))))

    def pow(self, x: Any, p: float) -> Var:
        f = self.f  # PowGrad: g·p·x^(p − 1)
        return self._unary(x, self.d.pow(self.lift(x).val, p),
                           lambda x, y, g: f(g * f(self.d.c(p) * self.d.pow(x.val, p - 1))))

    def abs(self, x: Any) -> Var:
        x = self.lift(x)
        sign = np.where(x.val.mid >= 0, 1.0, -1.0)  # the sign of the exact value (0 is a kink)
        return Var(self, self.d.abs(x.val), lambda g: [(x, g * sign)])

    def fraction(self, part: Var, rest: Var) -> Var:
        return Var(self, self.d.fraction(part.val, rest.val))  # a constant of the gradient (the documents' α)

    def _unbroadcast(self, h: Approx, shape: tuple) -> Approx:
        """The cotangent of an operand that the operation broadcast: summed over the broadcast axes (TensorFlow's
        reduce_sum in the gradient of a broadcasting op), rounded."""
        if h.mid.shape == shape:
            return h
        lead = h.mid.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                          if n == 1 and h.mid.shape[lead + i] != 1)
        return self.d.sum(h, axes).reshape(shape) if axes else h.reshape(shape)

    def grad(self, out: Var, cot: Any, wrt: list[Var]) -> list[Approx]:
        """Reverse pass from ``out`` with the (dtype-exact) cotangent ``cot``: the gradient reaching each of ``wrt``."""
        acc: dict[int, Approx] = {out.index: Approx(np.broadcast_to(np.asarray(cot, dtype=np.float64),
                                                                    out.val.mid.shape))}
        for node in reversed(self.nodes[:out.index + 1]):
            g = acc.pop(node.index, None) if node not in wrt else acc.get(node.index)
            if g is None or node.back is None:
                continue
            for parent, h in node.back(g):
                h = self._unbroadcast(h, parent.val.mid.shape)
                acc[parent.index] = h if parent.index not in acc else self.d.f(acc[parent.index] + h)
        return [acc.get(v.index, Approx(np.zeros_like(v.val.mid))) for v in wrt]

