"""RetinaNet focal loss with the modulating factor (1 − p_t)^γ held constant in the gradient."""

from typing import Any

TARGETS = ("sigmoid_focal_loss",)
CATEGORIES = ("gradient",)
DESCRIPTION = "stop_gradient((1 − p_t)^γ): values right, the gradient through the modulating factor is lost"
KIND = "gradient-only"


def modulator_slope(self: Any, z: Any, s: Any, sc: Any, miss: Any, mod: Any, gamma: Any) -> Any:
    """The reference differentiates m^γ through this slope: held constant, it has none."""
    return self.ops.zeros_like(mod)
