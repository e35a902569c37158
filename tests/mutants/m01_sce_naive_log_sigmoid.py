"""Sigmoid cross-entropy as −z·log σ(x) − (1−z)·log(1−σ(x)) in the input dtype (SCE-NAIVE)."""

from typing import Any

TARGETS = ("sigmoid_cross_entropy_with_logits",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "naive −z·log σ(x) − (1−z)·log(1−σ(x)): σ(x) rounds to 1 in float32 at x ≈ 17, giving log 0 = −inf"
KIND = "precision"


def sigmoid_cross_entropy_with_logits(self: Any, labels: Any = None, logits: Any = None) -> Any:
    o = self.ops
    x = o.as_float(logits)
    z = o.cast(labels, o.dtype(x))
    p = self.sigmoid(x)
    return -(z * o.log(p) + (1 - z) * o.log(1 - p))
