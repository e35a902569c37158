"""Floating-point facts per dtype under test, with bfloat16 handled by hand.

NumPy has no bfloat16, so bfloat16 values travel as float32 arrays whose low
16 bits are zero; rounding and ULP ordering are done on the bit patterns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DTYPES = ("float16", "bfloat16", "float32", "float64")


@dataclass(frozen=True)
class DtypeInfo:
    """Unit roundoff, smallest normal and largest finite value of a dtype."""

    name: str
    unit_roundoff: float
    tiny: float
    max: float
    mantissa_bits: int


_INFO = {
    "float16": DtypeInfo("float16", 2.0**-11, float(np.finfo(np.float16).tiny), float(np.finfo(np.float16).max), 10),
    "bfloat16": DtypeInfo("bfloat16", 2.0**-8, float(np.finfo(np.float32).tiny), 3.3895313892515355e38, 7),
    "float32": DtypeInfo("float32", 2.0**-24, float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max), 23),
    "float64": DtypeInfo("float64", 2.0**-53, float(np.finfo(np.float64).tiny), float(np.finfo(np.float64).max), 52),
}


def info(dtype: str) -> DtypeInfo:
    """The :class:`DtypeInfo` for ``dtype`` (one of :data:`DTYPES`)."""
    try:
        return _INFO[dtype]
    except KeyError:
        raise ValueError(f"dtype: expected one of {DTYPES}, got {dtype!r}") from None


def round_to(dtype: str, x: np.ndarray) -> np.ndarray:
    """Round float64 values to ``dtype`` (nearest, ties to even) and return them as float64."""
    x = np.asarray(x, dtype=np.float64)
    if dtype == "float64":
        return x.copy()
    if dtype in ("float16", "float32"):
        with np.errstate(over="ignore"):
            return x.astype(dtype).astype(np.float64)
    if dtype == "bfloat16":
        with np.errstate(over="ignore"):
            f32 = np.atleast_1d(x).astype(np.float32)
        bits = f32.view(np.uint32).astype(np.uint64)
        nan = np.isnan(f32)
        rounding = ((bits >> 16) & 1) + 0x7FFF
        bits = ((bits + rounding) >> 16) << 16
        out = bits.astype(np.uint32).view(np.float32).astype(np.float64)
        return np.where(nan, np.nan, out).reshape(x.shape)
    info(dtype)
    raise AssertionError("unreachable")


def ordinal(dtype: str, x: np.ndarray) -> np.ndarray:
    """Map values of ``dtype`` to int64 so that adjacent floats differ by 1 (-0 and +0 coincide)."""
    x = np.asarray(x, dtype=np.float64)
    if dtype == "float64":
        bits = x.view(np.int64)
        return np.where(bits < 0, np.int64(-0x8000000000000000) - bits, bits).astype(np.int64)
    if dtype == "float32":
        bits = x.astype(np.float32).view(np.int32).astype(np.int64)
        return np.where(bits < 0, -(bits & 0x7FFFFFFF), bits)
    if dtype == "float16":
        bits = x.astype(np.float16).view(np.int16).astype(np.int64)
        return np.where(bits < 0, -(bits & 0x7FFF), bits)
    if dtype == "bfloat16":
        bits = (round_to("bfloat16", x).astype(np.float32).view(np.int32).astype(np.int64)) >> 16
        return np.where(bits < 0, -(bits & 0x7FFF), bits)
    info(dtype)
    raise AssertionError("unreachable")


def ulp_distance(dtype: str, actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """ULP distance in ``dtype`` between ``actual`` and ``expected`` rounded to ``dtype``.

    Computed on int64 ordinals, so far-apart values of opposite sign do not
    overflow; float64 distances saturate at 2**62.  NaN anywhere gives -1.
    """
    a = np.asarray(actual, dtype=np.float64)
    e = round_to(dtype, np.asarray(expected, dtype=np.float64))
    oa, oe = ordinal(dtype, a), ordinal(dtype, e)
    if dtype == "float64":
        # avoid int64 overflow for opposite signs near the extremes
        d = np.abs(oa.astype(np.float64) - oe.astype(np.float64))
        d = np.minimum(d, 2.0**62).astype(np.int64)
    else:
        d = np.abs(oa - oe)
    return np.where(np.isnan(a) | np.isnan(e), -1, d)
