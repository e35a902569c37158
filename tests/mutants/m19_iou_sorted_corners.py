"""bbox_iou re-sorting each box's corners (as bbox_giou does) instead of using the raw extents."""

from typing import Any

TARGETS = ("bbox_iou",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = ("IoU from |w|, |h| (sorted corners): a box with a negative extent overlaps instead of having "
               "no intersection and a raw (signed) area (YOLO-IOU-RAW-AREA)")
KIND = "negative-extent"


def bbox_iou(self: Any, boxes1: Any, boxes2: Any) -> Any:
    inter, union, _, _, _ = self.giou_parts(boxes1, boxes2)
    return inter / union
