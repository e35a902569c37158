"""σ(x) written 1 / (1 + e^{−x}): NaN gradient once e^{−x} overflows.

Reported against JAX with ``sigmoid = lambda x: 1 / (1 + np.exp(-x))`` (NaN gradients from
x ≈ −66 on, under XLA's fast-math reciprocal).  In TensorFlow the value is right (1/inf = 0)
but the chain rule multiplies the division's gradient, −1/t² = −0, by d(e^{−x})/dx = −inf:
0·inf = NaN for x < −88.7 in float32, where the exact gradient is 0 to float32 precision.
"""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("sigmoid",)
CATEGORIES = ("stability",)
DESCRIPTION = "1 / (1 + e^{−x}): value right, gradient 0·inf = NaN where e^{−x} overflows (x < −88.7 in float32)"
KIND = "precision"
LINK = "https://github.com/jax-ml/jax/issues/777"
SOURCE = "jax-ml/jax"


def sigmoid(x: Any) -> tf.Tensor:
    x = R.ops.as_float(x)
    return 1 / (1 + tf.exp(-x))
