"""Detector classification loss averaged over every batch element instead of element 0."""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import LAMBDA_CLS_CLASS, _const, _float, _tensor, categorical_crossentropy

TARGETS = ("class_loss_cls",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "mean of CCE over (B, R) instead of over y_true[0], y_pred[0] (FRCNN-BATCH0)"
KIND = "batch>1"


def class_loss_cls(y_true: Any, y_pred: Any) -> tf.Tensor:
    y_pred = _float(y_pred)
    y_true = tf.cast(_tensor(y_true), y_pred.dtype)
    cce = categorical_crossentropy(y_true, y_pred, axis=-1)
    return _const(LAMBDA_CLS_CLASS, y_pred.dtype) * tf.reduce_mean(cce)
