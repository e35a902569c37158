"""Detector classification loss averaged over every batch element instead of element 0."""

from typing import Any

import tensorflow as tf

from conformance.targets.catalogue import LAMBDA_CLS_CLASS
from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R
from conformance.targets.reference import categorical_crossentropy

TARGETS = ("class_loss_cls",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "mean of CCE over (B, R) instead of over y_true[0], y_pred[0] (FRCNN-BATCH0)"
KIND = "batch>1"


def class_loss_cls(y_true: Any, y_pred: Any) -> tf.Tensor:
    y_pred = R.ops.as_float(y_pred)
    y_true = tf.cast(R.ops.tensor(y_true), y_pred.dtype)
    cce = categorical_crossentropy(y_true, y_pred, axis=-1)
    return R.ops.const(LAMBDA_CLS_CLASS, y_pred.dtype) * tf.reduce_mean(cce)
