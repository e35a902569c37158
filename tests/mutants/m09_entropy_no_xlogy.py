"""Entropy as −Σ p·log p without the 0·log 0 = 0 convention."""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("entropy",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "−Σ p·log p: a zero probability gives 0·(−inf) = NaN"
KIND = "formula"


def entropy(p: Any, axis: int = -1) -> tf.Tensor:
    p = R.ops.as_float(p)
    return -tf.reduce_sum(p * tf.math.log(p), axis=axis)
