"""YOLOv3 decode adding (row, column) instead of (column, row) to the cell offsets."""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("decode",)
CATEGORIES = ("value",)
DESCRIPTION = "grid built as concat([grid_y, grid_x]): x gets the row index and y the column index"
KIND = "formula"


def decode(conv_output: Any, anchors: Any, stride: Any, num_class: int) -> tf.Tensor:
    conv = R.ops.as_float(conv_output)
    dtype = conv.dtype
    n = int(num_class)
    anc, a = R.anchor_table(anchors, dtype)
    stride_c = R.ops.const(stride, dtype)
    shape = tf.shape(conv)
    batch, rows, cols = shape[0], shape[1], shape[2]
    raw = tf.reshape(conv, tf.stack([batch, rows, cols, a, 5 + n]))
    grid_y, grid_x = tf.meshgrid(tf.range(rows), tf.range(cols), indexing="ij")
    grid = tf.cast(tf.stack([grid_y, grid_x], axis=-1), dtype)[:, :, tf.newaxis, :]
    xy = (tf.sigmoid(raw[..., 0:2]) + grid) * stride_c
    wh = tf.exp(raw[..., 2:4]) * anc * stride_c
    return tf.concat([xy, wh, tf.sigmoid(raw[..., 4:5]), tf.sigmoid(raw[..., 5:])], axis=-1)
