"""YOLOv3 loss_layer: the focal weight wrapped in tf.stop_gradient."""

from typing import Any

import tensorflow as tf

from conformance.targets.catalogue import Catalogue
from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE

TARGETS = ("loss_layer",)
CATEGORIES = ("gradient",)
DESCRIPTION = "stop_gradient(focal(r, σ(conf))): values right, the gradient through the weight |r − σ|² is lost"
KIND = "gradient-only"


def focal_held_constant(self: Any, target: Any, actual: Any, alpha: Any = 1, gamma: Any = 2) -> tf.Tensor:
    return tf.stop_gradient(Catalogue.focal(self, target, actual, alpha, gamma))


loss_layer = REFERENCE.replaced(focal=focal_held_constant)["loss_layer"]
