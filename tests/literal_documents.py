"""A test target: the spec's formulas written straight into TensorFlow, in the input's dtype, with no stability tricks.

Each function follows the formula of docs/contracts.md (and, for the YOLOv3 boxes, the documents'
code) step by step: corners ``x ∓ w/2`` computed in the dtype, areas from them, quotients without guards.
It is what a careful user would write from the documents in float32 or float16, and the suite must not
fail it in the stability tier: where such code cannot deliver the exact value, the documents' formula
cannot either (the literal-formula rule, docs/tolerances.md).

Not here: ``sigmoid`` written as 1 / (1 + e^−x), whose value is fine but whose autodiff gradient is
inf/inf = NaN for x < −88.7 in float32 where the exact gradient is finite (a failure: gradients are
judged against the calculus, not against the derivative of one way of writing the value); the
documents themselves call ``tf.sigmoid``, as ``decode`` here does.
"""

from __future__ import annotations

import math

import tensorflow as tf

__all__ = ["smooth_l1", "bbox_iou", "bbox_giou", "iou_loss", "giou_loss", "diou_loss", "ciou_loss",
           "decode", "focal", "rpn_loss_regr", "class_loss_regr", "reg_l1_loss"]


def smooth_l1(x):
    a = tf.abs(x)
    return tf.where(a <= 1, 0.5 * x * x, a - 0.5)


def _corners(b):
    return b[..., :2] - b[..., 2:] * 0.5, b[..., :2] + b[..., 2:] * 0.5


def _iou(boxes1, boxes2):
    area1 = boxes1[..., 2] * boxes1[..., 3]
    area2 = boxes2[..., 2] * boxes2[..., 3]
    lo1, hi1 = _corners(boxes1)
    lo2, hi2 = _corners(boxes2)
    section = tf.maximum(tf.minimum(hi1, hi2) - tf.maximum(lo1, lo2), 0.0)
    inter = section[..., 0] * section[..., 1]
    union = area1 + area2 - inter
    return inter / union, (lo1, hi1, lo2, hi2)


def bbox_iou(boxes1, boxes2):
    return _iou(boxes1, boxes2)[0]


def bbox_giou(boxes1, boxes2):
    p1, q1 = _corners(boxes1)
    p2, q2 = _corners(boxes2)
    lo1, hi1 = tf.minimum(p1, q1), tf.maximum(p1, q1)
    lo2, hi2 = tf.minimum(p2, q2), tf.maximum(p2, q2)
    area1 = (hi1[..., 0] - lo1[..., 0]) * (hi1[..., 1] - lo1[..., 1])
    area2 = (hi2[..., 0] - lo2[..., 0]) * (hi2[..., 1] - lo2[..., 1])
    section = tf.maximum(tf.minimum(hi1, hi2) - tf.maximum(lo1, lo2), 0.0)
    inter = section[..., 0] * section[..., 1]
    union = area1 + area2 - inter
    iou = inter / union
    enclose = tf.maximum(tf.maximum(hi1, hi2) - tf.minimum(lo1, lo2), 0.0)
    enclose_area = enclose[..., 0] * enclose[..., 1]
    return iou - (enclose_area - union) / enclose_area


def iou_loss(boxes1, boxes2):
    return 1 - bbox_iou(boxes1, boxes2)


def giou_loss(boxes1, boxes2):
    return 1 - bbox_giou(boxes1, boxes2)


def _diou(boxes1, boxes2):
    iou, (lo1, hi1, lo2, hi2) = _iou(boxes1, boxes2)
    d = boxes1[..., :2] - boxes2[..., :2]
    rho2 = d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1]
    c = tf.maximum(hi1, hi2) - tf.minimum(lo1, lo2)
    c2 = c[..., 0] * c[..., 0] + c[..., 1] * c[..., 1]
    return 1 - iou + rho2 / c2, iou


def diou_loss(boxes1, boxes2):
    return _diou(boxes1, boxes2)[0]


def ciou_loss(boxes1, boxes2):
    loss, iou = _diou(boxes1, boxes2)
    gap = tf.atan2(boxes2[..., 2], boxes2[..., 3]) - tf.atan2(boxes1[..., 2], boxes1[..., 3])
    v = (4 / math.pi**2) * gap * gap
    alpha = tf.stop_gradient(tf.where(v == 0, tf.zeros_like(v), v / ((1 - iou) + v)))
    return loss + alpha * v


def decode(conv_output, anchors, stride, num_class):
    s = tf.shape(conv_output)
    a = len(anchors)
    raw = tf.reshape(conv_output, (s[0], s[1], s[2], a, 5 + num_class))
    dt = conv_output.dtype
    gy, gx = tf.meshgrid(tf.range(s[1]), tf.range(s[2]), indexing="ij")
    grid = tf.cast(tf.stack([gx, gy], -1)[tf.newaxis, :, :, tf.newaxis, :], dt)
    xy = (tf.sigmoid(raw[..., 0:2]) + grid) * stride  # the documents call tf.sigmoid (see the module docstring)
    wh = tf.exp(raw[..., 2:4]) * tf.cast(anchors, dt) * stride
    return tf.concat([xy, wh, tf.sigmoid(raw[..., 4:5]), tf.sigmoid(raw[..., 5:])], -1)


def focal(target, actual, alpha=1, gamma=2):
    return alpha * tf.pow(tf.abs(target - actual), gamma)


def _regr(y_true, y_pred, k):
    m, t = y_true[..., :k], y_true[..., k:]
    return tf.reduce_sum(m * smooth_l1(t - y_pred)) / tf.reduce_sum(1e-4 + m)


def rpn_loss_regr(num_anchors):
    return lambda y_true, y_pred: _regr(y_true, y_pred, 4 * num_anchors)


def class_loss_regr(num_classes):
    return lambda y_true, y_pred: _regr(y_true, y_pred, 4 * num_classes)


def reg_l1_loss(y_pred, y_true, indices, mask):
    b, c = tf.shape(y_pred)[0], tf.shape(y_pred)[-1]
    g = tf.gather(tf.reshape(y_pred, (b, -1, c)), tf.cast(indices, tf.int32), batch_dims=1)
    m = tf.tile(mask[..., tf.newaxis], (1, 1, 2))
    return tf.reduce_sum(tf.abs(y_true * m - g * m)) / (tf.reduce_sum(m) + 1e-4)
