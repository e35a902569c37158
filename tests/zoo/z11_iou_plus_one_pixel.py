"""IoU with the "+1 pixel" box convention: areas (w + 1)·(h + 1), overlaps min − max + 1.

keras-retinanet's ``compute_overlap`` (copied from py-faster-rcnn) measured a box as
(x2 − x1 + 1)·(y2 − y1 + 1) and an overlap as min(x2) − max(x1) + 1, the inclusive-pixel
convention, while the rest of the code treats x2 as exclusive; the IoU is overestimated, the
more so the smaller the boxes, and is not invariant to scaling.
"""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("bbox_iou",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "areas (w + 1)(h + 1) and overlaps min(right) − max(left) + 1: the IoU of small boxes is overestimated"
KIND = "formula"
LINK = "https://github.com/fizyr/keras-retinanet/issues/1317"
SOURCE = "fizyr/keras-retinanet"


def bbox_iou(boxes1: Any, boxes2: Any) -> tf.Tensor:
    b1, b2 = R.box_pair(boxes1, boxes2)

    def overlap(c1: tf.Tensor, e1: tf.Tensor, c2: tf.Tensor, e2: tf.Tensor) -> tf.Tensor:
        right = tf.minimum(c1 + e1 / 2, c2 + e2 / 2)
        left = tf.maximum(c1 - e1 / 2, c2 - e2 / 2)
        return tf.maximum(right - left + 1, 0)

    inter = overlap(b1[..., 0], b1[..., 2], b2[..., 0], b2[..., 2]) * overlap(b1[..., 1], b1[..., 3], b2[..., 1],
                                                                              b2[..., 3])
    area1 = (b1[..., 2] + 1) * (b1[..., 3] + 1)
    area2 = (b2[..., 2] + 1) * (b2[..., 3] + 1)
    return inter / (area1 + area2 - inter)
