"""Categorical cross-entropy with the normaliser Σp detached from the gradient."""

from typing import Any

from conformance.targets.catalogue import EPSILON_KERAS

TARGETS = ("categorical_crossentropy",)
CATEGORIES = ("gradient",)
DESCRIPTION = "p / stop_gradient(Σp): the value is right, the gradient misses the normaliser's term Σt/Σp"
KIND = "gradient-only"


def categorical_crossentropy(self: Any, target: Any, output: Any, axis: int = -1) -> Any:
    o = self.ops
    p = o.as_float(output)
    t = o.cast(target, o.dtype(p))
    q = p / o.stop_gradient(o.sum(p, axis=axis, keepdims=True))
    return -o.sum(self.xlogy(t, self.clip_prob(q, EPSILON_KERAS)), axis=axis)
