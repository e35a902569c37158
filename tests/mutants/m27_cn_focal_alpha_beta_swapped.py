"""CenterNet focal loss with α and β swapped (α = 4, β = 2)."""

from typing import Any

TARGETS = ("focal_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "(1−p)^4, p^4 and (1−y)^2 instead of (1−p)^2, p^2 and (1−y)^4"
KIND = "formula"


def focal_modulators(self: Any, p: Any, y: Any, alpha: Any, beta: Any) -> tuple[Any, Any, Any]:
    o = self.ops
    return o.power(1 - p, beta), o.power(p, beta), o.power(1 - y, alpha)
