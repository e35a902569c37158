"""Sigmoid cross-entropy in the textbook stable form max(x, 0) − x·z + log1p(e^{−|x|}) with jnp.maximum, jnp.abs."""

from typing import Any

import jax
import jax.numpy as jnp

from conformance.targets.reference_jax import *  # noqa: F403
from conformance.targets.reference_jax import REFERENCE as R

TARGETS = ("sigmoid_cross_entropy_with_logits",)
CATEGORIES = ("gradient",)
DESCRIPTION = ("jnp.maximum(x, 0) − x·z + log1p(e^{−|x|}): JAX differentiates maximum at a tie as 1/2 and |x| at "
               "0 as 1, so the gradient at x = 0 is 1/2 − z − 1/2 = −z instead of σ(0) − z (TF-WCE-GRAD-AT-ZERO)")
KIND = "gradient-only"


def sigmoid_cross_entropy_with_logits(labels: Any = None, logits: Any = None) -> jax.Array:
    x = R.ops.as_float(logits)
    z = R.ops.cast(labels, x.dtype)
    return jnp.maximum(x, 0) - x * z + jnp.log1p(jnp.exp(-jnp.abs(x)))
