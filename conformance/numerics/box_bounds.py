"""Running error bounds of the box names' documents' forms in the dtype under test, for values and gradients.

Each bound covers the form as the documents write it and its variant with the areas from the corners (as code that
converts to corners first computes them; the GIoU pair takes them from the corners already), evaluated step by step
in the dtype with every rounding bounded by affine arithmetic (:mod:`conformance.numerics.bounds`); gradients by
the reverse pass autodiff takes through the same steps (:mod:`conformance.numerics.bounds_vjp`).  The forms are the
literal evaluator's (:data:`conformance.numerics.literal.BOX_FORMS`): one text, two readings.

The checks ask for the same bound several times per example (the range test, the value check, the gradient floor,
the diagnosis; a gradient per argument): the last few are kept.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from conformance.numerics.bounds import Bounded
from conformance.numerics.bounds_vjp import Traced
from conformance.numerics.literal import BOX_FORMS

_CACHE: OrderedDict[tuple, Any] = OrderedDict()
_KEEP = 16


def _pair(ex: dict) -> tuple[np.ndarray, np.ndarray]:
    return np.broadcast_arrays(np.asarray(ex["boxes1"], dtype=np.float64), np.asarray(ex["boxes2"], dtype=np.float64))


def _forms(name: str) -> tuple[bool, ...]:
    return (False,) if "giou" in name else (False, True)


def _cached(key: tuple, compute: Any) -> Any:
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    value = _CACHE[key] = compute()
    while len(_CACHE) > _KEEP:
        _CACHE.popitem(last=False)
    return value


def _key(kind: str, name: str, dtype: str, kernels: dict | None, *arrays: Any) -> tuple:
    parts = tuple((np.shape(a), np.asarray(a, dtype=np.float64).tobytes()) for a in arrays)
    return (kind, name, dtype, tuple(sorted((kernels or {}).items()))) + parts


def box_bound(name: str, ex: dict, dtype: str, kernels: dict[str, float] | None = None) -> np.ndarray:
    """The largest distance of box name ``name``'s value, evaluated in ``dtype`` in the documents' form or its
    variant, from the exact value, per box pair (inf where the dtype cannot bound it: a divisor that may be 0)."""
    def compute() -> np.ndarray:
        b1, b2 = _pair(ex)
        with np.errstate(all="ignore"):
            rads = []
            for corner_areas in _forms(name):
                d = Bounded(dtype, kernels)
                rads.append(BOX_FORMS[name](d, d.a(b1), d.a(b2), corner_areas).rad)
        return np.nan_to_num(np.max(rads, axis=0), nan=np.inf, posinf=np.inf)

    return _cached(_key("value", name, dtype, kernels, ex["boxes1"], ex["boxes2"]), compute)


def box_grad_bound(name: str, ex: dict, wrt: str, cot: Any, dtype: str,
                   kernels: dict[str, float] | None = None) -> np.ndarray:
    """The largest distance of the autodiff gradient of box name ``name`` (documents' form or its variant) with
    respect to ``wrt``, evaluated in ``dtype``, from the exact gradient, per element of ``ex[wrt]``."""
    def compute() -> dict[str, np.ndarray]:
        b1, b2 = _pair(ex)
        rads: dict[str, list] = {"boxes1": [], "boxes2": []}
        with np.errstate(all="ignore"):
            for corner_areas in _forms(name):
                t = Traced(dtype, kernels)
                x1, x2 = t.a(b1), t.a(b2)
                for k, g in zip(("boxes1", "boxes2"), t.grad(BOX_FORMS[name](t, x1, x2, corner_areas), cot, [x1, x2]),
                                strict=True):
                    rads[k].append(_summed(g.rad, np.abs(g.mid), np.shape(ex[k])))
        return {k: np.nan_to_num(np.max(v, axis=0), nan=np.inf, posinf=np.inf) for k, v in rads.items()}

    return _cached(_key("grad", name, dtype, kernels, ex["boxes1"], ex["boxes2"], cot), compute)[wrt]


def _summed(rad: np.ndarray, mag: np.ndarray, shape: tuple) -> np.ndarray:
    """A broadcast argument's gradient bound: summed over the axes broadcasting added, with the sum's own rounding
    (accumulated at least in float32)."""
    lead = tuple(range(rad.ndim - len(shape)))
    keep = tuple(i for i, n in enumerate(shape) if n == 1 and rad.shape[i + len(lead)] != 1)
    axes = lead + tuple(i + len(lead) for i in keep)
    if not axes:
        return rad
    n = int(np.prod([rad.shape[i] for i in axes]))
    return np.reshape(np.sum(rad, axis=axes) + n * 2.0**-24 * np.sum(mag, axis=axes), shape)
