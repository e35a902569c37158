"""CIoU loss differentiating through α (CIOU-ALPHA-GRAD).

mmdetection's ``ciou_loss`` let the gradient flow through α = v / ((1 − IoU) + v); the CIoU
authors' code computes α under ``torch.no_grad()``.  Values agree, gradients do not.
"""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403

from . import _ciou

TARGETS = ("ciou_loss",)
CATEGORIES = ("gradient",)
DESCRIPTION = "α = v / ((1 − IoU) + v) differentiated instead of held constant: same value, wrong gradient"
KIND = "gradient-only"
LINK = "https://github.com/open-mmlab/mmdetection/pull/5835"
SOURCE = "open-mmlab/mmdetection"


def ciou_loss(boxes1: Any, boxes2: Any) -> tf.Tensor:
    p = _ciou.parts(boxes1, boxes2)
    v = _ciou.v_term(p)
    has = v > 0
    alpha = tf.where(has, v / tf.where(has, p["one_minus_iou"] + v, tf.ones_like(v)), tf.zeros_like(v))
    return p["one_minus_iou"] + p["rho2"] / p["c2"] + alpha * v
