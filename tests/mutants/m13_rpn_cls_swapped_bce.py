"""RPN objectness loss calling binary_crossentropy(y_pred, labels) (FRCNN-SWAPPED-BCE)."""

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from conformance.targets.catalogue import LAMBDA_RPN_CLASS
from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R
from conformance.targets.reference import binary_crossentropy

TARGETS = ("rpn_loss_cls",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "BCE arguments swapped: the prediction becomes the target and the 0/1 label the clipped output"
KIND = "divergence"


def rpn_loss_cls(num_anchors: int) -> Callable[[Any, Any], tf.Tensor]:
    a = int(num_anchors)

    def rpn_loss_cls_fixed_num(y_true: Any, y_pred: Any) -> tf.Tensor:
        y_pred = R.ops.as_float(y_pred)
        y_true = tf.cast(R.ops.tensor(y_true), y_pred.dtype)
        v = y_true[..., :a]
        num = tf.reduce_sum(v * binary_crossentropy(y_pred, y_true[..., a:]))
        return R.ops.const(LAMBDA_RPN_CLASS, y_pred.dtype) * num / R.eps_normaliser(v)

    return rpn_loss_cls_fixed_num
