"""CenterNet total loss with XLA's gather semantics: out-of-range indices are clamped.

Under ``jit_compile=True`` TensorFlow's gather clamps an out-of-range index into range and
reads another cell, where eager mode raises on CPU (and reads 0 on GPU).  Reproduced here in
any mode by clamping the indices of both regression terms.
"""

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from conformance.targets.catalogue import CENTERNET_WH_WEIGHT, EPSILON
from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R
from conformance.targets.reference import focal_loss

TARGETS = ("loss",)
CATEGORIES = ("badinput",)
DESCRIPTION = "gather indices clamped into [0, H·W − 1] (XLA's gather): a bad index reads another cell silently"
KIND = "bad-input"
LINK = "https://github.com/tensorflow/tensorflow/issues/61865"
SOURCE = "tensorflow/tensorflow"


def _reg_l1_clamped(y_pred: Any, y_true: Any, indices: Any, mask: Any) -> tf.Tensor:
    y_pred = R.ops.as_float(y_pred)
    dtype = y_pred.dtype
    y_true = tf.cast(R.ops.tensor(y_true), dtype)
    mask = tf.cast(R.ops.tensor(mask), dtype)
    shape = tf.shape(y_pred, out_type=tf.int64)
    cells = shape[1] * shape[2]
    idx = tf.clip_by_value(tf.cast(R.ops.tensor(indices), tf.int64), 0, cells - 1)
    g = tf.gather(tf.reshape(y_pred, tf.stack([shape[0], cells, 2])), idx, batch_dims=1)
    m = tf.tile(mask[..., tf.newaxis], [1, 1, 2])
    return tf.reduce_sum(tf.abs(y_true * m - g * m)) / (tf.reduce_sum(m) + R.ops.const(EPSILON, dtype))


def loss(args: Sequence[Any]) -> tf.Tensor:
    hm_pred, wh_pred, reg_pred, hm_true, wh_true, reg_true, reg_mask, indices = args
    wh = _reg_l1_clamped(wh_pred, wh_true, indices, reg_mask)
    reg = _reg_l1_clamped(reg_pred, reg_true, indices, reg_mask)
    return focal_loss(hm_pred, hm_true) + R.ops.const(CENTERNET_WH_WEIGHT, wh.dtype) * wh + reg
