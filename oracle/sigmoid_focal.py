"""RetinaNet's sigmoid focal loss (Lin et al., "Focal Loss for Dense Object Detection", 2017), family ``nn``.

As ``torchvision.ops.sigmoid_focal_loss`` and Keras' ``BinaryFocalCrossentropy`` (from logits, with
class balancing) compute it, elementwise and unreduced, labels z in [0, 1] (soft labels allowed)::

    L = α_t · (1 − p_t)^γ · SCE(z, x),   1 − p_t = z·σ(−x) + (1 − z)·σ(x),
    α_t = α·z + (1 − α)·(1 − z) for α ≥ 0, 1 for α < 0 (no weighting); γ ≥ 0.

Evaluated in float64 from the cancellation-free sigmoid cross-entropy and σ(±x) of
:mod:`oracle.elementary` (1 − p_t is a sum of two non-negative terms).  For finite logits
1 − p_t > 0, so the loss is smooth (no kinks); with γ = 0 and α < 0 it is the sigmoid
cross-entropy.  The derivative of (1 − p_t) is (1 − 2z)·σ(x)·σ(−x), and γ·(1 − p_t)^(γ−1) times
it is formed as γ·(1 − p_t)^γ·r with r = σ(x)·σ(−x)/(1 − p_t) ≤ 1, so that nothing overflows for
γ < 1 where 1 − p_t is tiny.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _validate as v
from ._spec import OracleSpec, keyword_evaluate, smooth_kinks
from .crossentropy import sigmoid_cross_entropy_with_logits
from .elementary import sigmoid_parts

__all__ = ["sigmoid_focal_loss"]


def _args(labels: Any, logits: Any, alpha: Any, gamma: Any) -> tuple[np.ndarray, np.ndarray, float, float]:
    v.required("labels", labels)
    v.required("logits", logits)
    z, x = v.same_shape_pair("labels", labels, "logits", logits)
    a = v.scalar("alpha", alpha)
    g = v.scalar("gamma", gamma)
    if g < 0:
        raise ValueError(f"gamma: expected a number >= 0, got {g}")
    return z, x, a, g


def _parts(z: np.ndarray, x: np.ndarray, a: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(α_t, 1 − p_t, σ(x), σ(−x))."""
    _, s, sc = sigmoid_parts(x)
    miss = z * sc + (1.0 - z) * s
    alpha_t = a * z + (1.0 - a) * (1.0 - z) if a >= 0 else np.ones_like(z)
    return alpha_t, miss, s, sc


def sigmoid_focal_loss(labels: Any = None, logits: Any = None, alpha: Any = 0.25, gamma: Any = 2.0) -> np.ndarray:
    """α_t·(1 − p_t)^γ·SCE(labels, logits), elementwise."""
    z, x, a, g = _args(labels, logits, alpha, gamma)
    alpha_t, miss, _, _ = _parts(z, x, a)
    ce = sigmoid_cross_entropy_with_logits(labels=z, logits=x)
    return alpha_t * miss**g * ce


def _vjp(cotangent: Any, wrt: str, *, labels: Any, logits: Any, alpha: Any = 0.25, gamma: Any = 2.0) -> np.ndarray:
    v.wrt_of("sigmoid_focal_loss", wrt, ("logits",))
    z, x, a, g = _args(labels, logits, alpha, gamma)
    alpha_t, miss, s, sc = _parts(z, x, a)
    ce = sigmoid_cross_entropy_with_logits(labels=z, logits=x)
    d_ce = np.where(x >= 0, (1.0 - z) - sc, s - z)  # σ(x) − z without cancelling σ(x) against 1
    pos = miss > 0
    r = np.where(pos, s * sc / np.where(pos, miss, 1.0), 0.0)  # σ(x)·σ(−x)/(1 − p_t), at most 1
    mod = miss**g
    grad = alpha_t * (g * mod * (1.0 - 2.0 * z) * r * ce + mod * d_ce)
    return v.cotangent_like(cotangent, x.shape) * grad


SPECS: list[OracleSpec] = [
    OracleSpec("sigmoid_focal_loss", "nn", keyword_evaluate(sigmoid_focal_loss), _vjp,
               smooth_kinks("sigmoid_focal_loss", ("logits",)), ("logits",)),
]
