"""1 − IoU with the union detached from the gradient."""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("iou_loss",)
CATEGORIES = ("gradient",)
DESCRIPTION = "((a1 − inter) + (a2 − inter)) / stop_gradient(union): same value, gradient misses d(union)"
KIND = "gradient-only"


def iou_loss(boxes1: Any, boxes2: Any) -> tf.Tensor:
    inter, union, area1, area2 = R.iou_parts(boxes1, boxes2)
    return ((area1 - inter) + (area2 - inter)) / tf.stop_gradient(union)
