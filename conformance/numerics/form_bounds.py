"""Running error bounds of a name's forms evaluated in the dtype under test, for values and gradients.

Each name lists its forms in :data:`conformance.numerics.forms.FORMS`: the documents' form and the faithful
variants the tolerance must also admit (the box names with their areas from the corners, as code that converts to
corners first computes them; the sigmoid focal loss with 1 − p_t as torchvision computes it; the cross-entropies in
PyTorch's and JAX's orders).  Each is evaluated step
by step in the dtype with every rounding bounded by affine arithmetic (:mod:`conformance.numerics.bounds`), its
gradient by the reverse pass autodiff takes through the same steps (:mod:`conformance.numerics.bounds_vjp`), and the
bound is the largest over the forms: one text of each form, read as the literal formula and as a bound.

The checks ask for the same bound several times per example (the range test, the value check, the gradient floor,
the diagnosis; a gradient per argument): the last few are kept.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from conformance.numerics import arithmetic
from conformance.numerics.bounds import Bounded
from conformance.numerics.bounds_vjp import Traced
from conformance.numerics.forms import FORMS
from conformance.numerics.tolerance import sum_to

_CACHE: OrderedDict[tuple, Any] = OrderedDict()
_KEEP = 16


def _arrays(name: str, ex: dict) -> tuple[list[Any], list[Any]]:
    """The float arguments (broadcast together; a sequence of arrays, one per scale, as it is) and the others."""
    floats, others, _ = FORMS[name]
    if any(isinstance(ex[k], (list, tuple)) for k in floats):
        arrays = [[np.asarray(x, dtype=np.float64) for x in ex[k]] if isinstance(ex[k], (list, tuple))
                  else np.asarray(ex[k], dtype=np.float64) for k in floats]
    else:
        arrays = list(np.broadcast_arrays(*(np.asarray(ex[k], dtype=np.float64) for k in floats)))
    return arrays, [ex.get(k) for k in others]


def _lift(d: Any, a: Any) -> Any:
    """An argument as the arithmetic ``d`` holds it (each array of a sequence)."""
    return [d.a(x) for x in a] if isinstance(a, list) else d.a(a)


def _cached(key: tuple, compute: Any) -> Any:
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    value = _CACHE[key] = compute()
    while len(_CACHE) > _KEEP:
        _CACHE.popitem(last=False)
    return value


def _key(kind: str, name: str, dtype: str, kernels: dict | None, ex: dict, cot: Any = None) -> tuple:
    floats, scalars, _ = FORMS[name]
    parts = tuple((np.shape(a), np.asarray(a, dtype=np.float64).tobytes())
                  for a in [*(x for k in floats for x in (ex[k] if isinstance(ex[k], (list, tuple)) else [ex[k]])),
                            *([] if cot is None else [cot])])
    a = arithmetic.current(dtype)
    profiles = tuple(sorted((k, p.digest) for k, p in a.profiles.items()))
    return (kind, name, dtype, a.accumulator, a.nearest, tuple(sorted((kernels or {}).items())), profiles,
            tuple(_identity(ex.get(k)) for k in scalars)) + parts


def _identity(v: Any) -> Any:
    """A cache key part for an argument passed as it is: the bytes of arrays (a repr abbreviates long ones)."""
    if isinstance(v, (list, tuple)):
        return tuple(_identity(x) for x in v)
    if isinstance(v, np.ndarray):
        return (v.shape, str(v.dtype), v.tobytes())
    return repr(v)


def value_bound(name: str, ex: dict, dtype: str, kernels: dict[str, float] | None = None) -> np.ndarray:
    """The largest distance of name ``name``'s value, evaluated in ``dtype`` in any of its forms, from the exact
    value, per output element (inf where the dtype cannot bound it: a divisor that may be 0, an overflow)."""
    def compute() -> np.ndarray:
        arrays, scalars = _arrays(name, ex)
        with np.errstate(all="ignore"):
            rads = []
            for form in FORMS[name][2]:
                arith = arithmetic.current(dtype)
                d = Bounded(dtype, kernels, arith.reduction_rtol, arith.profiles, arith.nearest)
                rads.append(form(d, *(_lift(d, a) for a in arrays), *scalars).rad)
        return _largest(rads)

    return _cached(_key("value", name, dtype, kernels, ex), compute)


def grad_bound(name: str, ex: dict, wrt: str, cot: Any, dtype: str,
               kernels: dict[str, float] | None = None) -> np.ndarray:
    """The largest distance of the autodiff gradient of name ``name`` (any of its forms) with respect to ``wrt``,
    evaluated in ``dtype``, from the exact gradient, per element of ``ex[wrt]`` (a list of such arrays where
    ``ex[wrt]`` is a sequence of arrays)."""
    floats = FORMS[name][0]

    def compute() -> dict[str, Any]:
        arrays, scalars = _arrays(name, ex)
        rads: dict[str, list] = {k: [] for k in floats}
        with np.errstate(all="ignore"):
            for form in FORMS[name][2]:
                arith = arithmetic.current(dtype)
                t = Traced(dtype, kernels, arith.profiles, arith.nearest)
                xs = [_lift(t, a) for a in arrays]
                flat = [v for x in xs for v in (x if isinstance(x, list) else [x])]
                grads = iter(t.grad(form(t, *xs, *scalars), cot, flat))
                for k, x in zip(floats, xs, strict=True):
                    shapes = [np.shape(v) for v in ex[k]] if isinstance(x, list) else [np.shape(ex[k])]
                    rads[k].append([_summed((g := next(grads)).rad, np.abs(g.mid), shape) for shape in shapes])
        return {k: [_largest([r[i] for r in v]) for i in range(len(v[0]))] for k, v in rads.items()}

    parts = _cached(_key("grad", name, dtype, kernels, ex, cot), compute)[wrt]
    return parts if isinstance(ex[wrt], (list, tuple)) else parts[0]


def _largest(rads: list[np.ndarray]) -> np.ndarray:
    """The largest bound over the forms, per element (inf where one is undefined)."""
    return np.nan_to_num(np.max(rads, axis=0), nan=np.inf, posinf=np.inf)


def _summed(rad: np.ndarray, mag: np.ndarray, shape: tuple) -> np.ndarray:
    """A broadcast argument's gradient bound: summed over the axes broadcasting added, with the sum's own rounding
    (accumulated at least in float32)."""
    total = sum_to(rad, shape)
    n = rad.size // max(total.size, 1)
    return rad if n == 1 else np.reshape(total + n * 2.0**-24 * sum_to(mag, shape), shape)


def bounds(name: str, gradient: bool = True) -> dict[str, Any]:
    """A :class:`~conformance.numerics.tolerance.Tolerance`'s ``bound`` and (``gradient``) ``grad_bound`` for name
    ``name``."""
    out: dict[str, Any] = {"bound": lambda ex, dtype, kernels: value_bound(name, ex, dtype, kernels)}
    if gradient:
        out["grad_bound"] = lambda ex, wrt, cot, dtype, kernels: grad_bound(name, ex, wrt, cot, dtype, kernels)
    return out
