"""RetinaNet focal loss with the modulating factor (1 − p_t)^γ held constant in the gradient."""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE

TARGETS = ("sigmoid_focal_loss",)
CATEGORIES = ("gradient",)
DESCRIPTION = "stop_gradient((1 − p_t)^γ): values right, the gradient through the modulating factor is lost"
KIND = "gradient-only"


def no_slope(self: Any, z: tf.Tensor, s: tf.Tensor, sc: tf.Tensor, miss: tf.Tensor, mod: tf.Tensor,
             gamma: tf.Tensor) -> tf.Tensor:
    """The reference differentiates m^γ through this slope: held constant, it has none."""
    return tf.zeros_like(mod)


sigmoid_focal_loss = REFERENCE.replaced(modulator_slope=no_slope)["sigmoid_focal_loss"]
