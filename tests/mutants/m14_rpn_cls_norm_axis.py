"""RPN objectness loss normalised over y_true[:, :A, :, :] (FRCNN-NORM-AXIS)."""

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from conformance.targets.catalogue import EPSILON, LAMBDA_RPN_CLASS
from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R
from conformance.targets.reference import binary_crossentropy

TARGETS = ("rpn_loss_cls",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "normaliser sums the first A rows of the map (all channels) instead of the first A channels"
KIND = "divergence"


def rpn_loss_cls(num_anchors: int) -> Callable[[Any, Any], tf.Tensor]:
    a = int(num_anchors)

    def rpn_loss_cls_fixed_num(y_true: Any, y_pred: Any) -> tf.Tensor:
        y_pred = R.ops.as_float(y_pred)
        dtype = y_pred.dtype
        y_true = tf.cast(R.ops.tensor(y_true), dtype)
        num = tf.reduce_sum(y_true[..., :a] * binary_crossentropy(y_true[..., a:], y_pred))
        den = tf.reduce_sum(R.ops.const(EPSILON, dtype) + y_true[:, :a, :, :])
        return R.ops.const(LAMBDA_RPN_CLASS, dtype) * num / den

    return rpn_loss_cls_fixed_num
