"""compute_loss averaging the three scales instead of summing them (a factor of 3)."""

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from conformance.targets import reference
from conformance.targets.reference import *  # noqa: F403

TARGETS = ("compute_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "the three scales' (giou, conf, prob) losses averaged instead of summed"
KIND = "formula"


def compute_loss(convs: Sequence[Any], labels: Sequence[Any], bboxes: Sequence[Any], anchors: Any, strides: Any,
                 num_class: int, iou_loss_thresh: Any = 0.5) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    totals = reference.compute_loss(convs, labels, bboxes, anchors, strides, num_class, iou_loss_thresh)
    return tuple(t / 3.0 for t in totals)
