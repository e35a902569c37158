"""A new user's first module: four ordinary mistakes, written as a user would (tests/test_diagnosis.py).

- ``bbox_iou``: the intersection's width and height are not clamped at 0;
- ``focal_loss``: divides by num_pos without a guard;
- ``rpn_loss_regr``: ε = 1.0 in the normaliser (the contract has 1e-4);
- ``sigmoid_cross_entropy_with_logits``: the naive −z·log σ(x) − (1−z)·log(1−σ(x)).
"""

import tensorflow as tf


def bbox_iou(boxes1, boxes2):
    boxes1 = tf.convert_to_tensor(boxes1)
    boxes2 = tf.cast(tf.convert_to_tensor(boxes2), boxes1.dtype)
    area1 = boxes1[..., 2] * boxes1[..., 3]
    area2 = boxes2[..., 2] * boxes2[..., 3]
    b1 = tf.concat([boxes1[..., :2] - boxes1[..., 2:] * 0.5, boxes1[..., :2] + boxes1[..., 2:] * 0.5], axis=-1)
    b2 = tf.concat([boxes2[..., :2] - boxes2[..., 2:] * 0.5, boxes2[..., :2] + boxes2[..., 2:] * 0.5], axis=-1)
    left_up = tf.maximum(b1[..., :2], b2[..., :2])
    right_down = tf.minimum(b1[..., 2:], b2[..., 2:])
    wh = right_down - left_up  # the mistake: no tf.maximum(..., 0.0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area1 + area2 - inter)


def focal_loss(hm_pred, hm_true):
    hm_pred = tf.convert_to_tensor(hm_pred)
    hm_true = tf.cast(tf.convert_to_tensor(hm_true), hm_pred.dtype)
    pos = tf.cast(tf.equal(hm_true, 1.0), hm_pred.dtype)
    neg = tf.cast(tf.less(hm_true, 1.0), hm_pred.dtype)
    eps = tf.constant(1e-6, hm_pred.dtype)
    pos_loss = -tf.math.log(tf.clip_by_value(hm_pred, eps, 1.0)) * tf.square(1.0 - hm_pred) * pos
    neg_loss = (-tf.math.log(tf.clip_by_value(1.0 - hm_pred, eps, 1.0)) * tf.square(hm_pred)
                * tf.pow(1.0 - hm_true, 4.0) * neg)
    num_pos = tf.reduce_sum(pos)
    return (tf.reduce_sum(pos_loss) + tf.reduce_sum(neg_loss)) / num_pos  # the mistake: no guard for num_pos = 0


def rpn_loss_regr(num_anchors):
    def rpn_loss_regr_fixed_num(y_true, y_pred):
        y_pred = tf.convert_to_tensor(y_pred)
        y_true = tf.cast(tf.convert_to_tensor(y_true), y_pred.dtype)
        x = y_true[..., 4 * num_anchors:] - y_pred
        x_abs = tf.abs(x)
        x_bool = tf.cast(x_abs <= 1.0, y_pred.dtype)
        smooth = x_bool * (0.5 * x * x) + (1 - x_bool) * (x_abs - 0.5)
        m = y_true[..., :4 * num_anchors]
        return tf.reduce_sum(m * smooth) / tf.reduce_sum(1.0 + m)  # the mistake: ε = 1.0
    return rpn_loss_regr_fixed_num


def sigmoid_cross_entropy_with_logits(labels=None, logits=None):
    logits = tf.convert_to_tensor(logits)
    labels = tf.cast(tf.convert_to_tensor(labels), logits.dtype)
    p = tf.sigmoid(logits)
    return -(labels * tf.math.log(p) + (1.0 - labels) * tf.math.log(1.0 - p))  # the mistake: the naive form
