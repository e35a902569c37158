"""User oracle entries: a float64 NumPy function, its VJP (or a finite-difference fallback), its kinks.

Users whose loss is not in the catalogue register it with :func:`define` (the suite's
``conformance.contracts.user.define`` calls it); the oracle then evaluates it like a catalogue name.

Finite-difference fallback: central differences in float64 with step ``h = eps**(1/3) * max(1, |x|)``
per element, so the VJP is accurate to about ``1e-10`` relative to the function's scale (truncation
``O(h²)`` plus rounding ``O(eps / h)``).  That is far below the float32/float16/bfloat16 tolerances the
suite applies, but not enough to judge a float64 implementation's gradient: give an analytic VJP for that.
It costs two evaluations per input element.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._spec import OracleSpec, no_kinks

FD_RELATIVE_ACCURACY = 1e-10


def finite_difference_vjp(evaluate: Callable[..., Any]) -> Callable[..., Any]:
    """A VJP ``vjp(cotangent, wrt, **kwargs)`` of ``evaluate`` by central differences in float64."""
    def vjp(cotangent: Any, wrt: str, **kwargs: Any) -> np.ndarray:
        x = np.array(kwargs[wrt], dtype=np.float64)
        cot = np.asarray(cotangent, dtype=np.float64)
        out = np.zeros_like(x)
        h_all = np.finfo(np.float64).eps ** (1 / 3) * np.maximum(1.0, np.abs(x))
        flat, hs = x.reshape(-1), h_all.reshape(-1)
        for i in range(flat.size):
            up, down = flat.copy(), flat.copy()
            up[i] += hs[i]
            down[i] -= hs[i]
            f_up = np.asarray(evaluate(**{**kwargs, wrt: up.reshape(x.shape)}), dtype=np.float64)
            f_down = np.asarray(evaluate(**{**kwargs, wrt: down.reshape(x.shape)}), dtype=np.float64)
            out.reshape(-1)[i] = np.sum(cot * (f_up - f_down)) / (up[i] - down[i])
        return out
    return vjp


def define(name: str, evaluate: Callable[..., Any], diff_args: tuple[str, ...], vjp: Callable[..., Any] | None = None,
           kinks: Callable[..., Any] | None = None, family: str = "user") -> OracleSpec:
    """An :class:`OracleSpec` for a user function (keyword arguments only, float64 NumPy in and out)."""
    if not name.isidentifier():
        raise ValueError(f"name: expected a Python identifier, got {name!r}")
    if not callable(evaluate):
        raise TypeError(f"evaluate: expected a callable, got {type(evaluate).__name__}")
    if not diff_args:
        raise ValueError("diff_args: name at least one differentiable argument")
    return OracleSpec(name, family, evaluate, vjp or finite_difference_vjp(evaluate), kinks or no_kinks, diff_args)
