"""Weighted sigmoid cross-entropy with pos_weight applied to the negative term."""

from typing import Any

TARGETS = ("weighted_cross_entropy_with_logits",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "z·softplus(−x) + q·(1−z)·softplus(x): pos_weight multiplies the wrong term"
KIND = "formula"


def weighted_cross_entropy_with_logits(self: Any, labels: Any = None, logits: Any = None,
                                       pos_weight: Any = 1.0) -> Any:
    o = self.ops
    x = o.as_float(logits)
    z = o.cast(labels, o.dtype(x))
    q = o.const(pos_weight, o.dtype(x))
    sp_pos, sp_neg = self.softplus_pair(x)
    return z * sp_neg + q * (1 - z) * sp_pos
