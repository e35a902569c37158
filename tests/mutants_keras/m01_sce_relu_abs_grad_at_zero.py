"""Sigmoid cross-entropy as relu(x) − x·z + log1p(e^{−|x|}) with ``keras.ops.relu`` and ``keras.ops.abs``."""

from typing import Any

from keras import ops

from conformance.targets.reference_keras import *  # noqa: F403
from conformance.targets.reference_keras import REFERENCE as R

TARGETS = ("sigmoid_cross_entropy_with_logits",)
CATEGORIES = ("gradient",)
DESCRIPTION = ("the textbook stable form with ops.relu and ops.abs: right values, but relu'(0) = abs'(0) = 0 "
               "gives the gradient −z instead of σ(0) − z at logits == 0")
KIND = "gradient-only"


def sigmoid_cross_entropy_with_logits(labels: Any = None, logits: Any = None) -> Any:
    x = R.ops.as_float(logits)
    z = R.ops.cast(labels, R.ops.dtype(x))
    return ops.relu(x) - x * z + ops.log1p(ops.exp(-ops.abs(x)))
