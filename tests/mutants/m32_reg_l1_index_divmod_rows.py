"""CenterNet reg_l1_loss converting flat indices to (row, column) by dividing by H instead of W."""

from typing import Any

import tensorflow as tf

from conformance.targets.catalogue import EPSILON
from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("reg_l1_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = ("row, col = divmod(index, H) for a row-major H·W grid: right on square maps; on non-square ones "
               "the wrong cell or an out-of-range gather")
KIND = "non-square"


def reg_l1_loss(y_pred: Any, y_true: Any, indices: Any, mask: Any) -> tf.Tensor:
    y_pred = R.ops.as_float(y_pred)
    dtype = y_pred.dtype
    y_true = tf.cast(R.ops.tensor(y_true), dtype)
    mask = tf.cast(R.ops.tensor(mask), dtype)
    idx = tf.cast(R.ops.tensor(indices), tf.int32)
    h = tf.shape(y_pred)[1]
    cell = tf.stack([idx // h, idx % h], axis=-1)
    g = tf.gather_nd(y_pred, cell, batch_dims=1)
    m = tf.tile(mask[..., tf.newaxis], [1, 1, 2])
    return tf.reduce_sum(tf.abs(y_true * m - g * m)) / (tf.reduce_sum(m) + R.ops.const(EPSILON, dtype))
