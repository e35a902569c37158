"""The documents' formulas evaluated literally in the dtype under test: the checks' third reference.

The oracle gives the exact value ``e`` (float64 on the dtype-rounded inputs).  Some
formulas, evaluated step by step in float32 or float16 as the documents write them, cannot
deliver ``e``: box corners ``x ∓ w/2`` round to the same value when ``w`` is below the
spacing of floats at ``x``, and the IoU becomes 0/0.  An implementation that fails the
same way is faithful to the documents, not broken: the checks call such an element a
**hazard** with the reason in words, fail an implementation that is worse than the literal
formula, and credit one that is better (docs/tolerances.md, "The literal formula").

Each function takes an example (float64 arrays holding values of ``dtype``, subnormals
flushed, as :func:`conformance.runners.tf.prepare` makes them) and the dtype name, computes
every step in that dtype (``numpy.float16`` / ``float32``; bfloat16 through ``ml_dtypes``,
each operation rounded once), flushes subnormal results to zero as TensorFlow's kernels
do, and returns float64.  NumPy only: no framework is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.numerics.box_forms import BOX_FORMS
from conformance.numerics.dtypes import info


def np_dtype(dtype: str) -> Any:
    """The NumPy scalar type for ``dtype`` (bfloat16 from ml_dtypes, a TensorFlow dependency)."""
    if dtype == "bfloat16":
        import ml_dtypes

        return ml_dtypes.bfloat16
    return {"float16": np.float16, "float32": np.float32, "float64": np.float64}[info(dtype).name]


@dataclass(frozen=True)
class Literal:
    """A record's literal evaluation: ``fn(example, dtype)`` and the reason, in words, why it can fail.

    ``reason`` may name ``{dtype}``; :meth:`describe` completes it for one element.
    """

    fn: Callable[[dict, str], Any]
    reason: str

    def __call__(self, ex: dict, dtype: str) -> Any:
        with np.errstate(all="ignore"):
            return self.fn(ex, dtype)

    def describe(self, literal: float, exact: float, dtype: str) -> str:
        """One element's hazard in words: the reason, what the literal formula gives and the exact value."""
        what = "is 0/0 (NaN)" if np.isnan(literal) else f"gives {literal!r}"
        return (f"{self.reason.format(dtype=dtype)}: the documents' formula evaluated in {dtype} {what} here "
                f"(exact {exact!r})")


