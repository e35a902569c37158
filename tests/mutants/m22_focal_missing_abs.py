"""YOLOv3 focal weight as α·(target − actual)^γ, without the absolute value."""

from typing import Any

TARGETS = ("focal",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "(target − actual)^γ without |·|: NaN for a non-integer γ and a negative base, wrong sign for odd γ"
KIND = "formula"


def focal(self: Any, target: Any, actual: Any, alpha: Any = 1, gamma: Any = 2) -> Any:
    o = self.ops
    x = o.as_float(actual)
    t = o.cast(target, o.dtype(x))
    return o.const(alpha, o.dtype(x)) * o.power(t - x, o.const(gamma, o.dtype(x)))
