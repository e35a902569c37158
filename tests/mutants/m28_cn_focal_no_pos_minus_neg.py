"""CenterNet focal loss returning −neg_loss when there is no positive (CN-NEG-SIGN, read as code)."""

from typing import Any

TARGETS = ("focal_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "the num_pos = 0 branch returns −neg_loss (the prose's 'loss − neg_loss') instead of neg_loss"
KIND = "formula"


def focal_total(self: Any, pos_loss: Any, neg_loss: Any, num_pos: Any) -> Any:
    o = self.ops
    has_pos = num_pos > 0
    safe_num = o.where(has_pos, num_pos, o.ones_like(num_pos))
    return o.where(has_pos, (pos_loss + neg_loss) / safe_num, -neg_loss)
