"""GIoU loss subtracting the intersection instead of the union from the enclosing area.

YOLOX's ``IOUloss`` (loss_type "giou") computed giou = iou − (area_c − area_i) / area_c,
area_i being the intersection; the GIoU of the paper subtracts the union.
"""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("giou_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "1 − (IoU − (E − inter)/E): the enclosing-area penalty uses the intersection, not the union"
KIND = "formula"
LINK = "https://github.com/Megvii-BaseDetection/YOLOX/issues/712"
SOURCE = "Megvii-BaseDetection/YOLOX"


def giou_loss(boxes1: Any, boxes2: Any) -> tf.Tensor:
    inter, union, enclose, _, _ = R.giou_parts(boxes1, boxes2)
    return 1 - (inter / union - (enclose - inter) / enclose)
