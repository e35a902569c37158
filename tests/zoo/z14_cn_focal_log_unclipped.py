"""CenterNet heatmap focal loss taking log(p) and log(1 − p) without the ε_c clip.

CenterNet's ``_neg_loss`` takes the logs unguarded and relies on a clamp of the sigmoid to
[1e-4, 1 − 1e-4] outside the loss; a pull request flagged the −inf at exact 0 or 1, and ports
that keep the loss but not the clamp get NaN.  The contract puts the clip inside
``focal_loss``: a prediction of exactly 0 anywhere gives log 0 · 0 = NaN in pos_loss.
"""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("focal_loss",)
CATEGORIES = ("value",)
DESCRIPTION = "log(p)·(1−p)²·pos and log(1−p)·p²·(1−y)⁴·neg unclipped: p = 0 or 1 gives −inf·0 = NaN"
KIND = "clip-bound"
LINK = "https://github.com/xingyizhou/CenterNet/pull/121"
SOURCE = "xingyizhou/CenterNet"


def focal_loss(hm_pred: Any, hm_true: Any) -> tf.Tensor:
    p = R.ops.as_float(hm_pred)
    y = tf.cast(R.ops.tensor(hm_true), p.dtype)
    pos = tf.cast(tf.equal(y, 1), p.dtype)
    neg = tf.cast(tf.less(y, 1), p.dtype)
    pos_loss = tf.reduce_sum(tf.math.log(p) * tf.pow(1 - p, 2) * pos)
    neg_loss = tf.reduce_sum(tf.math.log(1 - p) * tf.pow(p, 2) * tf.pow(1 - y, 4) * neg)
    num_pos = tf.reduce_sum(pos)
    safe_num = tf.where(num_pos > 0, num_pos, tf.ones_like(num_pos))
    return tf.where(num_pos > 0, -(pos_loss + neg_loss) / safe_num, -neg_loss)
