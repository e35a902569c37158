"""CenterNet focal loss with α and β swapped (α = 4, β = 2)."""

from typing import Any

import tensorflow as tf

from conformance.targets.catalogue import EPSILON_CENTERNET
from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("focal_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "(1−p)^4, p^4 and (1−y)^2 instead of (1−p)^2, p^2 and (1−y)^4"
KIND = "formula"


def focal_loss(hm_pred: Any, hm_true: Any) -> tf.Tensor:
    p = R.ops.as_float(hm_pred)
    dtype = p.dtype
    y = tf.cast(R.ops.tensor(hm_true), dtype)
    eps, one = R.ops.const(EPSILON_CENTERNET, dtype), tf.ones_like(p)
    pos = tf.cast(tf.equal(y, 1), dtype)
    neg = tf.cast(tf.less(y, 1), dtype)
    pos_loss = tf.reduce_sum(-tf.math.log(tf.clip_by_value(p, eps, one)) * tf.pow(1 - p, 4.0) * pos)
    neg_loss = tf.reduce_sum(-tf.math.log(tf.clip_by_value(1 - p, eps, one)) * tf.pow(p, 4.0) * tf.pow(1 - y, 2.0)
                             * neg)
    num_pos = tf.reduce_sum(pos)
    return tf.where(num_pos > 0, (pos_loss + neg_loss) / tf.maximum(num_pos, 1), neg_loss)
