"""YOLOv3 loss_layer feeding the decoded (already sigmoid) class probabilities to a with-logits loss.

In tensorflow-yolov3 the class loss was
``sigmoid_cross_entropy_with_logits(labels=..., logits=pred_boxes_class)`` where
``pred_boxes_class`` had already been through the sigmoid: σ is applied twice.
"""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE

TARGETS = ("loss_layer",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "prob_loss = r·SCE(labels, logits=σ(raw_prob)): the decoded probability used as a logit"
KIND = "formula"
LINK = "https://github.com/YunYang1994/tensorflow-yolov3/issues/11"
SOURCE = "YunYang1994/tensorflow-yolov3"


def yolo_class_loss(self: Any, label_prob: tf.Tensor, raw_prob: tf.Tensor, pred_prob: tf.Tensor) -> tf.Tensor:
    return self.sigmoid_cross_entropy_with_logits(labels=label_prob, logits=pred_prob)


loss_layer = REFERENCE.replaced(yolo_class_loss=yolo_class_loss)["loss_layer"]
