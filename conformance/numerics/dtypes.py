"""Floating-point facts per dtype under test, with bfloat16 handled by hand.

NumPy has no bfloat16 (and its ULP helpers ``np.spacing`` / ``np.nextafter`` do not
know it), so bfloat16 values travel as float64 arrays holding bfloat16 values.
Rounding is done on the float64 value directly (8 significant bits, float32's
exponent range), ULP ordering on the bfloat16 bit patterns.

Note on bfloat16 rounding: TensorFlow's and ml_dtypes' float64 -> bfloat16 casts go
through float32 and so round twice; they differ from :func:`round_to` (correctly
rounded) by one ulp for float64 values just beyond a bfloat16 midpoint.  Inputs are
unaffected: :func:`conformance.runners.tf.prepare` hands TensorFlow values that are
already exact in the dtype.
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
    "bfloat16": DtypeInfo("bfloat16", 2.0**-8, 2.0**-126, (2.0 - 2.0**-7) * 2.0**127, 7),
    "float32": DtypeInfo("float32", 2.0**-24, float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max), 23),
    "float64": DtypeInfo("float64", 2.0**-53, float(np.finfo(np.float64).tiny), float(np.finfo(np.float64).max), 52),
}


def info(dtype: str) -> DtypeInfo:
    """The :class:`DtypeInfo` for ``dtype`` (one of :data:`DTYPES`)."""
    try:
        return _INFO[dtype]
    except KeyError:
        raise ValueError(f"dtype: expected one of {DTYPES}, got {dtype!r}") from None


def _round_precision(x: np.ndarray, d: DtypeInfo) -> np.ndarray:
    """Round float64 ``x`` to ``d.mantissa_bits + 1`` significant bits, nearest, ties to even, with
    gradual underflow below ``d.tiny`` and overflow to ±inf at ``d.max`` + half an ulp (all exact in float64)."""
    p = d.mantissa_bits + 1
    emin = int(np.round(np.log2(d.tiny)))
    _, e = np.frexp(x)  # x = m 2^e, 1/2 <= |m| < 1: the ulp of the rounded value is 2^(e - p)
    q = np.maximum(e.astype(np.int64) - p, emin - p + 1)
    with np.errstate(over="ignore", invalid="ignore"):
        r = np.ldexp(np.rint(np.ldexp(x, -q)), q)  # np.rint: round half to even
        return np.where(np.abs(r) > d.max, np.copysign(np.inf, x), r)


def round_to(dtype: str, x: np.ndarray) -> np.ndarray:
    """Round float64 values to ``dtype`` (nearest, ties to even; correctly rounded) and return them as float64.

    Subnormals of the dtype are kept (flushing them is the caller's choice); values at or
    beyond the dtype's largest finite value plus half an ulp become ±inf.
    """
    x = np.asarray(x, dtype=np.float64)
    if dtype == "float64":
        return x.copy()
    if dtype in ("float16", "float32"):
        with np.errstate(over="ignore"):
            return x.astype(dtype).astype(np.float64)
    if dtype == "bfloat16":
        return _round_precision(x, _INFO["bfloat16"])
    info(dtype)
    raise AssertionError("unreachable")


def _bits(dtype: str, x: np.ndarray) -> np.ndarray:
    """Sign-magnitude bit patterns of ``x`` rounded to ``dtype``, as (negative?, magnitude bits as int64)."""
    if dtype == "float64":
        u = x.view(np.uint64)
        return (u >> np.uint64(63)).astype(bool), (u & np.uint64(0x7FFFFFFFFFFFFFFF)).astype(np.int64)
    if dtype == "float32":
        with np.errstate(over="ignore"):
            x = x.astype(np.float32)
        u = x.view(np.uint32).astype(np.int64)
        return u >= 0x80000000, u & 0x7FFFFFFF
    if dtype == "float16":
        with np.errstate(over="ignore"):
            x = x.astype(np.float16)
        u = x.view(np.uint16).astype(np.int64)
        return u >= 0x8000, u & 0x7FFF
    if dtype == "bfloat16":  # a bfloat16 value is a float32 whose low 16 bits are zero
        u = round_to("bfloat16", x).astype(np.float32).view(np.uint32).astype(np.int64) >> 16
        return u >= 0x8000, u & 0x7FFF
    info(dtype)
    raise AssertionError("unreachable")


def ordinal(dtype: str, x: np.ndarray) -> np.ndarray:
    """Map values of ``dtype`` to int64 so that adjacent floats differ by 1 (-0 and +0 coincide, ±inf are the
    ends, NaN gets a meaningless ordinal)."""
    x = np.asarray(x, dtype=np.float64)
    neg, mag = _bits(dtype, x)
    return np.where(neg, -mag, mag)


def ulp_distance(dtype: str, actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """ULP distance in ``dtype`` between ``actual`` and ``expected`` rounded to ``dtype``.

    Exact (int64) for every pair; only float64 pairs of opposite sign whose distance
    exceeds 2**63 - 1 (both magnitudes above ~1.5e154) saturate there.  NaN anywhere gives -1.
    """
    a = np.asarray(actual, dtype=np.float64)
    e = round_to(dtype, np.asarray(expected, dtype=np.float64))
    a, e = np.broadcast_arrays(a, e)
    oa, oe = ordinal(dtype, a), ordinal(dtype, e)
    same_side = (oa >= 0) == (oe >= 0)
    # same sign: |oa - oe| fits int64; opposite signs: |oa| + |oe| may not (float64 only), so add in uint64
    close = np.abs(np.where(same_side, oa - oe, 0))
    far = np.abs(oa).astype(np.uint64) + np.abs(oe).astype(np.uint64)
    far = np.minimum(far, np.uint64(np.iinfo(np.int64).max)).astype(np.int64)
    d = np.where(same_side, close, far)
    return np.where(np.isnan(a) | np.isnan(e), -1, d)
