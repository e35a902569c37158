"""Catalogue mistakes no project mutant makes, each written over the reference (tests/test_diagnosis.py)."""

import tensorflow as tf

from conformance.targets import reference


def focal_loss(hm_pred, hm_true):
    """σ applied to a heatmap that is already a probability."""
    return reference.focal_loss(tf.sigmoid(tf.convert_to_tensor(hm_pred)), hm_true)


def rpn_loss_cls(num_anchors):
    """λ = 2 instead of 1."""
    inner = reference.rpn_loss_cls(num_anchors)
    return lambda y_true, y_pred: 2.0 * inner(y_true, y_pred)


def binary_crossentropy(target, output):
    """target and output swapped."""
    return reference.binary_crossentropy(output, target)


def loss(args):
    """The size term weighted 0.5 instead of 0.1."""
    hm_pred, wh_pred, reg_pred, hm_true, wh_true, reg_true, reg_mask, indices = args
    return reference.loss(args) + 0.4 * reference.reg_l1_loss(wh_pred, wh_true, indices, reg_mask)


def giou_loss(boxes1, boxes2):
    """The enclosing box treated as a constant normaliser (tf.stop_gradient): the values agree, the gradients not."""
    b1, b2 = tf.convert_to_tensor(boxes1), tf.convert_to_tensor(boxes2)
    lo1, hi1 = b1[..., :2] - tf.abs(b1[..., 2:]) / 2, b1[..., :2] + tf.abs(b1[..., 2:]) / 2
    lo2, hi2 = b2[..., :2] - tf.abs(b2[..., 2:]) / 2, b2[..., :2] + tf.abs(b2[..., 2:]) / 2
    inter = tf.reduce_prod(tf.maximum(tf.minimum(hi1, hi2) - tf.maximum(lo1, lo2), 0.0), -1)
    union = tf.abs(b1[..., 2] * b1[..., 3]) + tf.abs(b2[..., 2] * b2[..., 3]) - inter
    enclose = tf.stop_gradient(tf.reduce_prod(tf.maximum(hi1, hi2) - tf.minimum(lo1, lo2), -1))
    return 1.0 - (inter / union - (enclose - union) / enclose)
