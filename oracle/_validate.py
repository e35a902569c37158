"""Argument validation shared by the oracle families.

Every failure is a ``ValueError`` whose message starts with the argument's
name and says what is wrong, e.g. ``"y_true: expected last axis of size 8*A = 72
(num_anchors=9), got 36"``.  Nothing is ever clamped into range.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CONVENTIONS = ("keras-ops", "keras-legacy")  # the clipping conventions (docs/contracts.md)


def as_float(name: str, x: Any, *, min_rank: int | None = None, rank: int | None = None) -> np.ndarray:
    """Convert ``x`` to a float64 array, checking its rank when asked."""
    try:
        arr = np.asarray(x)
    except Exception as exc:  # pragma: no cover - exotic array-likes
        raise ValueError(f"{name}: cannot convert to an array ({exc})") from exc
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise ValueError(f"{name}: expected real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if rank is not None and arr.ndim != rank:
        raise ValueError(f"{name}: expected rank {rank}, got rank {arr.ndim} (shape {arr.shape})")
    if min_rank is not None and arr.ndim < min_rank:
        raise ValueError(f"{name}: expected rank >= {min_rank}, got rank {arr.ndim} (shape {arr.shape})")
    return arr


def as_index(name: str, x: Any, low: int, high: int) -> np.ndarray:
    """Convert ``x`` to an int64 array of integers in ``[low, high)``.

    Float input is accepted only when every value is integral; anything else,
    and any value out of range, raises.
    """
    arr = np.asarray(x)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ValueError(f"{name}: expected integers, got dtype {arr.dtype}")
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            bad = arr[~(np.isfinite(arr) & (arr == np.round(arr)))].ravel()[0]
            raise ValueError(f"{name}: expected integers, got non-integer value {bad!r}")
    arr = arr.astype(np.int64)
    out = (arr < low) | (arr >= high)
    if np.any(out):
        where = tuple(int(i) for i in np.argwhere(out)[0])
        raise ValueError(
            f"{name}: {int(out.sum())} value(s) outside [{low}, {high}); "
            f"first at index {where}: {int(arr[where])}"
        )
    return arr


def same_shape(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    """Raise unless ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"{name_b}: shape {b.shape} does not match {name_a} shape {a.shape}")


def broadcastable(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    """Raise ValueError naming ``name_b`` unless the two arrays' shapes broadcast."""
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{name_b}: shape {b.shape} does not broadcast with {name_a} shape {a.shape}") from None


def last_dim(name: str, arr: np.ndarray, size: int, what: str) -> None:
    """Raise unless the last axis of ``arr`` has ``size`` entries (``what`` explains it)."""
    if arr.ndim == 0 or arr.shape[-1] != size:
        got = arr.shape[-1] if arr.ndim else "a scalar"
        raise ValueError(f"{name}: expected last axis of size {what} = {size}, got {got} (shape {arr.shape})")


def positive_int(name: str, value: Any) -> int:
    """Check that ``value`` is a positive integer and return it as ``int``."""
    if isinstance(value, bool) or not float(value).is_integer() or int(value) < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def axis_of(name: str, axis: Any, ndim: int) -> int:
    """Normalise ``axis`` for an array of rank ``ndim``."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"{name}: expected an integer axis, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}: axis {axis} is out of range for rank {ndim}")
    return int(axis) % ndim


def convention_of(value: str) -> str:
    """Check a clipping-convention name (keras-ops or keras-legacy)."""
    if value not in CONVENTIONS:
        raise ValueError(f"convention: expected one of {CONVENTIONS}, got {value!r}")
    return value


def wrt_of(name: str, wrt: str, allowed: tuple[str, ...]) -> str:
    """Check that ``wrt`` names a differentiable argument of contract ``name``."""
    if wrt not in allowed:
        raise ValueError(f"wrt: {name} is differentiable with respect to {allowed}, got {wrt!r}")
    return wrt


def variants_of(name: str, variants: Any, allowed: tuple[str, ...]) -> frozenset[str]:
    """Check a collection of divergence ids for contract ``name``."""
    if isinstance(variants, str):
        variants = (variants,)
    got = frozenset(variants or ())
    unknown = sorted(got - set(allowed))
    if unknown:
        raise ValueError(f"variants: {name} has no variant(s) {unknown}; known: {list(allowed)}")
    return got


def required(name: str, value: Any) -> None:
    """Raise when a required argument is missing (``None``)."""
    if value is None:
        raise ValueError(f"{name}: required argument is missing (got None)")


def same_shape_pair(name_a: str, a: Any, name_b: str, b: Any, *, min_rank: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two float64 arrays of equal shape (``b`` of rank >= ``min_rank`` when given); a mismatch names ``name_b``."""
    aa = as_float(name_a, a)
    bb = as_float(name_b, b, min_rank=min_rank or None)
    same_shape(name_b, bb, name_a, aa)
    return aa, bb


def scalar(name: str, value: Any, positive: bool = False) -> float:
    """A finite scalar as ``float`` (positive and finite when ``positive``)."""
    arr = as_float(name, value)
    if arr.ndim != 0:
        raise ValueError(f"{name}: expected a scalar, got shape {arr.shape}")
    v = float(arr)
    if positive and not (np.isfinite(v) and v > 0):
        raise ValueError(f"{name}: expected a positive finite number, got {v!r}")
    if not positive and np.isinf(v):
        raise ValueError(f"{name}: expected a finite number, got {v!r}")
    return v


def cotangent_like(cotangent: Any, shape: tuple[int, ...]) -> np.ndarray:
    """The cotangent as float64, broadcast to the output ``shape``."""
    c = as_float("cotangent", cotangent)
    try:
        return np.broadcast_to(c, shape)
    except ValueError:
        raise ValueError(f"cotangent: shape {c.shape} does not match the output shape {shape}") from None


def scalar_cotangent(cotangent: Any) -> float:
    """The cotangent of a scalar loss: one number (any shape of size 1)."""
    c = as_float("cotangent", cotangent)
    if c.size != 1:
        raise ValueError(f"cotangent: expected a scalar (the loss is a scalar), got shape {c.shape}")
    return float(c.reshape(()))


def cotangent_triple(cotangent: Any) -> tuple[float, float, float]:
    """The cotangent of a three-output loss: three finite scalars."""
    try:
        parts = list(cotangent)
    except TypeError:
        raise ValueError("cotangent: expected a tuple of three scalars") from None
    if len(parts) != 3:
        raise ValueError(f"cotangent: expected a tuple of three scalars, got {len(parts)} entries")
    return tuple(scalar("cotangent", p) for p in parts)  # type: ignore[return-value]


def unbroadcast(g: np.ndarray, shape: tuple[int, ...], reduce: Any = np.sum) -> np.ndarray:
    """Reduce a gradient of the broadcast shape back to an argument's ``shape`` (``reduce``: sum, or any)."""
    while g.ndim > len(shape):
        g = reduce(g, axis=0)
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = reduce(g, axis=axes, keepdims=True)
    return np.ascontiguousarray(g)
