"""CIoU loss with α = v / (1 − IoU + v) unguarded: 0/0 = NaN for a perfect match.

YOLOv5's ``bbox_iou`` computed ``alpha = v / (1 - iou + v)`` (under ``no_grad``); where the
boxes coincide, v = 0 and 1 − IoU = 0, so α = 0/0 = NaN and the loss is NaN (fixed with + eps).
The contract sets α = 0 where v = 0.
"""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403

from . import _ciou

TARGETS = ("ciou_loss",)
CATEGORIES = ("value", "stability")
DESCRIPTION = "α = v / (1 − IoU + v) without a guard: identical boxes give 0/0 = NaN"
KIND = "division-by-zero"
LINK = "https://github.com/ultralytics/yolov5/issues/541"
SOURCE = "ultralytics/yolov5"


def ciou_loss(boxes1: Any, boxes2: Any) -> tf.Tensor:
    p = _ciou.parts(boxes1, boxes2)
    v = _ciou.v_term(p)
    alpha = tf.stop_gradient(v / (p["one_minus_iou"] + v))
    return p["one_minus_iou"] + p["rho2"] / p["c2"] + alpha * v
