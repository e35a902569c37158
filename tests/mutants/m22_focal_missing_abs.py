"""YOLOv3 focal weight as α·(target − actual)^γ, without the absolute value."""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("focal",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "tf.pow(target − actual, γ): NaN for a non-integer γ and a negative base, wrong sign for odd γ"
KIND = "formula"


def focal(target: Any, actual: Any, alpha: Any = 1, gamma: Any = 2) -> tf.Tensor:
    x = R.ops.as_float(actual)
    t = tf.cast(R.ops.tensor(target), x.dtype)
    return R.ops.const(alpha, x.dtype) * tf.pow(t - x, R.ops.const(gamma, x.dtype))
