"""CIoU with the aspect-ratio penalty added to the IoU instead of subtracted.

The CIoU authors' reference code computed ``cious = iou - u + alpha * v``; the paper's
CIoU is IoU − ρ²/c² − α·v, so the loss 1 − CIoU rewarded aspect-ratio mismatch.
"""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403

from . import _ciou

TARGETS = ("ciou_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "1 − (IoU − ρ²/c² + α·v): the α·v penalty enters the loss with the wrong sign"
KIND = "formula"
LINK = "https://github.com/Zzh-tju/CIoU/issues/2"
SOURCE = "Zzh-tju/CIoU"


def ciou_loss(boxes1: Any, boxes2: Any) -> tf.Tensor:
    p = _ciou.parts(boxes1, boxes2)
    v = _ciou.v_term(p)
    return p["one_minus_iou"] + p["rho2"] / p["c2"] - _ciou.alpha_term(p, v) * v
