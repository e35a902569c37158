"""1 − IoU with the union detached from the gradient."""

from typing import Any

TARGETS = ("iou_loss",)
CATEGORIES = ("gradient",)
DESCRIPTION = "((a1 − inter) + (a2 − inter)) / stop_gradient(union): same value, gradient misses d(union)"
KIND = "gradient-only"


def iou_loss(self: Any, boxes1: Any, boxes2: Any) -> Any:
    inter, union, area1, area2 = self.iou_parts(boxes1, boxes2)
    return ((area1 - inter) + (area2 - inter)) / self.ops.stop_gradient(union)
