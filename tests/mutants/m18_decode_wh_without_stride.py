"""YOLOv3 decode scaling the box size by the anchors only (anchors taken as pixels, not grid units)."""

from typing import Any

TARGETS = ("decode",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "wh = e^raw · anchors, missing · stride (right only for stride 1)"
KIND = "formula"


def box_size(self: Any, raw_wh: Any, anchors: Any, stride: Any) -> Any:
    return self.ops.exp(raw_wh) * anchors
