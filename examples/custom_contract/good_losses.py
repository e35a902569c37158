"""A correct TensorFlow varifocal loss (elementwise), as a user would write it."""

import tensorflow as tf

ALPHA, GAMMA = 0.75, 2.0


def varifocal_loss(pred, target):
    pred = tf.convert_to_tensor(pred)
    target = tf.cast(target, pred.dtype)
    tf.debugging.assert_equal(tf.shape(pred), tf.shape(target), message="pred and target shapes differ")
    log_p, log_1mp = tf.math.log(pred), tf.math.log1p(-pred)
    pos = -target * (target * log_p + (1 - target) * log_1mp)
    neg = -ALPHA * tf.pow(pred, GAMMA) * log_1mp
    return tf.where(target > 0, pos, neg)
