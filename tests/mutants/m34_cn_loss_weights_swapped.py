"""CenterNet total loss with the 0.1 weight on the offset term instead of the size term."""

from collections.abc import Sequence
from typing import Any

from conformance.targets.catalogue import CENTERNET_WH_WEIGHT

TARGETS = ("loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "focal + reg_l1(wh) + 0.1·reg_l1(reg) instead of focal + 0.1·reg_l1(wh) + reg_l1(reg)"
KIND = "formula"


def loss(self: Any, args: Sequence[Any]) -> Any:
    hm_pred, wh_pred, reg_pred, hm_true, wh_true, reg_true, reg_mask, indices = args
    wh = self.reg_l1_loss(wh_pred, wh_true, indices, reg_mask)
    reg = self.reg_l1_loss(reg_pred, reg_true, indices, reg_mask)
    return self.focal_loss(hm_pred, hm_true) + wh + self.ops.const(CENTERNET_WH_WEIGHT, self.ops.dtype(wh)) * reg
