"""CenterNet focal loss returning −neg_loss when there is no positive (CN-NEG-SIGN, read as code)."""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import CENTERNET_ALPHA, CENTERNET_BETA, EPSILON_CENTERNET, _const, _float, _tensor

TARGETS = ("focal_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "the num_pos = 0 branch returns −neg_loss (the prose's 'loss − neg_loss') instead of neg_loss"
KIND = "formula"


def focal_loss(hm_pred: Any, hm_true: Any) -> tf.Tensor:
    p = _float(hm_pred)
    dtype = p.dtype
    y = tf.cast(_tensor(hm_true), dtype)
    eps, one = _const(EPSILON_CENTERNET, dtype), tf.ones_like(p)
    alpha, beta = _const(CENTERNET_ALPHA, dtype), _const(CENTERNET_BETA, dtype)
    pos = tf.cast(tf.equal(y, 1), dtype)
    neg = tf.cast(tf.less(y, 1), dtype)
    pos_loss = tf.reduce_sum(-tf.math.log(tf.clip_by_value(p, eps, one)) * tf.pow(1 - p, alpha) * pos)
    neg_loss = tf.reduce_sum(-tf.math.log(tf.clip_by_value(1 - p, eps, one)) * tf.pow(p, alpha)
                             * tf.pow(1 - y, beta) * neg)
    num_pos = tf.reduce_sum(pos)
    return tf.where(num_pos > 0, (pos_loss + neg_loss) / tf.maximum(num_pos, 1), -neg_loss)
