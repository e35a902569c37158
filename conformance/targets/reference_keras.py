"""Reference Keras 3 implementation of every contract name, on whichever backend ``KERAS_BACKEND`` selects::

    KERAS_BACKEND=jax pytest --pyargs conformance --impl=conformance.targets.reference_keras

The formulas are :class:`conformance.targets.catalogue.Catalogue`'s, written once for every
framework; this module is the Keras 3 array layer under them: ``keras.ops`` only (with Python
arithmetic on the backend's tensors), so tensors in and out are the backend's own
(``tf.Tensor`` on TensorFlow).  Out-of-range class labels and gather indices give NaN (no
backend-agnostic assertion exists inside a traced function).

One ``keras.ops`` function is replaced: ``ops.arctan2``, which Keras 3.15 evaluates in float32 also
for float64 input on the JAX and PyTorch backends (its dtype promotion maps 64-bit types to 32-bit
off TensorFlow); here an octant reduction and Cephes' rational approximation of atan.  (The
catalogue's mean is a sum over a count for the same reason.)  On JAX, float64 needs
``jax_enable_x64``.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from conformance.targets.catalogue import NAMES, Catalogue
from conformance.targets.layer import ArrayLayer

__all__ = [*NAMES, "REFERENCE", "KerasLayer"]

# Cephes' atan: x + x·z·P(z)/Q(z), z = x², on |x| ≤ 0.66, accurate to float64 precision.
_ATAN_P = (-8.750608600031904122785e-1, -1.615753718733365076637e1, -7.500855792314704667340e1,
           -1.228866684490136173410e2, -6.485021904942025371773e1)
_ATAN_Q = (2.485846490142306297962e1, 1.650270098316988542046e2, 4.328810604912902668951e2,
           4.853903996359136964868e2, 1.945506571482613964425e2)
_ATAN_MOREBITS = 6.123233995736765886130e-17  # π/2 − fl(π/2) in float64


def _atan_unit(layer: ArrayLayer, r: Any) -> Any:
    """atan(r) for 0 ≤ r ≤ 1 (value only: callers hold it constant in the gradient)."""
    dtype = ops.dtype(r)
    big = r > 0.66
    x = ops.where(big, (r - 1) / (r + 1), r)  # atan(r) = π/4 + atan((r − 1)/(r + 1)); |x| ≤ 0.66
    z = x * x
    p = layer.const(_ATAN_P[0], dtype)
    for c in _ATAN_P[1:]:
        p = p * z + layer.const(c, dtype)
    q = z + layer.const(_ATAN_Q[0], dtype)
    for c in _ATAN_Q[1:]:
        q = q * z + layer.const(c, dtype)
    small = x + x * (z * p / q)
    return ops.where(big, layer.const(np.pi / 4, dtype) + (small + layer.const(0.5 * _ATAN_MOREBITS, dtype)), small)


class KerasLayer(ArrayLayer):
    """The catalogue's array layer on Keras 3: ``keras.ops`` under the names the catalogue uses."""

    def __getattr__(self, name: str) -> Any:  # where, exp, sum, ...: keras.ops' own
        return getattr(ops, name)

    def is_tensor(self, x: Any) -> bool:
        return ops.is_tensor(x) or isinstance(x, keras.Variable)

    def tensor(self, x: Any) -> Any:
        return x if self.is_tensor(x) else ops.convert_to_tensor(x)

    def from_numpy(self, a: np.ndarray) -> Any:
        return ops.convert_to_tensor(a)

    def dtype(self, x: Any) -> str:
        return ops.dtype(x)

    def cast(self, x: Any, dtype: str) -> Any:
        return ops.cast(self.tensor(x), dtype)

    def shape(self, x: Any) -> tuple:
        return tuple(ops.shape(x))

    def rank(self, x: Any) -> int | None:
        try:
            return len(x.shape)
        except (TypeError, ValueError):  # unknown rank (a TensorFlow graph tensor)
            return None

    def gather_rows(self, flat: Any, idx: Any) -> Any:
        idx = ops.expand_dims(idx, -1)
        return ops.take_along_axis(flat, ops.concatenate([idx] * flat.shape[-1], axis=-1), axis=1)

    def atan2(self, y: Any, x: Any) -> Any:
        """atan2(y, x) to a few ulps in every dtype (y = −0 counts as +0), with the gradient (x, −y)/(x² + y²).

        The octant is reduced to atan(r), 0 ≤ r ≤ 1, evaluated with Cephes' rational approximation; the
        gradient is formed from (x, y) scaled by max(|x|, |y|), so that x² + y² cannot underflow.  (0, 0)
        gives 0 with gradient 0.
        """
        dtype = ops.dtype(x)
        ay, ax = ops.abs(y), ops.abs(x)
        steep = ay > ax
        num = ops.where(steep, ax, ay)
        big = ops.where(steep, ay, ax)
        zero = ops.equal(big, 0)
        big = ops.where(zero, ops.ones_like(big), big)
        t = _atan_unit(self, num / big)
        t = ops.where(steep, self.const(np.pi / 2, dtype) - t, t)
        t = ops.where(x < 0, self.const(np.pi, dtype) - t, t)
        t = ops.where(y < 0, -t, t)
        m = ops.stop_gradient(big)
        xn, yn = ops.stop_gradient(x / m), ops.stop_gradient(y / m)
        norm = ops.where(zero, ops.ones_like(m), m * (xn * xn + yn * yn))
        surrogate = (xn * y - yn * x) / ops.stop_gradient(norm)
        delta = ops.where(ops.isfinite(surrogate), surrogate - ops.stop_gradient(surrogate), ops.zeros_like(t))
        return ops.stop_gradient(t) + delta


REFERENCE = Catalogue(KerasLayer())
globals().update(REFERENCE.functions())
