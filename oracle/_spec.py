"""The record every oracle family module publishes for each contract name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

CONVENTIONS = ("keras-ops", "keras-legacy")


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
