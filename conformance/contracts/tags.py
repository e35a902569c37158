"""Regression-fixture tags the records share: predicates on a rounded example (``Tag.holds``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import oracle
from conformance.contracts.record import Example, Tag
from conformance.numerics.compare import compare
from conformance.numerics.outputs import as_tuple, concat


def _flat(x: Any) -> np.ndarray:
    return concat(as_tuple(x))


def conventions_differ() -> Tag:
    """The keras-legacy and keras-ops clipping conventions (docs/contracts.md) give different values here."""
    def holds(contract: Any, ex: Example, dtype: str) -> bool:
        base = {"constants_dtype": dtype} if contract.constants_dtype else {}
        a, b = (_flat(contract.expected(ex, convention=c, **base)) for c in oracle.CONVENTIONS)
        return bool(np.all(np.isfinite(a))) and not compare(
            b, a, contract.tolerance.for_value(ex, a, dtype), dtype, "conventions").ok
    return Tag("CONVENTIONS-DIFFER", "the keras-legacy and keras-ops clipping conventions differ here", holds)


def zero_masks(masks: Callable[[Example], list[np.ndarray]]) -> Tag:
    """Every mask the example's ``masks`` lists is all zero."""
    return Tag("ZERO-MASK", "every mask (anchor, object, regression) is zero",
               lambda c, ex, d: all(not np.any(m) for m in masks(ex)))


def nan_expected(tag: str, description: str) -> Tag:
    """Some exact output element is undefined (NaN) and some is finite."""
    def holds(contract: Any, ex: Example, dtype: str) -> bool:
        with np.errstate(all="ignore"):
            v = _flat(contract.expected(ex))
        return bool(np.isnan(v).any() and np.isfinite(v).any())
    return Tag(tag, description, holds)


def large(key: str, bound: float, tag: str, description: str) -> Tag:
    """Some element of argument ``key`` has magnitude at least ``bound``."""
    return Tag(tag, description, lambda c, ex, d: bool(np.max(np.abs(ex[key]), initial=0.0) >= bound))
