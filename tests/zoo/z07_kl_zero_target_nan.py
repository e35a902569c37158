"""KL divergence Σ p·(log p − log q) without the 0·log(0/q) = 0 convention.

Optax's ``kl_divergence`` computed ``targets * (jnp.log(targets) - log_predictions)``: a
target probability of exactly 0 gives 0·(−inf) = NaN (fixed by returning 0 where the target is 0).
"""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("kl_divergence",)
CATEGORIES = ("value",)
DESCRIPTION = "Σ p·(log p − log q): a zero target probability gives 0·(−inf) = NaN"
KIND = "zero-convention"
LINK = "https://github.com/google-deepmind/optax/pull/473"
SOURCE = "google-deepmind/optax"


def kl_divergence(p: Any, q: Any, axis: int = -1) -> tf.Tensor:
    p = R.ops.as_float(p)
    q = tf.cast(R.ops.tensor(q), p.dtype)
    return tf.reduce_sum(p * (tf.math.log(p) - tf.math.log(q)), axis=axis)
