"""CIoU with α differentiated (CIOU-ALPHA-GRAD): same values, different gradients."""

from typing import Any

from conformance.targets.catalogue import FOUR_OVER_PI2

TARGETS = ("ciou_loss",)
CATEGORIES = ("gradient",)
DESCRIPTION = "α = v/((1 − IoU) + v) without stop_gradient, as several YOLOv4 ports compute it (CIOU-ALPHA-GRAD)"
KIND = "divergence"


def ciou_loss(self: Any, boxes1: Any, boxes2: Any) -> Any:
    o = self.ops
    b1, b2 = self.box_pair(boxes1, boxes2)
    one_minus_iou = self.iou_loss(b1, b2)
    gap = self.aspect_angle(b2[..., 2], b2[..., 3]) - self.aspect_angle(b1[..., 2], b1[..., 3])
    v = o.const(FOUR_OVER_PI2, o.dtype(b1)) * (gap * gap)
    positive = v > 0
    safe = o.where(positive, one_minus_iou + v, o.ones_like(v))
    alpha = o.where(positive, v / safe, o.zeros_like(v))
    return one_minus_iou + self.distance_ratio(b1, b2) + alpha * v
