"""YOLOv3 loss_layer feeding the decoded (already sigmoid) class probabilities to a with-logits loss.

In tensorflow-yolov3 the class loss was
``sigmoid_cross_entropy_with_logits(labels=..., logits=pred_boxes_class)`` where
``pred_boxes_class`` had already been through the sigmoid: σ is applied twice.
"""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import _anchors, _const, _float, _tensor, bbox_iou, focal, giou_loss
from conformance.targets.reference import sigmoid_cross_entropy_with_logits as sce

TARGETS = ("loss_layer",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "prob_loss = r·SCE(labels, logits=σ(raw_prob)): the decoded probability used as a logit"
KIND = "formula"
LINK = "https://github.com/YunYang1994/tensorflow-yolov3/issues/11"
SOURCE = "YunYang1994/tensorflow-yolov3"


def loss_layer(conv: Any, pred: Any, label: Any, bboxes: Any, anchors: Any, stride: Any, num_class: int,
               iou_loss_thresh: Any = 0.5) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    conv = _float(conv)
    dtype = conv.dtype
    pred = tf.cast(_tensor(pred), dtype)
    label = tf.cast(_tensor(label), dtype)
    bboxes = tf.cast(_tensor(bboxes), dtype)
    n = int(num_class)
    _, a = _anchors(anchors, dtype)
    shape = tf.shape(conv)
    rows = shape[1]
    raw = tf.reshape(conv, tf.stack([shape[0], rows, shape[2], a, 5 + n]))
    pred_xywh, pred_conf, pred_prob = pred[..., 0:4], pred[..., 4:5], pred[..., 5:]
    label_xywh, respond, label_prob = label[..., 0:4], label[..., 4:5], label[..., 5:]

    input_size = _const(stride, dtype) * tf.cast(rows, dtype)
    scale = 2 - (label_xywh[..., 2:3] / input_size) * (label_xywh[..., 3:4] / input_size)
    giou_term = respond * scale * giou_loss(pred_xywh, label_xywh)[..., tf.newaxis]

    iou = bbox_iou(pred_xywh[:, :, :, :, tf.newaxis, :], bboxes[:, tf.newaxis, tf.newaxis, tf.newaxis, :, :])
    max_iou = tf.reduce_max(iou, axis=-1, keepdims=True)
    background = (1 - respond) * tf.stop_gradient(tf.cast(max_iou < _const(iou_loss_thresh, dtype), dtype))

    sce_conf = sce(labels=respond, logits=raw[..., 4:5])
    conf_term = focal(respond, pred_conf) * (respond * sce_conf + background * sce_conf)
    prob_term = respond * sce(labels=label_prob, logits=pred_prob)

    def reduce(term: tf.Tensor) -> tf.Tensor:
        return tf.reduce_mean(tf.reduce_sum(term, axis=[1, 2, 3, 4]))

    return reduce(giou_term), reduce(conf_term), reduce(prob_term)
