"""Weighted sigmoid cross-entropy through a log σ whose derivative at 0 is 0.

``jax.nn.log_sigmoid`` returned gradient 0 at x = 0 (exact: σ(−0) = 0.5).  A weighted
cross-entropy written as −(q·z·log σ(x) + (1 − z)·log σ(−x)) on top of it inherits a zero
gradient at logits = 0 for every label.  Here log σ(x) = −(relu(−x) + log1p(e^{−|x|})), whose
TensorFlow derivative at 0 is 0 for the same reason (relu'(0) = abs'(0) = 0).
"""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("weighted_cross_entropy_with_logits",)
CATEGORIES = ("gradient",)
DESCRIPTION = "−(q·z·log σ(x) + (1−z)·log σ(−x)) with d/dx log σ(x) = 0 at x = 0: the gradient at x = 0 is 0"
KIND = "gradient-only"
LINK = "https://github.com/jax-ml/jax/issues/2140"
SOURCE = "jax-ml/jax"


def _log_sigmoid(x: tf.Tensor) -> tf.Tensor:
    return -(tf.nn.relu(-x) + tf.math.log1p(tf.exp(-tf.abs(x))))


def weighted_cross_entropy_with_logits(labels: Any = None, logits: Any = None, pos_weight: Any = 1.0) -> tf.Tensor:
    x = R.ops.as_float(logits)
    z = tf.cast(R.ops.tensor(labels), x.dtype)
    q = R.ops.const(pos_weight, x.dtype)
    return -(q * z * _log_sigmoid(x) + (1 - z) * _log_sigmoid(-x))
