"""YOLOv3 loss_layer: tf.reduce_mean over every axis instead of the batch mean of per-image sums."""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE

TARGETS = ("loss_layer",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "tf.reduce_mean over every axis instead of the batch mean of per-image sums"
KIND = "formula"


def yolo_reduce(self: Any, term: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(term)


loss_layer = REFERENCE.replaced(yolo_reduce=yolo_reduce)["loss_layer"]
