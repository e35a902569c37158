"""Softmax cross-entropy written −Σ y·log(softmax(x)).

TensorFlow Models' spatial-transformer example implemented the cross-entropy by hand; training
went NaN and was fixed by switching to ``tf.nn.softmax_cross_entropy_with_logits``.  The entry
is the textbook hand-written form: softmax(x) underflows to 0 for a logit ~100 below the
largest (float32), log 0 = −inf, and 0·(−inf) = NaN for a zero label (+inf for a positive
one) where the exact loss is finite.
"""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("softmax_cross_entropy_with_logits",)
CATEGORIES = ("value", "stability")
DESCRIPTION = "−Σ y·log(softmax(x)): the softmax underflows to 0, log 0 = −inf, 0·(−inf) = NaN"
KIND = "precision"
LINK = "https://github.com/tensorflow/models/pull/181"
SOURCE = "tensorflow/models"


def softmax_cross_entropy_with_logits(labels: Any = None, logits: Any = None, axis: int = -1) -> tf.Tensor:
    x = R.ops.as_float(logits)
    y = tf.cast(R.ops.tensor(labels), x.dtype)
    return -tf.reduce_sum(y * tf.math.log(tf.nn.softmax(x, axis=axis)), axis=axis)
