"""Softmax cross-entropy with a tf.custom_gradient whose backward ignores the upstream gradient."""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

FRAMEWORKS = ("tf",)  # the bug is TensorFlow's own mechanism
TARGETS = ("softmax_cross_entropy_with_logits",)
CATEGORIES = ("gradient",)
DESCRIPTION = "custom backward returns softmax·Σy − y without multiplying by the incoming gradient g"
KIND = "gradient-only"


def softmax_cross_entropy_with_logits(labels: Any = None, logits: Any = None, axis: int = -1) -> tf.Tensor:
    x = R.ops.as_float(logits)
    y = tf.broadcast_to(tf.cast(R.ops.tensor(labels), x.dtype), tf.shape(x))
    ax = R.axis_index(x, axis)

    @tf.custom_gradient
    def xent(x: tf.Tensor) -> tf.Tensor:
        log_p = tf.nn.log_softmax(x, axis=ax)

        def grad(g: tf.Tensor) -> tf.Tensor:
            return tf.exp(log_p) * tf.reduce_sum(y, axis=ax, keepdims=True) - y

        return -tf.reduce_sum(y * log_p, axis=ax), grad

    return xent(x)
