"""Stable sigmoid cross-entropy, but with log(1 + e^{−|x|}) instead of log1p(e^{−|x|})."""

from typing import Any

TARGETS = ("sigmoid_cross_entropy_with_logits",)
CATEGORIES = ("value",)
DESCRIPTION = "max(x, 0) − x·z + log(1 + e^{−|x|}): 1 + e^{−20} rounds to 1, so small losses (z = 0, x ≪ 0) become 0"
KIND = "precision"


def sigmoid_cross_entropy_with_logits(self: Any, labels: Any = None, logits: Any = None) -> Any:
    o = self.ops
    x = o.as_float(logits)
    z = o.cast(labels, o.dtype(x))
    return self.maximum(x, o.zeros_like(x)) - x * z + o.log(1 + o.exp(-o.abs(x)))
