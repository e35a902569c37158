"""Sigmoid cross-entropy as −z·log σ(x) − (1−z)·log(1−σ(x)) in the input dtype (SCE-NAIVE)."""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("sigmoid_cross_entropy_with_logits",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "naive −z·log σ(x) − (1−z)·log(1−σ(x)): σ(x) rounds to 1 in float32 at x ≈ 17, giving log 0 = −inf"
KIND = "precision"


def sigmoid_cross_entropy_with_logits(labels: Any = None, logits: Any = None) -> tf.Tensor:
    x = R.ops.as_float(logits)
    z = tf.cast(R.ops.tensor(labels), x.dtype)
    p = tf.math.sigmoid(x)
    return -(z * tf.math.log(p) + (1 - z) * tf.math.log(1 - p))
