"""KL divergence with its arguments swapped (Σ q·log(q/p))."""

from typing import Any

TARGETS = ("kl_divergence",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "KL(q‖p) instead of KL(p‖q)"
KIND = "formula"


def kl_divergence(self: Any, p: Any, q: Any, axis: int = -1) -> Any:
    o = self.ops
    p = o.as_float(p)
    q = o.cast(q, o.dtype(p))
    return o.sum(q * self.log_ratio(q, p), axis=axis)
