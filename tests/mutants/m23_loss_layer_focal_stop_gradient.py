"""YOLOv3 loss_layer: the focal weight wrapped in stop_gradient."""

from typing import Any

from conformance.targets.catalogue import Catalogue

TARGETS = ("loss_layer",)
CATEGORIES = ("gradient",)
DESCRIPTION = "stop_gradient(focal(r, σ(conf))): values right, the gradient through the weight |r − σ|² is lost"
KIND = "gradient-only"


def focal(self: Any, target: Any, actual: Any, alpha: Any = 1, gamma: Any = 2) -> Any:
    return self.ops.stop_gradient(Catalogue.focal(self, target, actual, alpha, gamma))
