"""Smooth L1 choosing the quadratic branch on x < 1 instead of |x| < 1.

trzy/FasterRCNN's regression loss selected the branch with ``x < 1 / sigma²`` on the signed
difference: every x ≤ −1 takes 0.5·x² instead of |x| − 0.5.
"""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("smooth_l1",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "branch selected on x < 1 (signed): x ≤ −1 gets 0.5·x² instead of |x| − 0.5"
KIND = "formula"
LINK = "https://github.com/trzy/FasterRCNN/issues/2"
SOURCE = "trzy/FasterRCNN"


def smooth_l1(x: Any) -> tf.Tensor:
    x = R.ops.as_float(x)
    return tf.where(x < 1, 0.5 * x * x, tf.abs(x) - 0.5)
