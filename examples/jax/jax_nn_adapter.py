"""An adapter exposing ``jax.nn`` functions under the contract's names and signatures (docs/contracts.md).

Run it with ``pytest --pyargs conformance --impl=examples/jax/jax_nn_adapter.py --framework=jax``.
Only the names defined here are checked; the others are reported "not provided".
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def sigmoid(x: jax.Array) -> jax.Array:
    return jax.nn.sigmoid(x)


def softmax(logits: jax.Array, axis: int = -1) -> jax.Array:
    return jax.nn.softmax(logits, axis=axis)


def softmax_cross_entropy_with_logits(labels: jax.Array = None, logits: jax.Array = None, axis: int = -1) -> jax.Array:
    return -jnp.sum(labels * jax.nn.log_softmax(logits, axis=axis), axis=axis)


def sigmoid_cross_entropy_with_logits(labels: jax.Array = None, logits: jax.Array = None) -> jax.Array:
    # optax.sigmoid_binary_cross_entropy(logits, labels) computes the same: -labels·log σ(x) - (1-labels)·log σ(-x)
    return -labels * jax.nn.log_sigmoid(logits) - (1 - labels) * jax.nn.log_sigmoid(-logits)
