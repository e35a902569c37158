"""Detector regression loss normalised per image, then averaged over the batch."""

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from conformance.targets.catalogue import EPSILON, LAMBDA_CLS_REGR
from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R
from conformance.targets.reference import smooth_l1

TARGETS = ("class_loss_regr",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "mean over b of Σ_b m·smooth_l1 / Σ_b(ε + m) instead of one ratio over the whole batch"
KIND = "batch>1"


def class_loss_regr(num_classes: int) -> Callable[[Any, Any], tf.Tensor]:
    c = int(num_classes)

    def class_loss_regr_fixed_num(y_true: Any, y_pred: Any) -> tf.Tensor:
        y_pred = R.ops.as_float(y_pred)
        dtype = y_pred.dtype
        y_true = tf.cast(R.ops.tensor(y_true), dtype)
        m = y_true[..., :4 * c]
        num = tf.reduce_sum(m * smooth_l1(y_true[..., 4 * c:] - y_pred), axis=[1, 2])
        den = tf.reduce_sum(R.ops.const(EPSILON, dtype) + m, axis=[1, 2])
        return R.ops.const(LAMBDA_CLS_REGR, dtype) * tf.reduce_mean(num / den)

    return class_loss_regr_fixed_num
