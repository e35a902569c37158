"""Sparse softmax cross-entropy that returns 0 for an out-of-range label.

TensorFlow 0.9's ``sparse_softmax_cross_entropy_with_logits`` returned a loss of 0 for labels
outside [0, num_classes) (while ``tf.nn.in_top_k`` raised); TensorFlow then made the CPU kernel
raise.  The same silent 0 comes from the common hand-written form −Σ one_hot(k)·log_softmax(x):
``tf.one_hot`` of an out-of-range index is an all-zero row.
"""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("sparse_softmax_cross_entropy_with_logits",)
CATEGORIES = ("badinput",)
DESCRIPTION = "−Σ one_hot(k, C)·log_softmax(x): a label outside [0, C) gives an all-zero row and a silent loss of 0"
KIND = "bad-input"
LINK = "https://github.com/tensorflow/tensorflow/issues/3739"
SOURCE = "tensorflow/tensorflow"


def sparse_softmax_cross_entropy_with_logits(labels: Any = None, logits: Any = None) -> tf.Tensor:
    x = R.ops.as_float(logits)
    k = R.ops.tensor(labels)
    y = tf.one_hot(tf.cast(k, tf.int32), tf.shape(x)[-1], dtype=x.dtype)
    return -tf.reduce_sum(y * tf.nn.log_softmax(x, axis=-1), axis=-1)
