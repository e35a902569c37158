"""Keras Faster R-CNN RPN objectness loss calling K.binary_crossentropy(y_pred, labels).

Written for Keras 1's ``binary_crossentropy(output, target)``; since Keras 2 the order is
(target, output), so the prediction becomes the target and the 0/1 label the clipped output
(FRCNN-SWAPPED-BCE).
"""

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from conformance.targets.catalogue import LAMBDA_RPN_CLASS
from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R
from conformance.targets.reference import binary_crossentropy

TARGETS = ("rpn_loss_cls",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "K.binary_crossentropy(y_pred, labels) with Keras ≥ 2's (target, output) order: arguments swapped"
KIND = "divergence"
LINK = "https://github.com/kentaroy47/frcnn-from-scratch-with-keras/issues/87"
SOURCE = "kentaroy47/frcnn-from-scratch-with-keras"


def rpn_loss_cls(num_anchors: int) -> Callable[[Any, Any], tf.Tensor]:
    a = int(num_anchors)

    def rpn_loss_cls_fixed_num(y_true: Any, y_pred: Any) -> tf.Tensor:
        y_pred = R.ops.as_float(y_pred)
        y_true = tf.cast(R.ops.tensor(y_true), y_pred.dtype)
        v = y_true[..., :a]
        num = tf.reduce_sum(v * binary_crossentropy(y_pred, y_true[..., a:]))
        return R.ops.const(LAMBDA_RPN_CLASS, y_pred.dtype) * num / R.eps_normaliser(v)

    return rpn_loss_cls_fixed_num
