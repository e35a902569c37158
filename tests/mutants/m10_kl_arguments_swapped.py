"""KL divergence with its arguments swapped (Σ q·log(q/p))."""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("kl_divergence",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "KL(q‖p) instead of KL(p‖q)"
KIND = "formula"


def kl_divergence(p: Any, q: Any, axis: int = -1) -> tf.Tensor:
    p = R.ops.as_float(p)
    q = tf.cast(R.ops.tensor(q), p.dtype)
    return tf.reduce_sum(q * R.log_ratio(q, p), axis=axis)
