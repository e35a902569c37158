"""Framework-neutral helpers on a contract's output(s): one output or a tuple of them, and their cotangents."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from conformance.numerics.dtypes import round_to
from conformance.numerics.tolerance import max_ignoring_nan


def as_tuple(x: Any) -> tuple:
    """One output or several, always as a tuple."""
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def concat(xs: Sequence[Any]) -> np.ndarray:
    """Several outputs raveled into one float64 array; a single output keeps its shape."""
    xs = [np.asarray(x, dtype=np.float64) for x in xs]
    return np.concatenate([np.ravel(x) for x in xs]) if len(xs) > 1 else xs[0]


def flat(x: Any) -> np.ndarray:
    """One output or a tuple/list of outputs, raveled into one float64 array (always 1-d)."""
    return np.concatenate([np.ravel(np.asarray(v, dtype=np.float64)) for v in as_tuple(x)])


def magnitude(x: Any) -> float:
    """The largest |element| of the output(s), NaN elements ignored; 0.0 when there is none."""
    return max_ignoring_nan(np.abs(flat(x)))


def cotangents(n_outputs: int, outputs: Any, seed: int, dtype: str) -> tuple[np.ndarray, ...]:
    """Random cotangents shaped like the output(s), rounded to ``dtype`` (float64 values), one per output."""
    rng = np.random.default_rng(seed)
    outs = outputs if n_outputs > 1 else (outputs,)
    return tuple(round_to(dtype, rng.standard_normal(np.shape(o))) for o in outs)
