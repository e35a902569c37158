"""RPN box-regression loss summing over axes [1, 2] only and averaging the channel axis.

Faster-RCNN_TF summed the smooth-L1 box loss with ``reduction_indices=[1, 2]`` and then took
``reduce_mean``: the 4A box-coordinate channels were averaged instead of summed (the fix used
[1, 2, 3]).  Against the contract's Σ m·smooth_l1 / Σ(ε + m) the loss is 4A times too small.
"""

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from conformance.targets.catalogue import LAMBDA_RPN_REGR
from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R
from conformance.targets.reference import smooth_l1

TARGETS = ("rpn_loss_regr",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "reduce_sum over axes [1, 2], then reduce_mean: the 4A channels averaged, the loss 4A times too small"
KIND = "formula"
LINK = "https://github.com/smallcorgi/Faster-RCNN_TF/pull/30"
SOURCE = "smallcorgi/Faster-RCNN_TF"


def rpn_loss_regr(num_anchors: int) -> Callable[[Any, Any], tf.Tensor]:
    a = int(num_anchors)

    def rpn_loss_regr_fixed_num(y_true: Any, y_pred: Any) -> tf.Tensor:
        y_pred = R.ops.as_float(y_pred)
        y_true = tf.cast(R.ops.tensor(y_true), y_pred.dtype)
        m = y_true[..., :4 * a]
        per_channel = tf.reduce_sum(m * smooth_l1(y_true[..., 4 * a:] - y_pred), axis=[1, 2])  # (B, 4A)
        num = tf.reduce_sum(tf.reduce_mean(per_channel, axis=-1))
        return R.ops.const(LAMBDA_RPN_REGR, y_pred.dtype) * num / R.eps_normaliser(m)

    return rpn_loss_regr_fixed_num
