"""YOLOv3 focal weight as α·(target − actual)^γ, without the absolute value."""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import _const, _float, _tensor

TARGETS = ("focal",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "tf.pow(target − actual, γ): NaN for a non-integer γ and a negative base, wrong sign for odd γ"
KIND = "formula"


def focal(target: Any, actual: Any, alpha: Any = 1, gamma: Any = 2) -> tf.Tensor:
    x = _float(actual)
    t = tf.cast(_tensor(target), x.dtype)
    return _const(alpha, x.dtype) * tf.pow(t - x, _const(gamma, x.dtype))
