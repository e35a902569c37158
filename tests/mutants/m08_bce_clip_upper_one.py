"""Binary cross-entropy clipping p to [ε, 1] instead of [ε, 1 − ε]."""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import EPSILON_KERAS, _const, _float, _tensor

TARGETS = ("binary_crossentropy",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "clip(p, ε_k, 1): at p = 1 with t < 1, log(1 − P) = −inf"
KIND = "clip-bound"


def binary_crossentropy(target: Any, output: Any) -> tf.Tensor:
    p = _float(output)
    t = tf.cast(_tensor(target), p.dtype)
    pc = tf.clip_by_value(p, _const(EPSILON_KERAS, p.dtype), _const(1.0, p.dtype))
    return -(tf.math.xlogy(t, pc) + (1 - t) * tf.math.log1p(-pc))
