"""Keras' probability cross-entropy in the dtype under test: rows within rounding distance of a clip bound.

CCE clips the normalised probability q_i = p_i / Σ_j p_j to [ε_k, 1 − ε_k] (constants in the dtype).
The dtype computes q_i with the rounding of a K-term sum and a division, about (K + 2) unit roundoffs, so
where the exact q_i lies that close to a bound the dtype may clip where float64 does not, or the reverse,
and the gradient of the whole row changes (q_i depends on every p_j of the row).  On such rows any finite
gradient is accepted, as on an exact kink (``Contract.near_kinks``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.numerics.dtypes import info, round_to
from oracle.crossentropy import EPS_K  # docs/contracts.md ε_k


def near_bounds(target: Any, output: Any, axis: int, dtype: str) -> np.ndarray:
    """Mask shaped like ``output``: every element of a row in which a class with t_i ≠ 0 has q_i near a bound."""
    t, p = np.broadcast_arrays(np.asarray(target, dtype=np.float64), np.asarray(output, dtype=np.float64))
    if p.ndim == 0 or p.size == 0:
        return np.zeros(p.shape, dtype=bool)
    lo, hi = (float(round_to(dtype, np.asarray(c))) for c in (EPS_K, 1.0 - EPS_K))
    reach = (p.shape[axis] + 2) * info(dtype).unit_roundoff
    with np.errstate(divide="ignore", invalid="ignore"):
        q = p / np.sum(p, axis=axis, keepdims=True)
        near = (np.abs(q - lo) <= reach * lo) | (np.abs(q - hi) <= reach * hi)
    row = np.any(near & (t != 0), axis=axis, keepdims=True)
    return np.broadcast_to(row, p.shape).copy()


def cce_near_kinks(ex: dict, wrt: str, dtype: str) -> np.ndarray:
    """``categorical_crossentropy`` (``target``, ``output``, ``axis``)."""
    return near_bounds(ex["target"], ex["output"], int(ex.get("axis", -1)), dtype)


def class_cls_near_kinks(ex: dict, wrt: str, dtype: str) -> np.ndarray:
    """``class_loss_cls`` (``y_true``, ``y_pred``: rows along the last axis)."""
    return near_bounds(ex["y_true"], ex["y_pred"], -1, dtype)
