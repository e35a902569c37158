"""The YOLOv3 focal weight ``focal = alpha * |target - actual| ** gamma`` (docs/contracts.md).

Its gradient at ``target == actual`` is the subgradient 0; ``kinks`` marks the cusp there (``0 < gamma <= 1``)
and the pole of ``gamma < 0``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._spec import OracleSpec
from ._validate import as_float, broadcastable, cotangent_like, scalar, unbroadcast, wrt_of

__all__ = ["focal"]


def _focal_args(target, actual, alpha, gamma):
    t = as_float("target", target)
    a = as_float("actual", actual)
    broadcastable("target", t, "actual", a)
    return t, a, scalar("alpha", alpha), scalar("gamma", gamma)


def focal(target: Any, actual: Any, alpha: Any = 1, gamma: Any = 2) -> np.ndarray:
    """The YOLOv3 focal weight ``alpha * |target - actual| ** gamma``."""
    t, a, al, ga = _focal_args(target, actual, alpha, gamma)
    with np.errstate(divide="ignore", over="ignore"):
        return al * np.abs(t - a) ** ga


def _focal_dactual(d: np.ndarray, alpha: float, gamma: float) -> np.ndarray:
    """d/d actual of alpha*|target - actual|^gamma with d = target - actual (0 at d == 0)."""
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        ad = np.abs(d)
        grad = -alpha * gamma * np.where(ad > 0, ad, 1.0) ** (gamma - 1.0) * np.sign(d)
    return np.where(d == 0, 0.0, grad)


def _focal_vjp(cotangent: Any, wrt: str, *, target: Any, actual: Any, alpha: Any = 1, gamma: Any = 2):
    wrt_of("focal", wrt, ("actual",))
    t, a, al, ga = _focal_args(target, actual, alpha, gamma)
    d = t - a
    g = cotangent_like(cotangent, d.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        return unbroadcast(g * _focal_dactual(d, al, ga), a.shape)


def _focal_kinks(wrt: str, *, target: Any, actual: Any, alpha: Any = 1, gamma: Any = 2):
    wrt_of("focal", wrt, ("actual",))
    t, a, _, ga = _focal_args(target, actual, alpha, gamma)
    # a cusp for 0 < gamma <= 1, a pole for gamma < 0; gamma == 0 is the constant alpha
    return unbroadcast((t - a == 0) & (ga <= 1) & (ga != 0), a.shape, np.any)


def _focal_eval(*, target, actual, alpha=1, gamma=2):
    return focal(target, actual, alpha, gamma)


SPECS: list[OracleSpec] = [OracleSpec("focal", "yolov3", _focal_eval, _focal_vjp, _focal_kinks, ("actual",))]
