"""RetinaNet focal loss with 1 − p_t formed as 1 − (z·p + (1 − z)·(1 − p)) from p = σ(x) (torchvision's form)."""

from typing import Any

TARGETS = ("sigmoid_focal_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "1 − p_t as 1 − (z·p + (1 − z)(1 − p)): p rounds to 1 for confident logits and 1 − p_t cancels to 0"
KIND = "precision"


def sigmoid_focal_loss(self: Any, labels: Any = None, logits: Any = None, alpha: Any = 0.25,
                       gamma: Any = 2.0) -> Any:
    o = self.ops
    x = o.as_float(logits)
    dtype = o.dtype(x)
    z = o.cast(labels, dtype)
    p = self.sigmoid(x)
    p_t = z * p + (1 - z) * (1 - p)
    a = o.const(alpha, dtype)
    alpha_t = o.where(a >= 0, a * z + (1 - a) * (1 - z), o.ones_like(z))
    ce = self.sigmoid_cross_entropy_with_logits(labels=z, logits=x)
    return alpha_t * o.power(1 - p_t, o.const(gamma, dtype)) * ce
