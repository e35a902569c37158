"""CenterNet reg_l1_loss normalised by Σ(M + ε) (Faster R-CNN style) instead of ΣM + ε."""

from typing import Any

from conformance.targets.catalogue import EPSILON

TARGETS = ("reg_l1_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "Σ(m + ε): ε added once per element, the contract adds it once in total"
KIND = "formula"


def l1_normaliser(self: Any, m: Any) -> Any:
    o = self.ops
    return o.sum(m + o.const(EPSILON, o.dtype(m)))
