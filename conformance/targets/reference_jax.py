"""Reference JAX implementation of every contract name in the loss catalogue::

    pytest --pyargs conformance --impl=conformance.targets.reference_jax

The formulas are :class:`conformance.targets.catalogue.Catalogue`'s, written once for every
framework; this module is JAX's array layer under them (``jax.numpy``, ``lax.stop_gradient``,
``jnp.take_along_axis``) and exports the catalogue's functions: ``jax.Array`` in and out,
configuration values as Python numbers or NumPy arrays, closures for the Faster R-CNN losses.

Everything works under ``jax.jit`` (configuration values static, closed over): no Python control
flow on array values, all shapes static.  float64 needs ``jax_enable_x64``.  Bad labels and indices
give NaN (JAX cannot raise on values under ``jit``, and gathers clamp): never a silent finite value.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from conformance.targets.catalogue import NAMES, Catalogue
from conformance.targets.layer import ArrayLayer

__all__ = [*NAMES, "REFERENCE", "JaxLayer"]


class JaxLayer(ArrayLayer):
    """The catalogue's array layer on JAX: ``jax.numpy`` under the names the catalogue uses."""

    stop_gradient = staticmethod(jax.lax.stop_gradient)
    atan2 = staticmethod(jnp.arctan2)

    def __getattr__(self, name: str) -> Any:  # where, exp, sum, ...: jax.numpy's own
        return getattr(jnp, name)

    def is_tensor(self, x: Any) -> bool:
        return isinstance(x, jax.Array)

    def tensor(self, x: Any) -> jax.Array:
        return jnp.asarray(x)

    def from_numpy(self, a: np.ndarray) -> jax.Array:
        return jnp.asarray(a)

    def dtype(self, x: Any) -> str:
        return str(x.dtype)

    def cast(self, x: Any, dtype: Any) -> jax.Array:
        return jnp.asarray(x).astype(dtype)

    def const(self, value: Any, dtype: Any) -> jax.Array:
        return super().const(value, str(jnp.dtype(dtype)))

    def rank(self, x: Any) -> int:
        return x.ndim

    def shape(self, x: Any) -> tuple:
        return tuple(x.shape)

    def one_hot(self, k: Any, n: int, axis: int = -1, dtype: str = "float32") -> jax.Array:
        return jax.nn.one_hot(k, n, axis=axis, dtype=dtype)

    def gather_rows(self, flat: jax.Array, idx: jax.Array) -> jax.Array:
        return jnp.take_along_axis(flat, idx[..., None], axis=1)


REFERENCE = Catalogue(JaxLayer())
globals().update(REFERENCE.functions())
