"""YOLOv3 loss_layer: tf.reduce_sum over every axis, batch included."""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE

TARGETS = ("loss_layer",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "tf.reduce_sum over every axis, batch included: the batch total, not the batch mean (right for B = 1)"
KIND = "batch>1"


def yolo_reduce(self: Any, term: tf.Tensor) -> tf.Tensor:
    return tf.reduce_sum(term)


loss_layer = REFERENCE.replaced(yolo_reduce=yolo_reduce)["loss_layer"]
