"""Building blocks shared by the family strategies.

Values are biased toward the hard cases the spec names (exact 0/1
probabilities, values within 1e-9 of them, clip bounds, kinks, degenerate boxes)
instead of relying on ``hypothesis.target()``.  Subnormals are excluded: TensorFlow
runs its kernels with flush-to-zero, so a subnormal input has no single meaning.

Large arrays are cheap to draw: Hypothesis draws every element of an array of up to
:data:`SMALL` elements, but for a larger one it draws only a NumPy seed, the share of
special values and up to :data:`EXPLICIT` elements of its own (boundaries and other
nasty floats, at positions it chooses); NumPy fills the rest from the seed.  The array
is a function of Hypothesis' choices, so a derandomized run draws the same arrays every
time, and shrinking still shrinks the shape, the share of specials, the explicit
elements and the seed.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Sequence

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

TINY = 1e-30
PROB_SPECIALS = (0.0, 1.0, 1e-9, 1 - 1e-9, 1e-7, 1 - 1e-7, 0.5, 1e-3, 0.999)


def reals(lo: float, hi: float, specials: Sequence[float] = ()) -> st.SearchStrategy[float]:
    """Finite normal floats in ``[lo, hi]``, with ``specials`` drawn often.

    >>> reals(-5, 5, specials=(0.0, 1.0)).example()  # doctest: +SKIP
    1.0
    """
    return _reals(float(lo), float(hi), tuple(float(v) for v in specials))


@functools.lru_cache(maxsize=4096)  # one strategy object per distinct call: Hypothesis validates each object once
def _reals(lo: float, hi: float, specials: tuple[float, ...]) -> st.SearchStrategy[float]:
    base = st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    # Magnitudes near a dtype's underflow threshold belong to the stability tier: products of them underflow.
    base = base.map(lambda v: 0.0 if abs(v) < TINY else v)
    strategy = st.one_of(st.sampled_from(tuple(specials)), base) if specials else base
    _REALS[strategy] = (lo, hi, specials)
    return strategy


SMALL = 32  # arrays of up to this many elements: every element drawn by Hypothesis
EXPLICIT = 8  # larger arrays: at most this many elements drawn by Hypothesis, the rest filled by NumPy
SPECIAL_SHARES = (1.0, 0.5, 0.5, 0.1, 0.0)  # share of specials in a NumPy-filled array (shrinks to all specials)
_SEED = st.integers(0, 2**32 - 1)
_SHARE = st.sampled_from(SPECIAL_SHARES)
_COUNT = st.integers(0, EXPLICIT)
_POSITION = st.integers(0, 2**16)  # taken modulo the size: shrinks toward the first element
# The element strategies made by reals(), with bounds and specials: arrays() fills large arrays of them with NumPy.
_REALS: weakref.WeakKeyDictionary[st.SearchStrategy, tuple[float, float, tuple[float, ...]]] = (
    weakref.WeakKeyDictionary())


def arrays(shape: tuple[int, ...], elements: st.SearchStrategy[float]) -> st.SearchStrategy[np.ndarray]:
    """Float64 arrays of ``shape`` with the given element strategy.

    Arrays of more than :data:`SMALL` elements of a :func:`reals` strategy are drawn by :func:`filled`.
    """
    return _arrays(tuple(int(d) for d in shape), elements)


@functools.lru_cache(maxsize=4096)
def _arrays(shape: tuple[int, ...], elements: st.SearchStrategy[float]) -> st.SearchStrategy[np.ndarray]:
    spec = _REALS.get(elements)
    if spec is None or int(np.prod(shape)) <= SMALL:
        return hnp.arrays(np.float64, shape, elements=elements)
    return filled(shape, elements, *spec)


@st.composite
def filled(draw: st.DrawFn, shape: tuple[int, ...], elements: st.SearchStrategy[float], lo: float, hi: float,
           specials: Sequence[float] = ()) -> np.ndarray:
    """An array of ``shape`` filled by NumPy from a seed Hypothesis draws: uniform in ``[lo, hi]``, a drawn share
    of ``specials``, and up to :data:`EXPLICIT` elements drawn from ``elements`` by Hypothesis itself."""
    n = int(np.prod(shape))
    rng = np.random.default_rng(draw(_SEED))
    x = rng.uniform(lo, hi, n)
    if specials:
        pick = rng.random(n) < draw(_SHARE)
        x[pick] = np.asarray(specials, dtype=np.float64)[rng.integers(0, len(specials), int(pick.sum()))]
    for _ in range(draw(_COUNT)):
        x[draw(_POSITION) % n] = draw(elements)
    x[np.abs(x) < TINY] = 0.0
    return x.reshape(shape)


def probabilities(shape: tuple[int, ...], specials: Sequence[float] = PROB_SPECIALS) -> st.SearchStrategy[np.ndarray]:
    """Arrays of values in [0, 1], with exact 0, 1 and values 1e-9 from them drawn often."""
    return arrays(shape, reals(0.0, 1.0, specials))


_MASK_SHARE = st.sampled_from((0.5, 0.1, 0.9))


@st.composite
def masks(draw: st.DrawFn, shape: tuple[int, ...]) -> np.ndarray:
    """0/1 arrays that are all zero, all one, or mixed."""
    kind = draw(st.sampled_from(("zero", "one", "mixed", "mixed")))
    if kind == "zero":
        return np.zeros(shape)
    if kind == "one":
        return np.ones(shape)
    # every element drawn (no fill value), so per-image mask counts differ across the batch
    if int(np.prod(shape)) <= SMALL:
        return draw(hnp.arrays(np.float64, shape, elements=st.sampled_from((0.0, 1.0)), fill=st.nothing()))
    rng = np.random.default_rng(draw(_SEED))  # larger masks: a drawn share of ones, filled by NumPy
    return (rng.random(shape) < draw(_MASK_SHARE)).astype(np.float64)


@st.composite
def one_hot(draw: st.DrawFn, shape: tuple[int, ...]) -> np.ndarray:
    """One-hot rows along the last axis (class indices at both ends of the range)."""
    k = shape[-1]
    idx = draw(hnp.arrays(np.int64, shape[:-1], elements=st.integers(0, k - 1)))
    return np.eye(k)[idx]


@st.composite
def prob_rows(draw: st.DrawFn, shape: tuple[int, ...], axis: int = -1, positive: bool = False,
              normalised: bool | None = None) -> np.ndarray:
    """Rows of non-negative values along ``axis``; normalised, or not, or either (``None``).

    With ``positive`` every row has a positive sum (so p / sum(p) is defined).
    """
    lo = 1e-3 if positive else 0.0
    specials = (1.0, 0.5, 1e-3) if positive else (0.0, 1.0, 0.5, 1e-9)
    x = draw(arrays(shape, reals(lo, 1.0, specials)))
    if normalised or (normalised is None and draw(st.booleans())):
        s = x.sum(axis=axis, keepdims=True)
        x = np.where(s > 0, x / np.where(s > 0, s, 1.0), x)
    return x


def small_shape(min_dims: int = 1, max_dims: int = 3, max_side: int = 5) -> st.SearchStrategy[tuple[int, ...]]:
    """Small array shapes (sizes from 1 up)."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side)


