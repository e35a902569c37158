"""conformance.numerics.dtypes: rounding, ordinals and ULP distances, bfloat16 included, against brute force."""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pytest

from conformance.numerics.dtypes import DTYPES, info, ordinal, round_to, ulp_distance


def _all_values(dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """(bit patterns, float64 values) of every finite non-negative value of a 16-bit dtype, ascending."""
    if dtype == "float16":
        bits = np.arange(0x7C00, dtype=np.uint16)
        return bits, bits.view(np.float16).astype(np.float64)
    bits = np.arange(0x7F80, dtype=np.uint32)
    return bits, (bits << 16).view(np.float32).astype(np.float64)


def _brute_round(dtype: str, x: float) -> float:
    """Nearest value of ``dtype`` to ``x`` (ties to the even bit pattern, overflow to inf), in exact arithmetic."""
    if np.isnan(x):
        return np.nan
    bits, vals = _all_values(dtype)
    ax = abs(x)
    top = vals[-1] + (vals[-1] - vals[-2]) / 2  # max + half an ulp: rounds (to even) to inf
    if ax >= top:
        return float(np.copysign(np.inf, x))
    i = int(np.searchsorted(vals, ax))
    if vals[i] == ax:
        return float(np.copysign(vals[i], x))
    lo, hi = Fraction(vals[i - 1]), Fraction(vals[i])
    d_lo, d_hi = Fraction(ax) - lo, hi - Fraction(ax)
    pick = i - 1 if d_lo < d_hi or (d_lo == d_hi and bits[i - 1] % 2 == 0) else i
    return float(np.copysign(vals[pick], x))


def _samples(dtype: str, n: int = 400) -> np.ndarray:
    """Random float64 values over the dtype's whole range, plus midpoints and their float64 neighbours."""
    rng = np.random.default_rng(1)
    emin, emax = {"float16": (-26, 17), "bfloat16": (-135, 129)}[dtype]
    x = rng.uniform(1, 2, n) * 2.0 ** rng.integers(emin, emax, n) * rng.choice([-1, 1], n)
    _, vals = _all_values(dtype)
    mids = (vals[1:] + vals[:-1]) / 2
    mids = rng.choice(mids, 100)
    return np.concatenate([x, mids, np.nextafter(mids, 0), np.nextafter(mids, np.inf), -mids,
                           [0.0, -0.0, np.inf, -np.inf, np.nan, vals[-1], vals[1] / 2, vals[1] * 0.75]])


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_round_to_is_correctly_rounded(dtype):
    x = _samples(dtype)
    want = np.array([_brute_round(dtype, v) for v in x])
    got = round_to(dtype, x)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def test_round_to_bfloat16_does_not_round_twice():
    """float64 -> float32 -> bfloat16 would give 1.0 here: 1 + 2^-8 + 2^-30 lies above the midpoint 1 + 2^-8."""
    assert round_to("bfloat16", np.array(1 + 2.0**-8 + 2.0**-30)) == 1 + 2.0**-7
    assert round_to("bfloat16", np.array(1 + 2.0**-8)) == 1.0  # the midpoint itself: ties to even
    assert round_to("bfloat16", np.array(1 + 3 * 2.0**-8)) == 1 + 2.0**-6  # 1.0000011 -> 1.000010 (even)


def test_round_to_bfloat16_matches_ml_dtypes_on_float32_values():
    """On float32 inputs (one rounding either way) the emulation agrees with ml_dtypes' bfloat16."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    rng = np.random.default_rng(2)
    x32 = (rng.integers(0, 2**32, 20000, dtype=np.uint64).astype(np.uint32)).view(np.float32)
    x32 = x32[np.isfinite(x32)]
    want = x32.astype(ml_dtypes.bfloat16).astype(np.float64)
    np.testing.assert_array_equal(round_to("bfloat16", x32.astype(np.float64)), want)


def test_round_to_float64_and_float32():
    x = np.array([1 / 3, 1e-310, 1e300, -2.5])
    np.testing.assert_array_equal(round_to("float64", x), x)
    with np.errstate(over="ignore"):
        want32 = x.astype(np.float32).astype(np.float64)
    np.testing.assert_array_equal(round_to("float32", x), want32)
    with pytest.raises(ValueError, match="dtype"):
        round_to("int8", x)


def test_info_matches_finfo():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    finfo = {"float16": np.finfo(np.float16), "bfloat16": ml_dtypes.finfo(ml_dtypes.bfloat16),
             "float32": np.finfo(np.float32), "float64": np.finfo(np.float64)}
    for d in DTYPES:
        f, i = finfo[d], info(d)
        assert (i.tiny, i.max, i.mantissa_bits) == (float(f.tiny), float(f.max), f.nmant), d
        assert i.unit_roundoff == float(f.eps) / 2, d
    assert info("float16").max == 65504.0 and info("float16").tiny == 2.0**-14
    assert info("bfloat16").tiny == info("float32").tiny and info("bfloat16").unit_roundoff == 2.0**-8


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_ordinal_enumerates_every_value(dtype):
    """Every finite value and ±inf, in order, maps to consecutive integers; -0 and +0 coincide."""
    _, vals = _all_values(dtype)
    allv = np.concatenate([[-np.inf], -vals[::-1], vals, [np.inf]])  # -0 and +0 both present
    o = ordinal(dtype, allv)
    n = vals.size
    assert o[0] == -n and o[-1] == n
    assert np.all(np.diff(o) >= 0) and np.all(np.diff(o) <= 1)
    assert np.sum(np.diff(o) == 0) == 1  # only -0 -> +0
    assert ordinal(dtype, np.array(-0.0)) == ordinal(dtype, np.array(0.0)) == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_ordinal_adjacent_values_and_signs(dtype):
    d = info(dtype)
    step = 2.0 ** -(d.mantissa_bits)  # ulp of 1.0
    sub = d.tiny * step  # smallest subnormal
    assert ordinal(dtype, np.array(1.0 + step)) - ordinal(dtype, np.array(1.0)) == 1
    assert ordinal(dtype, np.array(sub)) == 1 and ordinal(dtype, np.array(-sub)) == -1
    assert ordinal(dtype, np.array(np.inf)) - ordinal(dtype, np.array(d.max)) == 1
    assert ordinal(dtype, np.array(-np.inf)) == -ordinal(dtype, np.array(np.inf))


@pytest.mark.parametrize("dtype, ulps_per_octave", [("float16", 2**10), ("bfloat16", 2**7), ("float32", 2**23),
                                                     ("float64", 2**52)])
def test_ulp_distance_basics(dtype, ulps_per_octave):
    d = info(dtype)
    one, two = np.array(1.0), np.array(2.0)
    assert ulp_distance(dtype, one, two) == ulps_per_octave
    assert ulp_distance(dtype, two, one) == ulps_per_octave  # symmetric
    assert ulp_distance(dtype, one, np.array(1.0 + 2.0 ** -d.mantissa_bits)) == 1
    sub = d.tiny * 2.0 ** -d.mantissa_bits
    assert ulp_distance(dtype, np.array(sub), np.array(-sub)) == 2  # opposite signs, across zero
    assert ulp_distance(dtype, np.array(-0.0), np.array(0.0)) == 0
    assert ulp_distance(dtype, np.array(d.max), np.array(np.inf)) == 1
    assert ulp_distance(dtype, np.array(np.nan), one) == -1 and ulp_distance(dtype, one, np.array(np.nan)) == -1
    # the expected value is rounded to the dtype first
    assert ulp_distance(dtype, one, np.array(1.0 + 2.0 ** -(d.mantissa_bits + 2))) == 0


def test_ulp_distance_bfloat16_opposite_signs_and_extremes():
    n_finite = 0x7F7F  # positive finite bfloat16 values excluding +0
    assert ulp_distance("bfloat16", np.array(-1.0), np.array(1.0)) == 2 * 0x3F80
    big = info("bfloat16").max
    assert ulp_distance("bfloat16", np.array(-big), np.array(big)) == 2 * n_finite
    assert ulp_distance("bfloat16", np.array(-np.inf), np.array(np.inf)) == 2 * (n_finite + 1)
    # values beyond max + half an ulp round to inf
    assert ulp_distance("bfloat16", np.array(np.inf), np.array(3.4e38)) == 0


def test_ulp_distance_float64_extremes_are_exact_or_saturate():
    big, tiny = np.finfo(np.float64).max, np.finfo(np.float64).tiny
    assert ulp_distance("float64", np.array(np.nextafter(big, 0)), np.array(big)) == 1
    assert ulp_distance("float64", np.array(big), np.array(np.inf)) == 1
    assert ulp_distance("float64", np.array(-tiny), np.array(tiny)) == 2 * 2**52
    assert ulp_distance("float64", np.array(-1.0), np.array(1.0)) == 2 * 0x3FF0000000000000
    # adjacent values near 1e300 (ordinals far above 2**53 must not be rounded through float64)
    x = np.array(1e300)
    assert ulp_distance("float64", np.nextafter(x, np.inf), x) == 1
    assert ulp_distance("float64", np.array(-big), np.array(big)) == np.iinfo(np.int64).max  # saturates


def test_ulp_distance_arrays_broadcast_and_scalars_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for d in DTYPES:
            ulp_distance(d, np.float64(-1.0), np.float64(1e300))
            ordinal(d, np.float64(-3.0))
        got = ulp_distance("float32", np.array([[1.0], [2.0]]), np.array([1.0, np.nextafter(np.float32(1), 2)]))
    assert got.shape == (2, 2) and got.tolist() == [[0, 1], [2**23, 2**23 - 1]]
