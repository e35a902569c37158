"""Binary cross-entropy averaged over the last axis (keras.losses' reduction) where the contract is elementwise."""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import binary_crossentropy as _elementwise

TARGETS = ("binary_crossentropy",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "tf.reduce_mean(..., axis=-1) of the elementwise values: one axis short of the contract's shape"
KIND = "shape"


def binary_crossentropy(target: Any, output: Any) -> tf.Tensor:
    return tf.reduce_mean(_elementwise(target, output), axis=-1)
