"""The bundled reference with every sum accumulated sequentially in the dtype, on purpose: a faithful
implementation that the measured model does not describe, judged under ``--accumulate=dtype``.

Every ``sum`` of the catalogue (and so every mean, softmax and reduction of the losses) runs as
``tf.math.cumsum`` along the reduced elements, which adds them one by one in the dtype (measured: in bfloat16 a
running sum of ones stops at 256, in float16 at 2048); its gradient, a reversed cumsum, does the same.  The means
do not widen to float32 first, as the reference's do.

    pytest --pyargs conformance --impl=tests/dtype_accumulating.py --accumulate=dtype --dtype=bfloat16
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from conformance.targets.catalogue import Catalogue
from conformance.targets.reference import TensorFlowLayer


class SequentialLayer(TensorFlowLayer):
    """TensorFlow's array layer with ``sum`` a running sum in the tensor's dtype."""

    def sum(self, x: Any, axis: Any = None, keepdims: bool = False) -> tf.Tensor:
        x = tf.convert_to_tensor(x)
        rank = x.shape.rank
        axes = sorted({a % rank for a in (range(rank) if axis is None else
                                         [axis] if isinstance(axis, int) else axis)})
        if not axes or 0 in [x.shape[a] for a in axes] or not x.dtype.is_floating:
            return tf.reduce_sum(x, axis=axis, keepdims=keepdims)
        kept = [a for a in range(rank) if a not in axes]
        t = tf.transpose(x, kept + axes)
        t = tf.reshape(t, tf.concat([tf.shape(t)[:len(kept)], [-1]], 0))
        out = tf.math.cumsum(t, axis=-1)[..., -1]
        for a in axes if keepdims else ():
            out = tf.expand_dims(out, a)
        return out


class SequentialCatalogue(Catalogue):
    """The catalogue with means in the dtype: a sequential sum of ``x`` itself divided by the count."""

    def mean_summand(self, x: Any) -> Any:
        return x


globals().update(SequentialCatalogue(SequentialLayer()).functions())
