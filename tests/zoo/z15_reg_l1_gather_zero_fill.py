"""CenterNet reg_l1_loss with tf.gather's GPU semantics: an out-of-range index reads 0.

TensorFlow's GPU gather kernel does not validate indices and stores 0 for an out-of-range one
(the CPU kernel raises), so a bad index becomes a silent finite loss on GPU.  Reproduced here on
any device by zero-filling the rows of invalid indices.
"""

from typing import Any

import tensorflow as tf

from conformance.targets.catalogue import EPSILON
from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("reg_l1_loss",)
CATEGORIES = ("badinput",)
DESCRIPTION = "gather rows for indices outside [0, H·W) read as 0 (TensorFlow's GPU gather): a silent finite loss"
KIND = "bad-input"
LINK = "https://github.com/tensorflow/tensorflow/issues/3638"
SOURCE = "tensorflow/tensorflow"


def reg_l1_loss(y_pred: Any, y_true: Any, indices: Any, mask: Any) -> tf.Tensor:
    y_pred = R.ops.as_float(y_pred)
    dtype = y_pred.dtype
    y_true = tf.cast(R.ops.tensor(y_true), dtype)
    mask = tf.cast(R.ops.tensor(mask), dtype)
    idx = tf.cast(R.ops.tensor(indices), tf.int64)
    shape = tf.shape(y_pred, out_type=tf.int64)
    cells = shape[1] * shape[2]
    valid = (idx >= 0) & (idx < cells)
    flat = tf.reshape(y_pred, tf.stack([shape[0], cells, 2]))
    g = tf.gather(flat, tf.where(valid, idx, tf.zeros_like(idx)), batch_dims=1)
    g = tf.where(valid[..., tf.newaxis], g, tf.zeros_like(g))
    m = tf.tile(mask[..., tf.newaxis], [1, 1, 2])
    return tf.reduce_sum(tf.abs(y_true * m - g * m)) / (tf.reduce_sum(m) + R.ops.const(EPSILON, dtype))
