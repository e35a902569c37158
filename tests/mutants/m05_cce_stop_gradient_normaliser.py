"""Categorical cross-entropy with the normaliser Σp detached from the gradient."""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import EPSILON_KERAS, _clip_prob, _float, _tensor

TARGETS = ("categorical_crossentropy",)
CATEGORIES = ("gradient",)
DESCRIPTION = "p / stop_gradient(Σp): the value is right, the gradient misses the normaliser's term Σt/Σp"
KIND = "gradient-only"


def categorical_crossentropy(target: Any, output: Any, axis: int = -1) -> tf.Tensor:
    p = _float(output)
    t = tf.cast(_tensor(target), p.dtype)
    q = p / tf.stop_gradient(tf.reduce_sum(p, axis=axis, keepdims=True))
    return -tf.reduce_sum(tf.math.xlogy(t, _clip_prob(q, EPSILON_KERAS)), axis=axis)
