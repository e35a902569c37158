"""DIoU normalising ρ² by boxes1's own squared diagonal instead of the enclosing box's."""

from typing import Any

TARGETS = ("diou_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "c² = w1² + h1² (the predicted box's diagonal) instead of the diagonal of the smallest enclosing box"
KIND = "formula"


def diou_loss(self: Any, boxes1: Any, boxes2: Any) -> Any:
    b1, b2 = self.box_pair(boxes1, boxes2)
    dx = b1[..., 0] - b2[..., 0]
    dy = b1[..., 1] - b2[..., 1]
    c2 = b1[..., 2] * b1[..., 2] + b1[..., 3] * b1[..., 3]
    return self.iou_loss(b1, b2) + (dx * dx + dy * dy) / c2
