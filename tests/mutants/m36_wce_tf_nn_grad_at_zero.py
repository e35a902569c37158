"""Weighted cross-entropy by ``tf.nn.weighted_cross_entropy_with_logits`` (TF-WCE-GRAD-AT-ZERO)."""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

FRAMEWORKS = ("tf",)  # the bug is TensorFlow's own mechanism
TARGETS = ("weighted_cross_entropy_with_logits",)
CATEGORIES = ("gradient",)
DESCRIPTION = ("tf.nn.weighted_cross_entropy_with_logits: the gradient at logits == 0 is 1 − z, "
               "not (1 − z) − (1 + (q − 1)·z)/2 (TF-WCE-GRAD-AT-ZERO)")
KIND = "divergence"


def weighted_cross_entropy_with_logits(labels: Any = None, logits: Any = None, pos_weight: Any = 1.0) -> tf.Tensor:
    x = R.ops.as_float(logits)
    z = tf.cast(R.ops.tensor(labels), x.dtype)
    return tf.nn.weighted_cross_entropy_with_logits(labels=z, logits=x, pos_weight=R.ops.const(pos_weight, x.dtype))
