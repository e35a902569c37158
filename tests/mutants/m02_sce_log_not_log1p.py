"""Stable sigmoid cross-entropy, but with log(1 + e^{−|x|}) instead of log1p(e^{−|x|})."""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("sigmoid_cross_entropy_with_logits",)
CATEGORIES = ("value",)
DESCRIPTION = "max(x, 0) − x·z + log(1 + e^{−|x|}): 1 + e^{−20} rounds to 1, so small losses (z = 0, x ≪ 0) become 0"
KIND = "precision"


def sigmoid_cross_entropy_with_logits(labels: Any = None, logits: Any = None) -> tf.Tensor:
    x = R.ops.as_float(logits)
    z = tf.cast(R.ops.tensor(labels), x.dtype)
    return tf.maximum(x, 0) - x * z + tf.math.log(1 + tf.exp(-tf.abs(x)))
