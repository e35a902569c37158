"""CenterNet focal loss with β = 2 in the negatives' weight (1 − y)^β, where the contract has β = 4."""

from typing import Any

TARGETS = ("focal_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "(1−y)^2 instead of (1−y)^4 for the negatives near a peak (α = 2 kept)"
KIND = "formula"


def focal_modulators(self: Any, p: Any, y: Any, alpha: Any, beta: Any) -> tuple[Any, Any, Any]:
    o = self.ops
    return o.power(1 - p, alpha), o.power(p, alpha), o.power(1 - y, alpha)
