"""RPN regression loss normalised by Σm + ε (ε once) instead of Σ(ε + m) (ε per element)."""

from typing import Any

from conformance.targets.catalogue import EPSILON

TARGETS = ("rpn_loss_regr",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "normaliser Σm + ε: drops ε·(numel − 1) (FRCNN-EPS-PER-ELEMENT)"
KIND = "formula"


def eps_normaliser(self: Any, m: Any) -> Any:
    o = self.ops
    return o.sum(m) + o.const(EPSILON, o.dtype(m))
