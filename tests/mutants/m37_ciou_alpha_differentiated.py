"""CIoU with α differentiated (CIOU-ALPHA-GRAD): same values, different gradients."""

from typing import Any

import tensorflow as tf

from conformance.targets.catalogue import FOUR_OVER_PI2
from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R
from conformance.targets.reference import iou_loss

TARGETS = ("ciou_loss",)
CATEGORIES = ("gradient",)
DESCRIPTION = "α = v/((1 − IoU) + v) without tf.stop_gradient, as several YOLOv4 ports compute it (CIOU-ALPHA-GRAD)"
KIND = "divergence"


def ciou_loss(boxes1: Any, boxes2: Any) -> tf.Tensor:
    b1, b2 = R.box_pair(boxes1, boxes2)
    one_minus_iou = iou_loss(b1, b2)
    gap = R.aspect_angle(b2[..., 2], b2[..., 3]) - R.aspect_angle(b1[..., 2], b1[..., 3])
    v = R.ops.const(FOUR_OVER_PI2, b1.dtype) * (gap * gap)
    positive = v > 0
    safe = tf.where(positive, one_minus_iou + v, tf.ones_like(v))
    alpha = tf.where(positive, v / safe, tf.zeros_like(v))
    return one_minus_iou + R.distance_ratio(b1, b2) + alpha * v
