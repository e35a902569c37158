"""Entropy as −Σ p·log p without the 0·log 0 = 0 convention."""

from typing import Any

TARGETS = ("entropy",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "−Σ p·log p: a zero probability gives 0·(−inf) = NaN"
KIND = "formula"


def entropy(self: Any, p: Any, axis: int = -1) -> Any:
    o = self.ops
    p = o.as_float(p)
    return -o.sum(p * o.log(p), axis=axis)
