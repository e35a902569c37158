"""Stable sigmoid cross-entropy written with relu and abs: exact values, gradient −z at x = 0."""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

FRAMEWORKS = ("tf",)  # the bug is TensorFlow's own mechanism
TARGETS = ("sigmoid_cross_entropy_with_logits",)
CATEGORIES = ("gradient",)
DESCRIPTION = ("relu(x) − x·z + log1p(exp(−|x|)): TensorFlow's relu'(0) = abs'(0) = 0 give −z at x = 0 "
               "instead of σ(0) − z = 1/2 − z")
KIND = "gradient-only"


def sigmoid_cross_entropy_with_logits(labels: Any = None, logits: Any = None) -> tf.Tensor:
    x = R.ops.as_float(logits)
    z = tf.cast(R.ops.tensor(labels), x.dtype)
    return tf.nn.relu(x) - x * z + tf.math.log1p(tf.exp(-tf.abs(x)))