def verdicts(actual: np.ndarray, exact: np.ndarray, literal: np.ndarray, tol: np.ndarray,
             ok: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(literal bad, same as literal, better than literal) per element of flat float64 arrays.

    *Literal bad*: the exact value is finite and the literal formula is non-finite or outside
    ``tol`` of it.  Where it is bad and the element is not ``ok`` (the caller's verdict against
    the exact value), the implementation is *the same* when its error is at most the literal's
    plus ``tol`` (a non-finite value has infinite error, so inf/NaN is the same as a non-finite
    literal value and worse than a finite one); *better* where it is bad and the element is ``ok``.
    """
    a, e, lit = (np.asarray(x, dtype=np.float64) for x in (actual, exact, literal))
    tol = np.broadcast_to(tol, e.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        err_l = np.where(np.isfinite(lit), np.abs(lit - e), np.inf)
        err_a = np.where(np.isfinite(a), np.abs(a - e), np.inf)
        bad = np.isfinite(e) & ~(err_l <= tol)
        same = bad & ~ok & ((a == lit) | (err_a <= err_l + tol))
    return bad, same, bad & ok


# --- helpers: every step rounded to the dtype, subnormals flushed ---------------------------------------------------

class _In:
    """Arithmetic in one dtype with flush-to-zero (TensorFlow's CPU kernels flush subnormal results)."""

    def __init__(self, dtype: str):
        self.t = np_dtype(dtype)
        self.tiny = self.t(info(dtype).tiny)

    def c(self, v: Any) -> Any:
        return self.t(v) if np.ndim(v) == 0 else np.asarray(v, dtype=np.float64).astype(self.t)

    def a(self, x: Any) -> np.ndarray:
        return self.f(np.asarray(x, dtype=np.float64).astype(self.t))

    def f(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=self.t)
        return np.where(np.abs(x) < self.tiny, np.zeros_like(x), x)

    maximum = staticmethod(np.maximum)
    minimum = staticmethod(np.minimum)

    def atan2(self, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        return self.f(np.arctan2(y, x))

    def fraction(self, part: np.ndarray, rest: np.ndarray) -> np.ndarray:
        """part / (rest + part) for part, rest ≥ 0, and 0 where part is 0."""
        return np.where(part == 0, self.c(0.0), self.f(part / self.f(rest + part)))

    def _kernel(self, fn: Callable, x: np.ndarray) -> np.ndarray:
        """An elementwise kernel, correctly rounded: evaluated in float64, rounded once."""
        return self.f(fn(np.asarray(x, dtype=np.float64)))

    def exp(self, x: np.ndarray) -> np.ndarray:
        return self._kernel(np.exp, x)

    def log1p(self, x: np.ndarray) -> np.ndarray:
        return self._kernel(np.log1p, x)

    def sigmoid(self, x: np.ndarray) -> np.ndarray:
        return self._kernel(lambda v: np.exp(-np.logaddexp(0.0, -v)), x)

    def pow(self, x: np.ndarray, p: float) -> np.ndarray:
        return self._kernel(lambda v: v**p, x)

    def abs(self, x: np.ndarray) -> np.ndarray:
        return np.abs(x)

    def log(self, x: np.ndarray) -> np.ndarray:
        return self._kernel(np.log, x)

    def softplus(self, x: np.ndarray) -> np.ndarray:
        return self._kernel(lambda v: np.logaddexp(0.0, v), x)

    def where(self, cond: np.ndarray, a: Any, b: Any) -> np.ndarray:
        return np.where(cond, a, b).astype(self.t)

    def concat(self, parts: list, axis: int = -1) -> np.ndarray:
        return np.concatenate(parts, axis)

    def stack(self, parts: list) -> np.ndarray:
        return np.array(parts, dtype=self.t)

    def sum(self, x: np.ndarray, axis: int | tuple | None) -> np.ndarray:
        """Accumulated in float64 (as a float32 accumulator does for the suite's short rows), rounded once."""
        return self.f(np.sum(np.asarray(x, dtype=np.float64), axis=axis, keepdims=True))

    def amax(self, x: np.ndarray, axis: int) -> np.ndarray:
        return np.max(x, axis=axis, keepdims=True)

    def take(self, x: np.ndarray, index: np.ndarray, axis: int) -> np.ndarray:
        return np.take_along_axis(x, index, axis)


def _out(x: np.ndarray) -> np.ndarray:
    return np.asarray(x).astype(np.float64)


def _pair(ex: dict, dtype: str) -> tuple[_In, np.ndarray, np.ndarray]:
    d = _In(dtype)
    b1, b2 = np.broadcast_arrays(d.a(ex["boxes1"]), d.a(ex["boxes2"]))
    return d, b1, b2


def _documents(name: str) -> Callable[[dict, str], np.ndarray]:
    """The documents' form of box name ``name`` evaluated in the dtype."""
    def evaluate(ex: dict, dtype: str) -> np.ndarray:
        d, b1, b2 = _pair(ex, dtype)
        return _out(BOX_FORMS[name](d, b1, b2, ("documents", "plain")))

    return evaluate


BOX_REASON = ("box corners x ∓ w/2, y ∓ h/2 and the areas are computed in {dtype}, where a corner can round onto "
              "its neighbour (an extent below the spacing of {dtype} values at the centre) and an area or their "
              "difference to 0")

BOXES: dict[str, Literal] = {name: Literal(_documents(name), BOX_REASON) for name in BOX_FORMS}
