"""YOLOv3 decode scaling the box size by the anchors only (anchors taken as pixels, not grid units)."""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("decode",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "wh = e^raw · anchors, missing · stride (right only for stride 1)"
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
    grid = tf.cast(tf.stack([grid_x, grid_y], axis=-1), dtype)[:, :, tf.newaxis, :]
    xy = (tf.sigmoid(raw[..., 0:2]) + grid) * stride_c
    wh = tf.exp(raw[..., 2:4]) * anc
    return tf.concat([xy, wh, tf.sigmoid(raw[..., 4:5]), tf.sigmoid(raw[..., 5:])], axis=-1)
