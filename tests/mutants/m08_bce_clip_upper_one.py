"""Binary cross-entropy clipping p to [ε, 1] instead of [ε, 1 − ε]."""

from typing import Any

import tensorflow as tf

from conformance.targets.catalogue import EPSILON_KERAS
from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("binary_crossentropy",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "clip(p, ε_k, 1): at p = 1 with t < 1, log(1 − P) = −inf"
KIND = "clip-bound"


def binary_crossentropy(target: Any, output: Any) -> tf.Tensor:
    p = R.ops.as_float(output)
    t = tf.cast(R.ops.tensor(target), p.dtype)
    pc = tf.clip_by_value(p, R.ops.const(EPSILON_KERAS, p.dtype), R.ops.const(1.0, p.dtype))
    return -(tf.math.xlogy(t, pc) + (1 - t) * tf.math.log1p(-pc))
