"""Smooth L1 with a hand-written gradient whose linear branch has the wrong sign."""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

FRAMEWORKS = ("tf",)  # the bug is TensorFlow's own mechanism
TARGETS = ("smooth_l1",)
CATEGORIES = ("gradient",)
DESCRIPTION = "tf.custom_gradient returning −sign(x) instead of sign(x) where |x| > 1"
KIND = "gradient-only"


@tf.custom_gradient
def _smooth_l1(x: tf.Tensor) -> tf.Tensor:
    a = tf.abs(x)
    inner = a <= 1

    def grad(g: tf.Tensor) -> tf.Tensor:
        return g * tf.where(inner, x, -tf.sign(x))

    return tf.where(inner, 0.5 * x * x, a - 0.5), grad


def smooth_l1(x: Any) -> tf.Tensor:
    return _smooth_l1(R.ops.as_float(x))
