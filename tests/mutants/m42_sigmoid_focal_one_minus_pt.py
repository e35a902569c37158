"""RetinaNet focal loss with 1 − p_t formed as 1 − (z·p + (1 − z)·(1 − p)) from p = σ(x) (torchvision's form)."""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R
from conformance.targets.reference import sigmoid_cross_entropy_with_logits

TARGETS = ("sigmoid_focal_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "1 − p_t as 1 − (z·p + (1 − z)(1 − p)): p rounds to 1 for confident logits and 1 − p_t cancels to 0"
KIND = "precision"


def sigmoid_focal_loss(labels: Any = None, logits: Any = None, alpha: Any = 0.25, gamma: Any = 2.0) -> tf.Tensor:
    x = R.ops.as_float(logits)
    z = tf.cast(labels, x.dtype)
    p = tf.math.sigmoid(x)
    p_t = z * p + (1 - z) * (1 - p)
    a = R.ops.const(alpha, x.dtype)
    alpha_t = tf.where(a >= 0, a * z + (1 - a) * (1 - z), tf.ones_like(z))
    ce = sigmoid_cross_entropy_with_logits(labels=z, logits=x)
    return alpha_t * tf.pow(1 - p_t, R.ops.const(gamma, x.dtype)) * ce
