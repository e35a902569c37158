"""CenterNet reg_l1_loss normalised by Σ(M + ε) (Faster R-CNN style) instead of ΣM + ε."""

from typing import Any

import tensorflow as tf

from conformance.targets.catalogue import EPSILON
from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("reg_l1_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "tf.reduce_sum(m + ε): ε added once per element, the spec adds it once in total"
KIND = "formula"


def reg_l1_loss(y_pred: Any, y_true: Any, indices: Any, mask: Any) -> tf.Tensor:
    y_pred = R.ops.as_float(y_pred)
    dtype = y_pred.dtype
    y_true = tf.cast(R.ops.tensor(y_true), dtype)
    mask = tf.cast(R.ops.tensor(mask), dtype)
    shape = tf.shape(y_pred)
    flat = tf.reshape(y_pred, tf.stack([shape[0], shape[1] * shape[2], 2]))
    g = tf.gather(flat, R.ops.tensor(indices), batch_dims=1)
    m = tf.tile(mask[..., tf.newaxis], [1, 1, 2])
    return tf.reduce_sum(tf.abs(y_true * m - g * m)) / tf.reduce_sum(m + R.ops.const(EPSILON, dtype))
