"""RetinaNet focal loss with the modulating factor (1 − p_t)^γ held constant in the gradient."""

from typing import Any

import tensorflow as tf

from conformance.targets.catalogue import Catalogue
from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE

TARGETS = ("sigmoid_focal_loss",)
CATEGORIES = ("gradient",)
DESCRIPTION = "stop_gradient((1 − p_t)^γ): values right, the gradient through the modulating factor is lost"
KIND = "gradient-only"


def power_held_constant(self: Any, base: tf.Tensor, exponent: tf.Tensor) -> tf.Tensor:
    return tf.stop_gradient(Catalogue.safe_power(self, base, exponent))


sigmoid_focal_loss = REFERENCE.replaced(safe_power=power_held_constant)["sigmoid_focal_loss"]
