"""Categorical cross-entropy with the normaliser Σp detached from the gradient."""

from typing import Any

import tensorflow as tf

from conformance.targets.catalogue import EPSILON_KERAS
from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("categorical_crossentropy",)
CATEGORIES = ("gradient",)
DESCRIPTION = "p / stop_gradient(Σp): the value is right, the gradient misses the normaliser's term Σt/Σp"
KIND = "gradient-only"


def categorical_crossentropy(target: Any, output: Any, axis: int = -1) -> tf.Tensor:
    p = R.ops.as_float(output)
    t = tf.cast(R.ops.tensor(target), p.dtype)
    q = p / tf.stop_gradient(tf.reduce_sum(p, axis=axis, keepdims=True))
    return -tf.reduce_sum(tf.math.xlogy(t, R.clip_prob(q, EPSILON_KERAS)), axis=axis)
