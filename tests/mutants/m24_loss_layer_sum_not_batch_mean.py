"""YOLOv3 loss_layer: a sum over every axis, batch included."""

from typing import Any

TARGETS = ("loss_layer",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "a sum over every axis, batch included: the batch total, not the batch mean (right for B = 1)"
KIND = "batch>1"


def yolo_reduce(self: Any, term: Any) -> Any:
    return self.ops.sum(term)
