"""RPN regression loss normalised by Σm + ε (ε once) instead of Σ(ε + m) (ε per element)."""

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from conformance.targets.catalogue import EPSILON, LAMBDA_RPN_REGR
from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R
from conformance.targets.reference import smooth_l1

TARGETS = ("rpn_loss_regr",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "normaliser tf.reduce_sum(m) + ε: drops ε·(numel − 1) (FRCNN-EPS-PER-ELEMENT)"
KIND = "formula"


def rpn_loss_regr(num_anchors: int) -> Callable[[Any, Any], tf.Tensor]:
    a = int(num_anchors)

    def rpn_loss_regr_fixed_num(y_true: Any, y_pred: Any) -> tf.Tensor:
        y_pred = R.ops.as_float(y_pred)
        y_true = tf.cast(R.ops.tensor(y_true), y_pred.dtype)
        m = y_true[..., :4 * a]
        num = tf.reduce_sum(m * smooth_l1(y_true[..., 4 * a:] - y_pred))
        den = tf.reduce_sum(m) + R.ops.const(EPSILON, y_pred.dtype)
        return R.ops.const(LAMBDA_RPN_REGR, y_pred.dtype) * num / den

    return rpn_loss_regr_fixed_num
