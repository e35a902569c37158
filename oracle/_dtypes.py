"""Rounding to the floating types an implementation under test may hold its constants in.

The oracle evaluates in float64 but reproduces constants such as ``ε_k = 1e-7`` and
``1 − ε_k`` as they look in the implementation's dtype (FP16-CLIP, docs/oracle.md
``constants_dtype``).  ``bfloat16`` is emulated without extra packages: the value is
rounded to float32 and then to bfloat16 with round-to-nearest-even on the bits, which
is how TensorFlow/Eigen convert a Python float to bfloat16.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")


def dtype_name(value: Any, argname: str = "constants_dtype") -> str:
    """Normalise a dtype given as a name, NumPy type/dtype or object with ``.name``.

    Returns one of :data:`FLOAT_DTYPES`; anything else raises ``ValueError`` naming
    ``argname``.
    """
    if value is None:
        name = "None"  # np.dtype(None) would mean float64
    elif isinstance(value, str):
        name = value
    elif isinstance(getattr(value, "name", None), str):  # np.dtype, tf.DType
        name = value.name
    else:
        try:
            name = np.dtype(value).name  # np.float32, float, ml_dtypes.bfloat16
        except TypeError:
            name = repr(value)
    if name not in FLOAT_DTYPES:
        raise ValueError(f"{argname}: expected one of {FLOAT_DTYPES}, got {value!r}")
    return name


def _to_bfloat16(x: np.ndarray) -> np.ndarray:
    """float64 -> float32 -> bfloat16 (round to nearest even on the bits) -> float64."""
    with np.errstate(over="ignore"):
        f = x.astype(np.float32)
    bits = f.view(np.uint32).astype(np.uint64)
    bits = (bits + np.uint64(0x7FFF) + ((bits >> np.uint64(16)) & np.uint64(1))) & np.uint64(0xFFFF0000)
    out = bits.astype(np.uint32).view(np.float32).astype(np.float64)
    return np.where(np.isnan(x), x, out)


def round_to(dtype: Any, x: Any) -> Any:
    """Round ``x`` (float64) to the nearest value of ``dtype``; returned as float64.

    ``dtype`` is one of ``"float16"``, ``"bfloat16"``, ``"float32"``, ``"float64"``
    (or anything :func:`dtype_name` accepts).  Overflow gives ±inf, as a cast does.
    A scalar in gives a NumPy float64 scalar out, an array gives an array.
    """
    name = dtype_name(dtype, "dtype")
    arr = np.asarray(x, dtype=np.float64)
    if name == "float64":
        out = arr.copy()
    elif name == "bfloat16":
        out = _to_bfloat16(arr)
    else:
        with np.errstate(over="ignore"):
            out = arr.astype(name).astype(np.float64)
    return out[()]


def clip_bounds(eps: float, dtype: Any) -> tuple[float, float]:
    """``(lo, hi)`` of ``clip(p, ε, 1 − ε)`` with the constants held in ``dtype``.

    ``lo = dtype(ε)`` and ``hi = dtype(1) − dtype(ε)`` computed as the dtype's own
    subtraction does (for the narrower dtypes the float64 difference is exact, so
    rounding it once to ``dtype`` is that subtraction).  For ε = 1e-7 and ε = 1e-6
    this equals ``dtype(1 − ε)`` (Keras 3's form) in every supported dtype.
    """
    lo = float(round_to(dtype, eps))
    hi = float(round_to(dtype, 1.0 - lo))
    return lo, hi
