"""Contract names over the documents' code (``conformance.targets.documents``).

The small module a user writes to put their own class-based code under test::

    pytest conformance --impl=conformance.targets.documents_adapter

The Faster R-CNN and CenterNet names are the documents' functions themselves; the
YOLOv3 names construct the documents' ``YOLOV3`` class and call its methods.  The
``nn`` family (sigmoid, softmax, the cross-entropies, entropy, KL divergence, smooth L1)
is not provided: the documents derive those formulas but ship no code for them.
"""

from __future__ import annotations

import numpy as np

from .documents import (
    YOLOV3,
    class_loss_cls,
    class_loss_regr,
    focal_loss,
    loss,
    reg_l1_loss,
    rpn_loss_cls,
    rpn_loss_regr,
)

__all__ = [
    "rpn_loss_regr", "rpn_loss_cls", "class_loss_regr", "class_loss_cls",
    "decode", "bbox_iou", "bbox_giou", "iou_loss", "giou_loss", "focal", "loss_layer", "compute_loss",
    "focal_loss", "reg_l1_loss", "loss",
]


def _model(num_class, anchors, strides, iou_loss_thresh=0.5):
    # As the documents' configuration loads them: anchors a float32 array, strides a NumPy array.
    return YOLOV3(num_class, np.array(anchors, dtype=np.float32), np.array(strides), iou_loss_thresh)


def _one_scale(num_class, anchors, stride, iou_loss_thresh=0.5):
    return _model(num_class, [anchors], [stride], iou_loss_thresh)


# The box helpers and focal do not use the configuration.
_boxes = _one_scale(0, np.ones((3, 2)), 8)


def decode(conv_output, anchors, stride, num_class):
    model = _one_scale(num_class, anchors, stride)
    return model.decode(conv_output, model.anchors[0], model.strides[0])


def bbox_iou(boxes1, boxes2):
    return _boxes.bbox_iou(boxes1, boxes2)


def bbox_giou(boxes1, boxes2):
    return _boxes.bbox_giou(boxes1, boxes2)


def iou_loss(boxes1, boxes2):
    return 1 - bbox_iou(boxes1, boxes2)


def giou_loss(boxes1, boxes2):
    return 1 - bbox_giou(boxes1, boxes2)


def focal(target, actual, alpha=1, gamma=2):
    return _boxes.focal(target, actual, alpha, gamma)


def loss_layer(conv, pred, label, bboxes, anchors, stride, num_class, iou_loss_thresh=0.5):
    model = _one_scale(num_class, anchors, stride, iou_loss_thresh)
    return model.loss_layer(conv, pred, label, bboxes, model.anchors[0], model.strides[0])


def compute_loss(convs, labels, bboxes, anchors, strides, num_class, iou_loss_thresh=0.5):
    model = _model(num_class, anchors, strides, iou_loss_thresh)
    label_sbbox, label_mbbox, label_lbbox = labels
    true_sbbox, true_mbbox, true_lbbox = bboxes
    conv_sbbox, conv_mbbox, conv_lbbox = convs
    return model.compute_loss(label_sbbox, label_mbbox, label_lbbox, true_sbbox, true_mbbox, true_lbbox,
                              conv_sbbox, conv_mbbox, conv_lbbox)
