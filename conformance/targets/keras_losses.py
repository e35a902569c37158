"""Contract names over Keras 3's own losses and ops (``keras.losses``, ``keras.ops``).

    pytest --pyargs conformance --impl=conformance.targets.keras_losses

Adapts Keras 3 (written against 3.15, TensorFlow backend) to the ``nn`` family of the
contract (the contract (docs/contracts.md)).  Only names whose Keras semantics match the
contract are provided; each adaptation is a change of calling convention, never of the
formula:

- ``sigmoid``, ``softmax``: ``keras.ops.sigmoid`` / ``keras.ops.softmax``.
- ``sigmoid_cross_entropy_with_logits``, ``softmax_cross_entropy_with_logits``,
  ``sparse_softmax_cross_entropy_with_logits``: ``keras.ops.binary_crossentropy``,
  ``keras.ops.categorical_crossentropy`` and ``keras.ops.sparse_categorical_crossentropy``
  with ``from_logits=True``; argument order (target, output) = (labels, logits).
- ``binary_crossentropy``: ``keras.losses.binary_crossentropy`` (clipping convention keras-ops,
  "keras-ops").  That loss is elementwise BCE *averaged over the last axis*; the contract
  is elementwise, so the adapter appends an axis of length 1 and removes it again: the
  mean over one element is the element itself, exactly.
- ``categorical_crossentropy``: ``keras.losses.categorical_crossentropy`` with ``axis``;
  it reduces that one axis by a sum (normalise, clip, log), as the contract does.
- ``kl_divergence``: ``keras.losses.kl_divergence``, which only reduces the last axis:
  the adapter moves the contract's ``axis`` to the end first (a transposition, exact).
  Keras clips *both* p and q to [ε_k, 1] before p·log(p/q); the contract has no clip and
  0·log 0 = 0.  That is a convention of the library and is left for the suite to judge.
- ``smooth_l1``: ``keras.losses.huber`` with ``delta=1`` (0.5·x² for |x| ≤ 1, else
  |x| − 0.5 — the same function), on (y_true, y_pred) = (0, x), averaged over an appended
  axis of length 1 as for BCE.

Not provided (no Keras 3 function with these semantics): ``weighted_cross_entropy_with_logits``
and ``entropy``, and every detection loss (Keras' box IoU functions are adapted in
``keras_boxes``).
"""

from __future__ import annotations

from typing import Any

import keras

__all__ = [
    "sigmoid", "softmax", "sigmoid_cross_entropy_with_logits", "softmax_cross_entropy_with_logits",
    "sparse_softmax_cross_entropy_with_logits", "binary_crossentropy", "categorical_crossentropy", "kl_divergence",
    "smooth_l1",
]


def sigmoid(x: Any) -> Any:
    return keras.ops.sigmoid(x)


def softmax(logits: Any, axis: int = -1) -> Any:
    return keras.ops.softmax(logits, axis=axis)


def sigmoid_cross_entropy_with_logits(labels: Any, logits: Any) -> Any:
    return keras.ops.binary_crossentropy(labels, logits, from_logits=True)


def softmax_cross_entropy_with_logits(labels: Any, logits: Any, axis: int = -1) -> Any:
    return keras.ops.categorical_crossentropy(labels, logits, from_logits=True, axis=axis)


def sparse_softmax_cross_entropy_with_logits(labels: Any, logits: Any) -> Any:
    return keras.ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)


def binary_crossentropy(target: Any, output: Any) -> Any:
    # keras.losses.binary_crossentropy averages over the last axis: give it a last axis of length 1.
    t, p = keras.ops.expand_dims(target, -1), keras.ops.expand_dims(output, -1)
    return keras.losses.binary_crossentropy(t, p)


def categorical_crossentropy(target: Any, output: Any, axis: int = -1) -> Any:
    return keras.losses.categorical_crossentropy(target, output, axis=axis)


def kl_divergence(p: Any, q: Any, axis: int = -1) -> Any:
    # keras.losses.kl_divergence reduces the last axis only: move the contract's axis there.
    p, q = keras.ops.moveaxis(p, axis, -1), keras.ops.moveaxis(q, axis, -1)
    return keras.losses.kl_divergence(p, q)


def smooth_l1(x: Any) -> Any:
    # huber(y_true, y_pred) averages over the last axis: give it a last axis of length 1.
    x = keras.ops.expand_dims(x, -1)
    return keras.losses.huber(keras.ops.zeros_like(x), x, delta=1.0)

