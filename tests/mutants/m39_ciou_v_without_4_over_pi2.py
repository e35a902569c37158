"""CIoU with the aspect term v missing its 4/π² factor."""

from typing import Any

TARGETS = ("ciou_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "v = (atan2(w2, h2) − atan2(w1, h1))² without the 4/π² factor (α and α·v grow by up to π²/4)"
KIND = "formula"


def ciou_loss(self: Any, boxes1: Any, boxes2: Any) -> Any:
    o = self.ops
    b1, b2 = self.box_pair(boxes1, boxes2)
    one_minus_iou = self.iou_loss(b1, b2)
    gap = self.aspect_angle(b2[..., 2], b2[..., 3]) - self.aspect_angle(b1[..., 2], b1[..., 3])
    v = gap * gap
    positive = v > 0
    safe = o.where(positive, one_minus_iou + v, o.ones_like(v))
    alpha = o.stop_gradient(o.where(positive, v / safe, o.zeros_like(v)))
    return one_minus_iou + self.distance_ratio(b1, b2) + alpha * v
