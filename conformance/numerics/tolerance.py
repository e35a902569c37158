"""The tolerance model (derivation in docs/tolerances.md).

For an output element with exact value ``e`` the implementation may differ by

    tol = atol + (SAFETY * u * chain + acc(n)) * scale

``u`` is the unit roundoff of the dtype under test, ``chain`` bounds the
rounding errors of the elementwise kernels on the path to the element (each
transcendental is a few ulps in Eigen and XLA).  Where the platform's kernels were measured (float16,
bfloat16: every input tried, :mod:`conformance.numerics.arithmetic`) and the name counts its value's
operations (``ops`` roundings and the ``kernels`` on the longest path), the value's chain term is
``FORM * u * (ops + cost(kernels))`` instead.  ``n`` is the length of the
longest reduction feeding it and ``acc(n)`` bounds that reduction's rounding for the accumulator the platform was
measured to use (:mod:`conformance.numerics.arithmetic`: Higham's (n - 1) u_acc with
u_acc = 2^-24 where the framework accumulates half-precision sums in float32, the
worst case SAFETY n u of a sequential sum in the dtype otherwise), and ``scale`` is the sum of
absolute terms: ``|e|`` where no cancellation happens, larger where the formula
subtracts nearly equal quantities (softmax CE = logsumexp - x_k, 1 - GIoU, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.numerics import arithmetic
from conformance.numerics.arithmetic import FORM, SAFETY
from conformance.numerics.dtypes import info, round_to

ORACLE_U = 2.0**-53  # unit roundoff of the oracle's float64 arithmetic
Scale = Callable[[dict, Any], Any]


@dataclass(frozen=True)
class Tolerance:
    """A name's tolerance class: kernel chain length, reduction length and magnitude scales."""

    chain: int = 8
    # the value's path in the documents' form, counted: roundings of + − × ÷ (and reductions' final roundings,
    # with the amplification of a rounded input where it is squared or raised), and the elementwise kernels
    # (``"softplus|exp+log1p"``: alternative forms of one step); None: not counted, SAFETY·chain is charged
    ops: int | None = None
    kernels: tuple[str, ...] = ()
    terms: Callable[[dict], int] | None = None
    value_scale: Scale | None = None
    grad_scale: Callable[[dict, str, Any, Any], Any] | None = None
    # first-order error propagation already summed over the operations (e.g. the box arithmetic's corners, areas
    # and union: docs/tolerances.md, "Conditioning"): charged SAFETY·u times, not again per operation of the chain
    conditioning: Scale | None = None
    grad_conditioning: Callable[[dict, str, Any, Any], Any] | None = None
    # a running error bound of the documents' forms evaluated in the dtype (numerics.bounds), absolute, per output
    # element, from (example, dtype, measured kernels): where the kernels were measured (float16, bfloat16), the
    # value's tolerance is the smaller of the model's and FORM times this bound (docs/tolerances.md, "Running error
    # bounds")
    bound: Callable[[dict, str, dict], Any] | None = None
    # the same for a gradient, from (example, wrt, cotangent, dtype, measured kernels): the documents' form's reverse
    # pass with every forward and backward rounding bounded (numerics.bounds_vjp)
    grad_bound: Callable[[dict, str, Any, str, dict], Any] | None = None

    def n_terms(self, ex: dict) -> int:
        if self.terms is not None:
            return int(self.terms(ex))
        return max((np.size(v) for v in arrays_of(ex)), default=1)

    def rtol(self, ex: dict, dtype: str, value: bool = False) -> float:
        # the oracle is float64 arithmetic too: its own error (the same model with u = 2^-53) adds to the
        # implementation's; negligible below float64, a factor 2 in float64 (docs/tolerances.md, "float64")
        n = self.n_terms(ex)
        reduction = arithmetic.current(dtype).reduction_rtol(n)
        return self.chain_rtol(dtype, value) + reduction + SAFETY * ORACLE_U * n

    def chain_rtol(self, dtype: str, value: bool = False) -> float:
        """The elementwise chain's relative error: the counted operations with the measured kernels for a value
        (where both are known), ``SAFETY·u`` per operation of ``chain`` otherwise (and for every gradient)."""
        u = info(dtype).unit_roundoff + ORACLE_U
        cost = arithmetic.current(dtype).kernel_cost(self.kernels) if value and self.ops is not None else None
        return SAFETY * u * self.chain if cost is None else FORM * u * (self.ops + cost)

    def atol(self, dtype: str) -> float:
        # TensorFlow flushes subnormals to zero: anything below the smallest normal may read as 0.
        return 16.0 * info(dtype).tiny

    def counted(self, dtype: str) -> bool:
        """Whether the value's path is counted with the platform's kernels measured (float16 and bfloat16)."""
        return self.ops is not None and bool(arithmetic.current(dtype).kernels)

    def bounded(self, dtype: str) -> bool:
        """Whether the running error bounds apply: the name has them and the platform's kernels were measured."""
        return self.bound is not None and bool(arithmetic.current(dtype).kernels)

    def cond_rtol(self, dtype: str, value: bool = False) -> float:
        """The factor of a conditioning scale: one SAFETY·u (the scale already sums the propagated roundings, of
        + − × ÷ only); FORM·u for a counted value where the kernels were measured (no kernel is involved)."""
        return (FORM if value and self.counted(dtype) else SAFETY) * (info(dtype).unit_roundoff + ORACLE_U)

    def for_value(self, ex: dict, expected: np.ndarray, dtype: str, bound: bool = True) -> np.ndarray:
        """The value's tolerance per element (``bound``: at most FORM times the running error bound, where the
        name has one and the dtype's kernels were measured)."""
        scale = np.abs(expected) if self.value_scale is None else self.value_scale(ex, expected)
        tol = self.atol(dtype) + self.rtol(ex, dtype, value=True) * _finite(scale)
        if self.conditioning is not None:
            # the propagated roundings include those of the reductions feeding them (a normaliser Σp in a log)
            factor = self.cond_rtol(dtype, value=True) + arithmetic.current(dtype).reduction_rtol(self.n_terms(ex))
            tol = tol + factor * _finite(self.conditioning(ex, expected))
        if bound and self.bounded(dtype):
            rad = self.bound(ex, dtype, arithmetic.current(dtype).kernels)
            tol = np.minimum(tol, self._bounded(ex, dtype, scale, rad))
        return tol

    def for_grad(self, ex: dict, wrt: str, grad: np.ndarray, cot: Any, dtype: str, part: int = 0) -> np.ndarray:
        """The gradient's tolerance per element: of ``ex[wrt]``'s gradient, or of its array number ``part`` where
        ``ex[wrt]`` is a sequence of arrays (one per scale)."""
        if self.grad_scale is None:
            g = np.abs(grad)
            scale = g + max_ignoring_nan(g)  # normwise: errors of shared normalisers spread
        else:
            scale = self.grad_scale(ex, wrt, grad, cot)
        tol = self.atol(dtype) + self.rtol(ex, dtype) * _finite(scale)
        if self.grad_conditioning is not None:
            tol = tol + self.cond_rtol(dtype) * _finite(self.grad_conditioning(ex, wrt, grad, cot))
        if self.grad_bound is not None and self.bounded(dtype):
            bound = self.grad_bound(ex, wrt, cot, dtype, arithmetic.current(dtype).kernels)
            tol = np.minimum(tol, self._bounded(ex, dtype, scale, bound[part] if isinstance(bound, list) else bound))
        return tol

    def _bounded(self, ex: dict, dtype: str, scale: Any, bound: Any) -> np.ndarray:
        """FORM times a running error bound, with the oracle's share of the model.  The bound's forms charge their
        own sums as the platform accumulates them (``Bounded.sum``): the model's share for reductions is not added
        again (it charged a name without any reduction, such as a box loss, for its summands)."""
        n = self.n_terms(ex)
        with np.errstate(over="ignore", invalid="ignore"):
            rest = SAFETY * ORACLE_U * n * _finite(scale)
            bound = np.nan_to_num(np.asarray(bound, dtype=np.float64), nan=np.inf, posinf=np.inf)
            return self.atol(dtype) + rest + FORM * bound


