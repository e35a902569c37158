"""Categorical cross-entropy that clips p without first normalising it by Σp."""

from typing import Any

from conformance.targets.catalogue import EPSILON_KERAS

TARGETS = ("categorical_crossentropy",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "−Σ t·log clip(p) without p / Σp: wrong for rows that do not sum to 1"
KIND = "unnormalised-probabilities"


def categorical_crossentropy(self: Any, target: Any, output: Any, axis: int = -1) -> Any:
    o = self.ops
    p = o.as_float(output)
    t = o.cast(target, o.dtype(p))
    return -o.sum(self.xlogy(t, self.clip_prob(p, EPSILON_KERAS)), axis=axis)
