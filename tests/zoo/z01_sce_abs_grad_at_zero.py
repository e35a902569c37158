"""Sigmoid cross-entropy as relu(x) − x·z + log1p(e^{−|x|}) with abs and relu differentiated as written.

PyTorch's first ``binary_cross_entropy_with_logits`` used TensorFlow's documented stable form
with ``abs``; autograd's abs'(0) = 0 made the gradient at logits = 0, labels = 0 zero instead
of σ(0) − z = 0.5.  In TensorFlow relu'(0) = abs'(0) = 0 as well, so this form gives −z at x = 0.
"""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("sigmoid_cross_entropy_with_logits",)
CATEGORIES = ("gradient",)
DESCRIPTION = "max(x, 0) − x·z + log1p(e^{−|x|}) with relu'(0) = abs'(0) = 0: the gradient at x = 0 is −z, not 0.5 − z"
KIND = "gradient-only"
LINK = "https://github.com/pytorch/pytorch/pull/2195"
SOURCE = "pytorch/pytorch"


def sigmoid_cross_entropy_with_logits(labels: Any = None, logits: Any = None) -> tf.Tensor:
    x = R.ops.as_float(logits)
    z = tf.cast(R.ops.tensor(labels), x.dtype)
    return tf.nn.relu(x) - x * z + tf.math.log1p(tf.exp(-tf.abs(x)))
