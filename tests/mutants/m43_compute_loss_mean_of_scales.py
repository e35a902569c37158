"""compute_loss averaging the three scales instead of summing them (a factor of 3)."""

from collections.abc import Sequence
from typing import Any

from conformance.targets.catalogue import Catalogue

TARGETS = ("compute_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "the three scales' (giou, conf, prob) losses averaged instead of summed"
KIND = "formula"


def compute_loss(self: Any, convs: Sequence[Any], labels: Sequence[Any], bboxes: Sequence[Any], anchors: Any,
                 strides: Any, num_class: int, iou_loss_thresh: Any = 0.5) -> tuple[Any, Any, Any]:
    totals = Catalogue.compute_loss(self, convs, labels, bboxes, anchors, strides, num_class, iou_loss_thresh)
    return tuple(t / 3.0 for t in totals)
