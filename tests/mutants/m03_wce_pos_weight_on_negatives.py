"""Weighted sigmoid cross-entropy with pos_weight applied to the negative term."""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("weighted_cross_entropy_with_logits",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "z·softplus(−x) + q·(1−z)·softplus(x): pos_weight multiplies the wrong term"
KIND = "formula"


def weighted_cross_entropy_with_logits(labels: Any = None, logits: Any = None, pos_weight: Any = 1.0) -> tf.Tensor:
    x = R.ops.as_float(logits)
    z = tf.cast(R.ops.tensor(labels), x.dtype)
    q = R.ops.const(pos_weight, x.dtype)
    sp_pos, sp_neg = R.softplus_pair(x)
    return z * sp_neg + q * (1 - z) * sp_pos
