"""The array layer the reference catalogue is written over: what genuinely differs between frameworks.

:class:`conformance.targets.catalogue.Catalogue` writes every formula once against an object with
this interface (``o.where``, ``o.exp``, ``o.sum``, ...: the names and calls of ``keras.ops`` / NumPy).
A framework's reference module subclasses :class:`ArrayLayer` and supplies its tensors and a handful
of named primitives; everything with a framework-specific meaning is one method here:

- tensors and dtypes: ``tensor``, ``is_tensor``, ``dtype`` (a string: ``"float32"``), ``cast``,
  ``from_numpy`` (constants are rounded once from float64 by :meth:`ArrayLayer.const`, bfloat16
  through float32 as TensorFlow converts Python floats);
- ``shape`` (static sizes, the framework's dynamic size where one is unknown) and ``rank``;
- ``stop_gradient``;
- ``gather_rows`` (the CenterNet gather; every caller passes in-range indices, so how a framework
  treats an out-of-range one, clamp, raise or garbage, never matters);
- ``assert_all`` (an in-range assertion that raises where the framework can: TensorFlow eager and
  ``tf.function``, PyTorch; elsewhere a no-op, and the formulas return NaN for the bad entries);
- ``on_device_of`` (PyTorch: constants that are not scalars follow the inputs' device);
- ``atan2`` (native, except on Keras 3, whose ``ops.arctan2`` is float32 on JAX and PyTorch).

No custom gradients anywhere: every accurate gradient comes from plain autodiff of a stop-gradient
form (see the catalogue), which behaves alike under TensorFlow, JAX, PyTorch and Keras 3.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FLOATS = ("float16", "bfloat16", "float32", "float64")


class ArrayLayer:
    """The operations the catalogue uses, with generic definitions where one serves every framework.

    Subclasses define the elementwise and reduction operations (``where exp log log1p abs power sum max
    argmax one_hot arange reshape expand_dims concatenate broadcast_to zeros_like ones_like isfinite isnan
    isinf equal not_equal all size``) with NumPy's names and arguments, ``stop_gradient`` and ``atan2``, plus
    the named primitives below.
    """

    # --- tensors and dtypes (framework-specific) -------------------------------------------------------------

    def is_tensor(self, x: Any) -> bool:
        raise NotImplementedError

    def tensor(self, x: Any) -> Any:
        """``x`` as a tensor (tensors pass through; float64 NumPy data stays float64)."""
        raise NotImplementedError

    def from_numpy(self, a: np.ndarray) -> Any:
        raise NotImplementedError

    def dtype(self, x: Any) -> str:
        raise NotImplementedError

    def cast(self, x: Any, dtype: str) -> Any:
        raise NotImplementedError

    def shape(self, x: Any) -> tuple:
        """Static sizes where known (ints), the framework's dynamic size elsewhere."""
        raise NotImplementedError

    def rank(self, x: Any) -> int | None:
        """The static rank, None where unknown."""
        raise NotImplementedError

    def gather_rows(self, flat: Any, idx: Any) -> Any:
        """``flat[b, idx[b, k], :]`` for (B, N, C) ``flat`` and in-range (B, K) ``idx``: (B, K, C)."""
        raise NotImplementedError

    def on_device_of(self, x: Any, ref: Any) -> Any:
        """``x`` (a constant made here) on ``ref``'s device, where the framework does not place it itself."""
        return x

    def assert_all(self, ok: Any, message: str) -> Any:
        """``ok`` (a boolean tensor), asserted all-true where the framework can raise from traced code."""
        return ok

    # --- generic -------------------------------------------------------------------------------------------

    def as_float(self, x: Any) -> Any:
        """A floating tensor; non-float input (integers, booleans) becomes float32."""
        t = self.tensor(x)
        return t if self.dtype(t) in FLOATS else self.cast(t, "float32")

    def const(self, value: Any, dtype: str) -> Any:
        """A configuration value or constant in ``dtype``, rounded once from its float64 value.

        bfloat16 goes through float32, as TensorFlow converts Python floats (and as the oracle's
        ``constants_dtype`` reproduces them).
        """
        if self.is_tensor(value):
            return self.cast(value, dtype)
        arr = np.asarray(value, dtype=np.float64)
        if dtype == "bfloat16":
            return self.cast(self.from_numpy(arr.astype(np.float32)), dtype)
        return self.from_numpy(arr.astype(np.dtype(dtype)))

    def full_like(self, x: Any, value: float) -> Any:
        return self.zeros_like(x) + self.const(value, self.dtype(x))
