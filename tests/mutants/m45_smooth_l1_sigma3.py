"""Smooth L1 with σ = 3 (the Faster R-CNN paper's RPN setting) where the contract has σ = 1."""

from typing import Any

TARGETS = ("smooth_l1", "rpn_loss_regr", "class_loss_regr")
CATEGORIES = ("value", "gradient")
DESCRIPTION = "4.5·x² if |x| ≤ 1/9 else |x| − 1/18 (σ = 3) instead of 0.5·x² if |x| ≤ 1 else |x| − 0.5"
KIND = "formula"


def smooth_l1(self: Any, x: Any) -> Any:
    o = self.ops
    x = o.as_float(x)
    a = o.abs(x)
    return o.where(a <= 1.0 / 9.0, 4.5 * x * x, a - 0.5 / 9.0)
