"""Softmax cross-entropy shifted by ``keras.ops.max`` instead of the gathered argmax element."""

from typing import Any

from keras import ops

from conformance.targets.reference_keras import *  # noqa: F403
from conformance.targets.reference_keras import REFERENCE as R

TARGETS = ("softmax_cross_entropy_with_logits",)
CATEGORIES = ("gradient",)
DESCRIPTION = ("log softmax as (x − max x) − log1p(Σ_{j≠a} e^{x_j − max x}) with a = argmax: right values, but "
               "the gradient of ops.max is shared among tied maxima while only the argmax's 1 is left out of the "
               "sum, so rows with tied maxima (all-zero logits) get a wrong gradient")
KIND = "gradient-only"


def softmax_cross_entropy_with_logits(labels: Any = None, logits: Any = None, axis: int = -1) -> Any:
    x = R.ops.as_float(logits)
    ax = R.axis_index(x, axis)
    y = ops.broadcast_to(R.ops.cast(labels, R.ops.dtype(x)), ops.shape(x))
    c = x.shape[ax]
    idx = ops.argmax(x, axis=ax, keepdims=True)
    classes = ops.reshape(ops.arange(c, dtype=R.ops.dtype(idx)), [c if i == ax else 1 for i in range(R.ops.rank(x))])
    is_max = ops.equal(classes, idx)
    d = x - ops.max(x, axis=ax, keepdims=True)
    rest = ops.sum(ops.where(is_max, ops.zeros_like(x), ops.exp(d)), axis=ax, keepdims=True)
    log_p = d - ops.log1p(rest)
    return -ops.sum(ops.where(ops.equal(y, 0), ops.zeros_like(x), y * log_p), axis=ax)
