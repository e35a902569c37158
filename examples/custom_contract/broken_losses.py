"""A broken TensorFlow varifocal loss: the negatives' weight uses the target instead of α·p^γ (so they vanish)."""

import tensorflow as tf


def varifocal_loss(pred, target):
    pred = tf.convert_to_tensor(pred)
    target = tf.cast(target, pred.dtype)
    tf.debugging.assert_equal(tf.shape(pred), tf.shape(target), message="pred and target shapes differ")
    return -target * (target * tf.math.log(pred) + (1 - target) * tf.math.log1p(-pred))
