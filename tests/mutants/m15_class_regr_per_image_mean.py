"""Detector regression loss normalised per image, then averaged over the batch."""

from collections.abc import Callable
from typing import Any

from conformance.targets.catalogue import EPSILON, LAMBDA_CLS_REGR

TARGETS = ("class_loss_regr",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "mean over b of Σ_b m·smooth_l1 / Σ_b(ε + m) instead of one ratio over the whole batch"
KIND = "batch>1"


def class_loss_regr(self: Any, num_classes: int) -> Callable[[Any, Any], Any]:
    o = self.ops
    c = int(num_classes)

    def class_loss_regr_fixed_num(y_true: Any, y_pred: Any) -> Any:
        y_true, y_pred = self.frcnn_pair(y_true, y_pred, 3, (8 * c, "8*C"), (4 * c, "4*C"))
        dtype = o.dtype(y_pred)
        m = y_true[..., :4 * c]
        num = o.sum(m * self.smooth_l1(y_true[..., 4 * c:] - y_pred), axis=(1, 2))
        den = o.sum(o.const(EPSILON, dtype) + m, axis=(1, 2))
        return o.const(LAMBDA_CLS_REGR, dtype) * self.mean(num / den)

    return class_loss_regr_fixed_num
