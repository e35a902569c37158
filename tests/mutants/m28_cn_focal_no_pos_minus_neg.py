"""CenterNet focal loss returning −neg_loss when there is no positive (CN-NEG-SIGN, read as code)."""

from typing import Any

import tensorflow as tf

from conformance.targets.catalogue import CENTERNET_ALPHA, CENTERNET_BETA, EPSILON_CENTERNET
from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("focal_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "the num_pos = 0 branch returns −neg_loss (the prose's 'loss − neg_loss') instead of neg_loss"
KIND = "formula"


def focal_loss(hm_pred: Any, hm_true: Any) -> tf.Tensor:
    p = R.ops.as_float(hm_pred)
    dtype = p.dtype
    y = tf.cast(R.ops.tensor(hm_true), dtype)
    eps, one = R.ops.const(EPSILON_CENTERNET, dtype), tf.ones_like(p)
    alpha, beta = R.ops.const(CENTERNET_ALPHA, dtype), R.ops.const(CENTERNET_BETA, dtype)
    pos = tf.cast(tf.equal(y, 1), dtype)
    neg = tf.cast(tf.less(y, 1), dtype)
    pos_loss = tf.reduce_sum(-tf.math.log(tf.clip_by_value(p, eps, one)) * tf.pow(1 - p, alpha) * pos)
    neg_loss = tf.reduce_sum(-tf.math.log(tf.clip_by_value(1 - p, eps, one)) * tf.pow(p, alpha)
                             * tf.pow(1 - y, beta) * neg)
    num_pos = tf.reduce_sum(pos)
    return tf.where(num_pos > 0, (pos_loss + neg_loss) / tf.maximum(num_pos, 1), -neg_loss)
