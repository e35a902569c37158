"""Entropy −Σ p·log p without the 0·log 0 = 0 convention.

NumPyro's ``CategoricalProbs.entropy`` computed ``-(probs * jnp.log(probs)).sum(-1)``: a
category of probability exactly 0 gives 0·(−inf) = NaN for the whole row (fixed with xlogy).
"""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("entropy",)
CATEGORIES = ("value",)
DESCRIPTION = "−Σ p·log p: a zero probability gives 0·(−inf) = NaN for the whole row"
KIND = "zero-convention"
LINK = "https://github.com/pyro-ppl/numpyro/pull/2276"
SOURCE = "pyro-ppl/numpyro"


def entropy(p: Any, axis: int = -1) -> tf.Tensor:
    p = R.ops.as_float(p)
    return -tf.reduce_sum(p * tf.math.log(p), axis=axis)