def exact_grid_values(lo: float, hi: float, step: float = 0.125) -> st.SearchStrategy[float]:
    """Multiples of ``step`` in ``[lo, hi]``: exact in float16, bfloat16 and float32 for small ranges."""
    n_lo, n_hi = int(np.ceil(lo / step)), int(np.floor(hi / step))
    return st.integers(n_lo, n_hi).map(lambda n: n * step)


# --- deterministic arrays for bad inputs, pinned examples and timing cases -------------------------------------

def fixed_probs(*shape: int) -> np.ndarray:
    """Probabilities in [0.05, 0.95] from a fixed seed."""
    return np.random.default_rng(0).uniform(0.05, 0.95, shape)


def fixed_normal(*shape: int) -> np.ndarray:
    """Standard normal values from a fixed seed."""
    return np.random.default_rng(0).normal(size=shape)


def fixed_mask(*shape: int) -> np.ndarray:
    """An alternating 0/1 mask."""
    return (np.arange(int(np.prod(shape))).reshape(shape) % 2).astype(np.float64)


def seeded(tag: str) -> np.random.Generator:
    """A generator seeded by a name: the same arrays on every run."""
    return np.random.default_rng(sum(map(ord, tag)))


def random_mask(rng: np.random.Generator, shape: tuple[int, ...], frac: float,
                at_least_one: bool = False) -> np.ndarray:
    """A 0/1 mask with about ``frac`` ones (optionally at least one)."""
    m = (rng.random(shape) < frac).astype(np.float64)
    if at_least_one:
        m.reshape(-1)[0] = 1.0
    return m


def random_one_hot(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """One-hot rows along the last axis."""
    return np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]


def softmax64(x: np.ndarray) -> np.ndarray:
    """Softmax along the last axis in float64."""
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)
