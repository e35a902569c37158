"""DIoU dividing ρ² by the enclosing diagonal c instead of its square c²."""

from typing import Any

TARGETS = ("diou_loss", "ciou_loss")
CATEGORIES = ("value", "gradient")
DESCRIPTION = "ρ²/c (the enclosing box's diagonal, not squared) instead of ρ²/c²"
KIND = "formula"


def distance_ratio(self: Any, b1: Any, b2: Any) -> Any:
    o = self.ops
    dx = b1[..., 0] - b2[..., 0]
    dy = b1[..., 1] - b2[..., 1]
    cx = self.span(b1[..., 0], b1[..., 2], b2[..., 0], b2[..., 2])
    cy = self.span(b1[..., 1], b1[..., 3], b2[..., 1], b2[..., 3])
    return (dx * dx + dy * dy) / o.power(cx * cx + cy * cy, o.const(0.5, o.dtype(cx)))
