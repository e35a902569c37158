"""Reference TensorFlow implementation of every contract name in the loss catalogue::

    pytest --pyargs conformance --impl=conformance.targets.reference

The formulas are :class:`conformance.targets.catalogue.Catalogue`'s, written once for every
framework; this module is TensorFlow's array layer under them (tensors in the input's dtype,
``tf.stop_gradient``, ``tf.gather``, ``tf.debugging`` assertions) and exports the catalogue's
functions, e.g. ``reference.bbox_iou(boxes1, boxes2)``.

Everything traces under ``tf.function`` and ``tf.function(jit_compile=True)`` (one trace per input
signature): there is no Python control flow on tensor values.  Bad indices never give a silent
finite value: ``sparse_softmax_cross_entropy_with_logits`` and ``reg_l1_loss`` assert that their
labels / indices are in range (raises in eager and in ``tf.function``) and also return NaN for
out-of-range ones, which covers XLA, where assertions are dropped and gathers clamp.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from conformance.targets.catalogue import NAMES, Catalogue
from conformance.targets.layer import ArrayLayer

__all__ = [*NAMES, "REFERENCE", "TensorFlowLayer"]


class TensorFlowLayer(ArrayLayer):
    """The catalogue's array layer on TensorFlow 2 (eager, ``tf.function`` and XLA)."""

    where = staticmethod(tf.where)
    exp = staticmethod(tf.exp)
    log = staticmethod(tf.math.log)
    log1p = staticmethod(tf.math.log1p)
    abs = staticmethod(tf.abs)
    power = staticmethod(tf.pow)
    reshape = staticmethod(tf.reshape)
    expand_dims = staticmethod(tf.expand_dims)
    broadcast_to = staticmethod(tf.broadcast_to)
    zeros_like = staticmethod(tf.zeros_like)
    ones_like = staticmethod(tf.ones_like)
    isfinite = staticmethod(tf.math.is_finite)
    isnan = staticmethod(tf.math.is_nan)
    isinf = staticmethod(tf.math.is_inf)
    equal = staticmethod(tf.equal)
    not_equal = staticmethod(tf.not_equal)
    all = staticmethod(tf.reduce_all)
    size = staticmethod(tf.size)
    stop_gradient = staticmethod(tf.stop_gradient)
    atan2 = staticmethod(tf.math.atan2)

    def is_tensor(self, x: Any) -> bool:
        return isinstance(x, (tf.Tensor, tf.Variable))

    def tensor(self, x: Any) -> tf.Tensor:
        return x if self.is_tensor(x) else tf.convert_to_tensor(x)

    def from_numpy(self, a: np.ndarray) -> tf.Tensor:
        return tf.constant(a)

    def dtype(self, x: Any) -> str:
        return x.dtype.name

    def cast(self, x: Any, dtype: Any) -> tf.Tensor:
        return tf.cast(self.tensor(x), dtype)

    def const(self, value: Any, dtype: Any) -> tf.Tensor:
        return super().const(value, tf.as_dtype(dtype).name)

    def rank(self, x: Any) -> int | None:
        return x.shape.rank

    def shape(self, x: Any) -> tuple:
        dynamic = tf.shape(x) if None in x.shape else None
        return tuple(d if d is not None else dynamic[i] for i, d in enumerate(x.shape))

    def sum(self, x: Any, axis: Any = None, keepdims: bool = False) -> tf.Tensor:
        return tf.reduce_sum(x, axis=axis, keepdims=keepdims)

    def max(self, x: Any, axis: Any = None, keepdims: bool = False) -> tf.Tensor:
        return tf.reduce_max(x, axis=axis, keepdims=keepdims)

    def argmax(self, x: Any, axis: int, keepdims: bool = False) -> tf.Tensor:
        i = tf.argmax(x, axis=axis)
        return tf.expand_dims(i, axis) if keepdims else i

    def one_hot(self, k: Any, n: int, axis: int = -1, dtype: str = "float32") -> tf.Tensor:
        return tf.one_hot(k, n, axis=axis, dtype=dtype)

    def arange(self, n: Any, dtype: str = "int32") -> tf.Tensor:
        return tf.range(n, dtype=dtype)

    def concatenate(self, xs: list, axis: int = 0) -> tf.Tensor:
        return tf.concat(xs, axis=axis)

    def gather_rows(self, flat: tf.Tensor, idx: tf.Tensor) -> tf.Tensor:
        return tf.gather(flat, idx, batch_dims=1)

    def assert_all(self, ok: tf.Tensor, message: str) -> tf.Tensor:
        with tf.control_dependencies([tf.debugging.Assert(tf.reduce_all(ok), [message])]):
            return tf.identity(ok)


REFERENCE = Catalogue(TensorFlowLayer())
globals().update(REFERENCE.functions())
