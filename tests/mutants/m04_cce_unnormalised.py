"""Categorical cross-entropy that clips p without first normalising it by Σp."""

from typing import Any

import tensorflow as tf

from conformance.targets.catalogue import EPSILON_KERAS
from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("categorical_crossentropy",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "−Σ t·log clip(p) without p / Σp: wrong for rows that do not sum to 1"
KIND = "unnormalised-probabilities"


def categorical_crossentropy(target: Any, output: Any, axis: int = -1) -> tf.Tensor:
    p = R.ops.as_float(output)
    t = tf.cast(R.ops.tensor(target), p.dtype)
    return -tf.reduce_sum(tf.math.xlogy(t, R.clip_prob(p, EPSILON_KERAS)), axis=axis)
