"""The record every oracle family module publishes for each contract name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._validate import CONVENTIONS, wrt_of

__all__ = ["CONVENTIONS", "OracleSpec", "keyword_evaluate", "no_kinks", "smooth_kinks"]


@dataclass(frozen=True)
class OracleSpec:
    """How to evaluate, differentiate and locate kinks for one contract name.

    ``evaluate(**kwargs)`` returns a float64 array (a tuple of three for the
    YOLOv3 loss names).  ``vjp(cotangent, wrt, **kwargs)`` returns the
    vector-Jacobian product with respect to the argument named ``wrt`` (a tuple
    for ``compute_loss``'s ``convs``).  ``kinks(wrt, **kwargs)`` returns a
    boolean array shaped like that argument, True where the element sits on a
    kink or clip boundary and any subgradient is acceptable.
    """

    name: str
    family: str
    evaluate: Callable[..., Any]
    vjp: Callable[..., Any]
    kinks: Callable[..., Any]
    diff_args: tuple[str, ...]
    conventions: bool = False
    variants: tuple[str, ...] = field(default=())
    n_outputs: int = 1


def no_kinks(wrt: str, **kwargs: Any) -> np.ndarray:
    """Kink mask for a smooth function: all False, shaped like ``kwargs[wrt]``."""
    return np.zeros(np.shape(kwargs[wrt]), dtype=bool)


def keyword_evaluate(fn: Callable[..., Any]) -> Callable[..., np.ndarray]:
    """Uniform-style evaluate for ``fn``: keyword arguments only, a float64 array out."""

    def evaluate(**kwargs: Any) -> np.ndarray:
        return np.asarray(fn(**kwargs), dtype=np.float64)

    return evaluate


def smooth_kinks(name: str, allowed: tuple[str, ...]) -> Callable[..., np.ndarray]:
    """Kink function of a smooth contract ``name`` (differentiable in ``allowed``): all False."""

    def kinks(wrt: str, **kwargs: Any) -> np.ndarray:
        wrt_of(name, wrt, allowed)
        return no_kinks(wrt, **kwargs)

    return kinks
