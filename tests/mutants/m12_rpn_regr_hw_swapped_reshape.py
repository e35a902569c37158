"""RPN regression loss reshaping y_pred per anchor with H and W swapped."""

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from conformance.targets.catalogue import EPSILON, LAMBDA_RPN_REGR
from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R
from conformance.targets.reference import smooth_l1

TARGETS = ("rpn_loss_regr",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = ("per-anchor view of y_pred as (B, W, H, A, 4) against y_true's (B, H, W, A, 4): right on square "
               "maps; on non-square ones a silent broadcast (H or W = 1) or a shape error")
KIND = "non-square"


def rpn_loss_regr(num_anchors: int) -> Callable[[Any, Any], tf.Tensor]:
    a = int(num_anchors)

    def rpn_loss_regr_fixed_num(y_true: Any, y_pred: Any) -> tf.Tensor:
        y_pred = R.ops.as_float(y_pred)
        dtype = y_pred.dtype
        y_true = tf.cast(R.ops.tensor(y_true), dtype)
        shape = tf.shape(y_true)
        b, h, w = shape[0], shape[1], shape[2]
        m = tf.reshape(y_true[..., :4 * a], tf.stack([b, h, w, a, 4]))
        t = tf.reshape(y_true[..., 4 * a:], tf.stack([b, h, w, a, 4]))
        pred = tf.reshape(y_pred, tf.stack([b, w, h, a, 4]))
        num = tf.reduce_sum(m * smooth_l1(t - pred))
        den = tf.reduce_sum(R.ops.const(EPSILON, dtype) + m)
        return R.ops.const(LAMBDA_RPN_REGR, dtype) * num / den

    return rpn_loss_regr_fixed_num
