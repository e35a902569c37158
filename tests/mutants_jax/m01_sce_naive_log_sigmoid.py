"""Sigmoid cross-entropy as −z·log σ(x) − (1−z)·log(1−σ(x)) in the input dtype (SCE-NAIVE)."""

from typing import Any

import jax
import jax.numpy as jnp

from conformance.targets.reference_jax import *  # noqa: F403
from conformance.targets.reference_jax import REFERENCE as R

TARGETS = ("sigmoid_cross_entropy_with_logits",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "naive −z·log σ(x) − (1−z)·log(1−σ(x)): σ(x) rounds to 1 in float32 at x ≈ 17, giving log 0 = −inf"
KIND = "precision"


def sigmoid_cross_entropy_with_logits(labels: Any = None, logits: Any = None) -> jax.Array:
    x = R.ops.as_float(logits)
    z = R.ops.cast(labels, x.dtype)
    p = jax.nn.sigmoid(x)
    return -(z * jnp.log(p) + (1 - z) * jnp.log(1 - p))