def _finite(scale: Any) -> np.ndarray:
    """A scale with undefined (NaN) entries charged nothing and infinite ones kept infinite."""
    return np.nan_to_num(np.asarray(scale), nan=0.0, posinf=np.inf)


def sum_to(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``a`` summed over the axes that broadcasting added to ``shape`` (as a gradient of a broadcast argument)."""
    a = np.sum(a, axis=tuple(range(a.ndim - len(shape)))) if a.ndim > len(shape) else a
    return np.sum(a, axis=tuple(i for i, n in enumerate(shape) if n == 1 and a.shape[i] != 1), keepdims=True)


def max_ignoring_nan(g: np.ndarray) -> float:
    """Largest value ignoring NaN (undefined exact gradients); 0 for none."""
    return float(np.max(np.where(np.isnan(g), 0.0, g), initial=0.0))


def arrays_of(ex: dict):
    for v in ex.values():
        if isinstance(v, (list, tuple)):
            yield from (np.asarray(x) for x in v)
        elif isinstance(v, np.ndarray):
            yield v


def sigmoid64(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -x))


ELEMENTWISE = Tolerance(terms=lambda ex: 1)


def elementwise_grad(fn: Callable[[dict], np.ndarray]) -> Callable[[dict, str, Any, Any], Any]:
    return lambda ex, wrt, grad, cot: np.abs(cot) * fn(ex) + np.abs(grad)


def axis_terms(key: str) -> Callable[[dict], int]:
    return lambda ex: np.shape(ex[key])[ex.get("axis", -1)] + 1


# --- the dtype's range: which examples the value and gradient tiers judge -------------------------------------

def in_range(contract: Any, ex: dict, dtype: str) -> bool:
    """Whether ``ex``, rounded to ``dtype``, keeps its inputs and the formula's named intermediates in range.

    Out of range: a float input that rounds to ±inf; a loss's sum before normalising (the loss times
    ``contract.normaliser``) above the dtype's largest finite value; or whatever the record's own
    ``in_range`` hook rejects (box corners and areas, decoded extents).  Such an example is outside
    what the dtype can represent (in practice: float16): the value and gradient tiers discard it and
    the stability tier reports inf/NaN on it as hazard DTYPE-RANGE (docs/tolerances.md, "float16").
    """
    d = info(dtype)
    for arr in arrays_of(ex):
        if np.issubdtype(arr.dtype, np.floating) and np.any(np.abs(rounded(dtype, arr)) > d.max):
            return False
    if d.max < 1e10 and contract.normaliser is not None and not _sums_in_range(contract, ex, dtype, d):
        return False  # sums of the strategies' magnitudes (< 1e6 terms below 1e8) cannot reach the wider maxima
    return contract.in_range is None or bool(contract.in_range(ex, dtype))


def unresolvable(contract: Any, ex: dict, dtype: str) -> bool:
    """Whether ``ex``'s value, in ``dtype``, has an element whose tolerance exceeds the output's whole range
    (``contract.output_range``): there any value in range passes, and the dtype cannot resolve the output at all
    (box coordinates far from the origin relative to the box's size in bfloat16).  The value and gradient tiers draw
    another example instead (as for ``in_range``) and count it; the stability tier keeps it (docs/tolerances.md,
    "Tolerances wider than the output's range")."""
    if contract.output_range is None:
        return False
    lo, hi = contract.output_range
    r = round_example(contract, ex, dtype)
    with np.errstate(all="ignore"):
        e = np.asarray(contract.expected(r, **next(iter(contract.oracle_keywords(dtype).values()))), dtype=np.float64)
        tol = np.broadcast_to(contract.tolerance.for_value(r, e, dtype), e.shape)
        return bool(np.any(np.isfinite(e) & (tol > hi - lo)))


def below_resolution(contract: Any, ex: dict, dtype: str) -> bool:
    """Whether ``ex``'s value, in ``dtype``, is below the dtype's resolution at every element: the running error
    bound of the name's forms (the documents' formula evaluated in the dtype, step by step) at least |exact value|
    wherever that is above the absolute floor.  There the documents' formula may return 0 or twice the value
    (bfloat16 BCE at t = 0, p = ε_k: 1 − ε_k rounds to 1, and log(1) = 0 where the value is 1e-7), so no value check
    can judge the example: the value tier draws another (counted); the gradient tier keeps it (docs/tolerances.md,
    "Values below the dtype's resolution")."""
    tol = contract.tolerance
    if not tol.bounded(dtype):
        return False
    r = round_example(contract, ex, dtype)
    with np.errstate(all="ignore"):
        e = np.abs(np.asarray(contract.expected(r, **next(iter(contract.oracle_keywords(dtype).values()))),
                              dtype=np.float64))
        rad = np.broadcast_to(tol.bound(r, dtype, arithmetic.current(dtype).kernels), e.shape)
        sel = np.isfinite(e) & (e > tol.atol(dtype))
        return bool(sel.any() and np.all(np.isfinite(rad[sel]) & (rad[sel] >= e[sel])))  # inf: no bound, no claim


def clip_overflows(contract: Any, ex: dict, dtype: str) -> bool:
    """Whether the documents' clip constants in ``dtype`` make ``ex``'s value non-finite where the constants in
    float32 keep it finite: 1 − 1e-7 rounds to 1 in float16 and bfloat16, so an output of exactly 1 meets log(0),
    and a mask's 0 times that −∞ is NaN for the whole sum.  Such a value is the dtype's hazard (FP16-CLIP, reported
    by the stability tier); where the documents' form returns it, a value check compares NaN with NaN and judges
    nothing, so the value and gradient tiers draw another example (counted in ``extra["clip_overflow"]``)."""
    if not contract.constants_dtype or dtype not in ("float16", "bfloat16"):
        return False
    r = round_example(contract, ex, dtype)
    with np.errstate(all="ignore"):
        own, wide = (_flat(contract.expected(r, constants_dtype=c)) for c in (dtype, "float32"))
    return bool(np.any(~np.isfinite(own) & np.isfinite(wide)))


def _flat(out: Any) -> np.ndarray:
    parts = out if isinstance(out, tuple) else (out,)
    return np.concatenate([np.ravel(np.asarray(x, dtype=np.float64)) for x in parts])


def round_example(contract: Any, ex: dict, dtype: str) -> dict:
    """The example with its float arguments rounded to ``dtype`` (the oracle's view of the implementation's inputs)."""
    return {k: rounded(dtype, v) if k in contract.float_args else v for k, v in ex.items()}


def rounded(dtype: str, x: Any) -> np.ndarray:
    """``x`` as the implementation sees it: rounded to ``dtype``, subnormals flushed (as the runners do)."""
    if isinstance(x, (list, tuple)):
        return [rounded(dtype, v) for v in x]
    r = round_to(dtype, np.asarray(x, dtype=np.float64))
    return np.where(np.abs(r) < info(dtype).tiny, 0.0, r)


def outside(values: list[np.ndarray], dtype: str) -> bool:
    """Whether any value is above ``dtype``'s largest finite value or non-zero below its smallest normal."""
    d = info(dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        for v in values:
            a = np.abs(v)
            if np.any(a > d.max) or np.any((a > 0) & (a < d.tiny)):
                return True
    return False


def _sums_in_range(contract: Any, ex: dict, dtype: str, d: Any) -> bool:
    """The loss's sum before normalising, from the exact loss on the rounded example: L times its normaliser."""
    r = round_example(contract, ex, dtype)
    with np.errstate(all="ignore"):
        extra = {"constants_dtype": dtype} if contract.constants_dtype else {}
        out = contract.expected(r, **extra)
        value = np.abs(_flat(out))
        sums = value * contract.normaliser(r)
    return not np.any(np.isfinite(sums) & (sums > d.max))  # an infinite exact value is the clip constants' (FP16-CLIP)


def bgd_margin(dtype: str) -> float:
    """Margin to a threshold below which a rounded thresholded quantity may land on the other side
    (YOLOv3's ``max_iou < iou_loss_thresh``; docs/tolerances.md)."""
    return min(256 * info(dtype).unit_roundoff, 0.05)
