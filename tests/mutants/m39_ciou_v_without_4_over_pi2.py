"""CIoU with the aspect term v missing its 4/π² factor."""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R
from conformance.targets.reference import iou_loss

TARGETS = ("ciou_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "v = (atan2(w2, h2) − atan2(w1, h1))² without the 4/π² factor (α and α·v grow by up to π²/4)"
KIND = "formula"


def ciou_loss(boxes1: Any, boxes2: Any) -> tf.Tensor:
    b1, b2 = R.box_pair(boxes1, boxes2)
    one_minus_iou = iou_loss(b1, b2)
    gap = R.aspect_angle(b2[..., 2], b2[..., 3]) - R.aspect_angle(b1[..., 2], b1[..., 3])
    v = gap * gap
    positive = v > 0
    safe = tf.where(positive, one_minus_iou + v, tf.ones_like(v))
    alpha = tf.stop_gradient(tf.where(positive, v / safe, tf.zeros_like(v)))
    return one_minus_iou + R.distance_ratio(b1, b2) + alpha * v
