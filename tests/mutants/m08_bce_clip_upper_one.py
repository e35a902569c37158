"""Binary cross-entropy clipping p to [ε, 1] instead of [ε, 1 − ε]."""

from typing import Any

from conformance.targets.catalogue import EPSILON_KERAS

TARGETS = ("binary_crossentropy",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "clip(p, ε_k, 1): at p = 1 with t < 1, log(1 − P) = −inf"
KIND = "clip-bound"


def binary_crossentropy(self: Any, target: Any, output: Any) -> Any:
    o = self.ops
    p = o.as_float(output)
    t = o.cast(target, o.dtype(p))
    pc = self.clip(p, o.const(EPSILON_KERAS, o.dtype(p)), o.const(1.0, o.dtype(p)))
    return -(self.xlogy(t, pc) + (1 - t) * o.log1p(-pc))
