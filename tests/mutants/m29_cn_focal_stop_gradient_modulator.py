"""CenterNet focal loss with the modulating factors (1−p)^α and p^α detached from the gradient."""

from typing import Any

from conformance.targets.catalogue import Catalogue

TARGETS = ("focal_loss",)
CATEGORIES = ("gradient",)
DESCRIPTION = "stop_gradient((1−p)^α) and stop_gradient(p^α): values right, the gradient keeps only the log terms"
KIND = "gradient-only"


def focal_modulators(self: Any, p: Any, y: Any, alpha: Any, beta: Any) -> tuple[Any, Any, Any]:
    miss, hit, far = Catalogue.focal_modulators(self, p, y, alpha, beta)
    return self.ops.stop_gradient(miss), self.ops.stop_gradient(hit), far
