"""CenterNet reg_l1_loss gathering with batch element 0's indices for every image."""

from typing import Any

import jax
import jax.numpy as jnp

from conformance.targets.catalogue import EPSILON
from conformance.targets.reference_jax import *  # noqa: F403
from conformance.targets.reference_jax import REFERENCE as R

TARGETS = ("reg_l1_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "flat[:, indices[0]] (jnp.take(flat, indices[0], axis=1)) instead of each image's own indices"
KIND = "batch>1"


def reg_l1_loss(y_pred: Any, y_true: Any, indices: Any, mask: Any) -> jax.Array:
    y_pred = R.ops.as_float(y_pred)
    dtype = y_pred.dtype
    y_true = R.ops.cast(y_true, dtype)
    mask = R.ops.cast(mask, dtype)
    b, h, w, _ = y_pred.shape
    flat = y_pred.reshape(b, h * w, 2)
    g = jnp.take(flat, jnp.asarray(indices)[0], axis=1)
    m = jnp.broadcast_to(mask[..., None], (*mask.shape, 2))
    return jnp.sum(jnp.abs(y_true * m - g * m)) / (jnp.sum(m) + R.ops.const(EPSILON, dtype))
