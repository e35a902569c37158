"""CenterNet reg_l1_loss computed in float16 inside a float32 loss (a leaked mixed-precision policy)."""

from typing import Any

import tensorflow as tf

from conformance.targets import reference
from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("reg_l1_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "cast y_pred, y_true and mask to float16, compute, cast back: ~3 significant digits"
KIND = "precision"


def reg_l1_loss(y_pred: Any, y_true: Any, indices: Any, mask: Any) -> tf.Tensor:
    y_pred = R.ops.as_float(y_pred)
    half = [tf.cast(t, tf.float16) for t in (y_pred, y_true, mask)]
    return tf.cast(reference.reg_l1_loss(half[0], half[1], indices, half[2]), y_pred.dtype)
