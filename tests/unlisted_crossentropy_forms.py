"""Sigmoid cross-entropy and focal-loss formulas as other widely used code writes them, in the literal arithmetic
``d`` of conformance.numerics.literal (every step rounded to the dtype), step for step: faithful implementations
whose order of roundings the running error bounds do not list (tests/test_form_bounds.py checks them within
``FORM`` times the bound).

Sigmoid cross-entropy (labels ``z``, logits ``x``):

- ``softplus``: (1 − z)·x + softplus(−x), the textbook rearrangement;
- ``sign_branch``: x − x·z + log(1 + e^(−x)) for x ≥ 0, −x·z + log(1 + e^x) below, as TensorFlow's documentation
  derives the stable form;
- ``optax``: −z·log σ(x) − (1 − z)·log σ(−x), with log σ(x) = −softplus(−x) (optax's ``sigmoid_binary_cross_entropy``).

Sigmoid focal loss: ``mmdetection``'s ``py_sigmoid_focal_loss``: the weight (α·z + (1 − α)·(1 − z))·p_tᵞ first, with
p_t = (1 − σ(x))·z + σ(x)·(1 − z), times the cross-entropy last.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.numerics.crossentropy_forms import sce


def softplus(d: Any, z: Any, x: Any) -> Any:
    return d.f(d.f(d.f(d.c(1.0) - z) * x) + d.softplus(-x))


def sign_branch(d: Any, z: Any, x: Any) -> Any:
    pos = d.f(d.f(d.f(d.c(1.0) - z) * x) + d.log1p(d.exp(-x)))
    neg = d.f(d.f(-x * z) + d.log1p(d.exp(x)))
    return np.where(np.asarray(x) >= 0, pos, neg)


def optax(d: Any, z: Any, x: Any) -> Any:
    log_p, log_not_p = -d.softplus(-x), -d.softplus(x)
    return d.f(d.f(-(z * log_p)) - d.f(d.f(d.c(1.0) - z) * log_not_p))


SIGMOID_CE = {"softplus": softplus, "sign_branch": sign_branch, "optax": optax}


def mmdetection_weight(d: Any, z: Any, x: Any, alpha: float, gamma: float) -> Any:
    """(α·z + (1 − α)·(1 − z))·p_tᵞ (no α factor where α < 0), in the dtype."""
    p, one_z = d.sigmoid(x), d.f(d.c(1.0) - z)
    pt = d.f(d.f(d.f(d.c(1.0) - p) * z) + d.f(p * one_z))
    w = d.pow(pt, gamma) if gamma != 0 else d.c(1.0)
    if alpha >= 0:
        w = d.f(d.f(d.f(d.c(alpha) * z) + d.f(d.c(1.0 - alpha) * one_z)) * w)
    return w


def mmdetection_focal(d: Any, z: Any, x: Any, alpha: float, gamma: float) -> Any:
    return d.f(sce(d, z, x) * mmdetection_weight(d, z, x, alpha, gamma))
