"""Detector classification loss averaged over every batch element instead of element 0."""

from typing import Any

from conformance.targets.catalogue import LAMBDA_CLS_CLASS

TARGETS = ("class_loss_cls",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "mean of CCE over (B, R) instead of over y_true[0], y_pred[0] (FRCNN-BATCH0)"
KIND = "batch>1"


def class_loss_cls(self: Any, y_true: Any, y_pred: Any) -> Any:
    y_true, y_pred = self.frcnn_pair(y_true, y_pred, 3)
    cce = self.categorical_crossentropy(y_true, y_pred, axis=-1)
    return self.ops.const(LAMBDA_CLS_CLASS, self.ops.dtype(y_pred)) * self.mean(cce)
