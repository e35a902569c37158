"""Contract names over legacy Keras 2 (package ``tf_keras``, ``tf_keras.backend`` and ``tf_keras.losses``).

    pytest --pyargs conformance --impl=conformance.targets.tf_keras_backend

Adapts tf-keras (written against 2.21, the Keras 2 that ``tf.keras`` meant before Keras 3;
``import tf_keras as keras``) to the ``nn`` family of the contract
(the contract (docs/contracts.md)).  This is the backend the Faster R-CNN documents call
as ``K.binary_crossentropy`` / ``K.categorical_crossentropy``.

- ``sigmoid``, ``softmax``: ``tf_keras.backend.sigmoid`` / ``softmax(x, axis)``.
- ``binary_crossentropy``, ``categorical_crossentropy``: the backend functions themselves,
  (target, output) order, elementwise / reducing ``axis``.  BCE follows clipping
  convention ("keras-legacy": clip, then log(P + ε_k) and log(1 − P + ε_k)).
- ``sigmoid_cross_entropy_with_logits``, ``softmax_cross_entropy_with_logits``,
  ``sparse_softmax_cross_entropy_with_logits``: the same backend functions with
  ``from_logits=True`` (labels, logits) = (target, output).
- ``kl_divergence``: ``tf_keras.losses.kl_divergence``, last axis only, so the contract's
  ``axis`` is moved to the end first (exact).  It clips both p and q to [ε_k, 1] (the
  contract does not clip); left for the suite to judge.
- ``smooth_l1``: ``tf_keras.losses.huber(0, x, delta=1)`` on an appended axis of length 1
  (huber averages over the last axis; the mean of one element is that element).
  ``huber`` casts its inputs to ``backend.floatx()`` (float32 by default): run it at
  float32 only.

Not provided (no tf-keras function with these semantics): ``weighted_cross_entropy_with_logits``,
``entropy`` and the detection losses.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
from tf_keras import backend as K
from tf_keras import losses

__all__ = [
    "sigmoid", "softmax", "sigmoid_cross_entropy_with_logits", "softmax_cross_entropy_with_logits",
    "sparse_softmax_cross_entropy_with_logits", "binary_crossentropy", "categorical_crossentropy", "kl_divergence",
    "smooth_l1",
]


def sigmoid(x: Any) -> tf.Tensor:
    return K.sigmoid(x)


def softmax(logits: Any, axis: int = -1) -> tf.Tensor:
    return K.softmax(logits, axis=axis)


def sigmoid_cross_entropy_with_logits(labels: Any, logits: Any) -> tf.Tensor:
    return K.binary_crossentropy(labels, logits, from_logits=True)


def softmax_cross_entropy_with_logits(labels: Any, logits: Any, axis: int = -1) -> tf.Tensor:
    return K.categorical_crossentropy(labels, logits, from_logits=True, axis=axis)


def sparse_softmax_cross_entropy_with_logits(labels: Any, logits: Any) -> tf.Tensor:
    return K.sparse_categorical_crossentropy(labels, logits, from_logits=True)


def binary_crossentropy(target: Any, output: Any) -> tf.Tensor:
    return K.binary_crossentropy(target, output)


def categorical_crossentropy(target: Any, output: Any, axis: int = -1) -> tf.Tensor:
    return K.categorical_crossentropy(target, output, axis=axis)


def kl_divergence(p: Any, q: Any, axis: int = -1) -> tf.Tensor:
    # tf_keras.losses.kl_divergence reduces the last axis only: move the contract's axis there.
    p, q = tf.experimental.numpy.moveaxis(p, axis, -1), tf.experimental.numpy.moveaxis(q, axis, -1)
    return losses.kl_divergence(p, q)


def smooth_l1(x: Any) -> tf.Tensor:
    # huber averages over the last axis: give it a last axis of length 1.
    x = tf.expand_dims(x, -1)
    return losses.huber(tf.zeros_like(x), x, delta=1.0)
