"""Cross-entropies of family ``nn`` (docs/contracts.md): sigmoid / weighted / softmax / sparse softmax with logits, and
Keras' binary and categorical cross-entropy on probabilities.

Everything is evaluated in float64 in forms that neither overflow nor cancel (the kernels are
:mod:`oracle.elementary`'s):

* Sigmoid CE: ``max(x, 0) − x·z + log1p(e^{−|x|})`` written as ``x·(1 − z)`` (x ≥ 0) or
  ``−x·z`` (x < 0) plus ``log1p(e^{−|x|})``: both terms are ≥ 0 for z in [0, 1].
* Weighted CE: ``q·z·softplus(−x) + (1 − z)·softplus(x)`` with
  ``softplus(±x) = max(±x, 0) + log1p(e^{−|x|})``.  This equals the spec's stable form
  ``(1 − z)·x + (1 + (q − 1)z)·(log1p(e^{−|x|}) + max(−x, 0))`` exactly, but the latter
  cancels for x ≪ 0 (it returns 0 for x = −40, z = 0 where the value is 4.2e-18).
* Softmax CE: ``logsumexp(x) − x_i = (m − x_i) + log1p(Σ_{j≠argmax} e^{x_j − m})``.
* Binary CE: ``log P`` and ``log1p(−P)`` (``1 − P`` is exact for P ≥ 0.5 by Sterbenz, but
  ``log(1 − P)`` loses relative accuracy for small P, so ``log1p(−P)`` is used throughout);
  the legacy ``log(P + ε)``/``log(1 − P + ε)`` switch to ``log1p`` of an argument that is
  rounded only once when the log is near 0.
* Categorical CE: for the (unique) entry with normalised value ``q > 1/2`` the oracle uses
  ``log1p(−r)`` with ``r = 1 − q = Σ_{j≠i} p_j / Σ p`` summed directly, so the value near
  ``q = 1`` and the upper clip decision do not suffer from ``1 − p_i/S`` cancellation.

Clip bounds: ``ε_k = 1e-7`` and ``1 − ε_k`` rounded to ``constants_dtype`` (see
:mod:`oracle._dtypes`).  Gradients pass a clip when ``lo ≤ value ≤ hi`` (TensorFlow).

Kinks (docs/contracts.md) are only at the BCE/CCE clip bounds.  The sigmoid
and weighted cross-entropies are smooth at ``x = 0`` (their stable forms merely contain
``|x|`` and ``max(x, 0)``): the derivative there is ``σ(0) − z`` and
``(1 − z) − (1 + (q − 1)z)/2``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _validate as v
from ._dtypes import clip_bounds, dtype_name
from ._spec import OracleSpec, keyword_evaluate, smooth_kinks
from .elementary import logsumexp_shift, sigmoid_parts, softmax, sum_others

__all__ = [
    "CCE_VARIANTS",
    "EPS_K",
    "WCE_GRAD_AT_ZERO",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sigmoid_cross_entropy_with_logits",
    "softmax_cross_entropy_with_logits",
    "sparse_softmax_cross_entropy_with_logits",
    "weighted_cross_entropy_with_logits",
]

EPS_K = 1e-7  # docs/contracts.md ε_k, Keras backend epsilon

# Relative distance (in units of the bound) within which a normalised CCE probability
# is treated as sitting on a clip bound: a few float64 roundings of p / Σp.
_BOUND_RTOL = 1e-15


# --------------------------------------------------------------------------- sigmoid CE


def _sce_args(labels: Any, logits: Any) -> tuple[np.ndarray, np.ndarray]:
    v.required("labels", labels)
    v.required("logits", logits)
    return v.same_shape_pair("labels", labels, "logits", logits)


WCE_GRAD_AT_ZERO = ("TF-WCE-GRAD-AT-ZERO",)


def sigmoid_cross_entropy_with_logits(labels: Any = None, logits: Any = None, *, variants: Any = ()) -> np.ndarray:
    """z·(−log σ(x)) + (1 − z)·(−log(1 − σ(x))), evaluated as max(x,0) − x·z + log1p(e^{−|x|}).

    Variant TF-WCE-GRAD-AT-ZERO changes only the VJP (the value is the same).
    """
    v.variants_of("sigmoid_cross_entropy_with_logits", variants, WCE_GRAD_AT_ZERO)
    z, x = _sce_args(labels, logits)
    e, _, _ = sigmoid_parts(x)
    with np.errstate(invalid="ignore"):
        lin = np.where(x >= 0, x * (1.0 - z), -x * z)
    return lin + np.log1p(e)


def _sce_vjp(cotangent: Any, wrt: str, *, labels: Any, logits: Any, variants: Any = ()) -> np.ndarray:
    v.wrt_of("sigmoid_cross_entropy_with_logits", wrt, ("logits",))
    z, x = _sce_args(labels, logits)
    _, s, sc = sigmoid_parts(x)
    g = np.where(x >= 0, (1.0 - z) - sc, s - z)  # σ(x) − z without cancelling σ(x) against 1
    if v.variants_of("sigmoid_cross_entropy_with_logits", variants, WCE_GRAD_AT_ZERO):
        g = np.where(x == 0, -z, g)  # relu'(0) = abs'(0) = 0: the softplus term's σ(0) = 1/2 is dropped
    return v.cotangent_like(cotangent, x.shape) * g


def _wce_args(labels: Any, logits: Any, pos_weight: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    z, x = _sce_args(labels, logits)
    v.required("pos_weight", pos_weight)
    q = v.as_float("pos_weight", pos_weight)
    try:
        ok = np.broadcast_shapes(q.shape, x.shape) == x.shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"pos_weight: shape {q.shape} does not broadcast to logits shape {x.shape}")
    return z, x, q


def weighted_cross_entropy_with_logits(labels: Any, logits: Any, pos_weight: Any, *, variants: Any = ()
                                       ) -> np.ndarray:
    """q·z·(−log σ(x)) + (1 − z)·(−log(1 − σ(x))), elementwise (``q = pos_weight``).

    Variant TF-WCE-GRAD-AT-ZERO (docs/contracts.md) changes only the VJP (the value is the same).
    """
    v.variants_of("weighted_cross_entropy_with_logits", variants, WCE_GRAD_AT_ZERO)
    z, x, q = _wce_args(labels, logits, pos_weight)
    e, _, _ = sigmoid_parts(x)
    lp = np.log1p(e)
    # both terms are non-negative: q·z·(…) overflows only where the value itself exceeds float64 (inf is its rounding)
    with np.errstate(invalid="ignore", over="ignore"):
        return q * z * (np.maximum(-x, 0.0) + lp) + (1.0 - z) * (np.maximum(x, 0.0) + lp)


def _wce_vjp(cotangent: Any, wrt: str, *, labels: Any, logits: Any, pos_weight: Any, variants: Any = ()
             ) -> np.ndarray:
    v.wrt_of("weighted_cross_entropy_with_logits", wrt, ("logits",))
    z, x, q = _wce_args(labels, logits, pos_weight)
    _, s, sc = sigmoid_parts(x)
    g = (1.0 - z) * s - q * z * sc
    if v.variants_of("weighted_cross_entropy_with_logits", variants, WCE_GRAD_AT_ZERO):
        # TensorFlow's (1 − z)·x + (1 + (q − 1)z)·(log1p(e^{−|x|}) + relu(−x)) with abs'(0) = relu'(0) = 0
        g = np.where(x == 0, 1.0 - z, g)
    return v.cotangent_like(cotangent, x.shape) * g


# --------------------------------------------------------------------------- softmax CE


def _softmax_ce_args(labels: Any, logits: Any, axis: Any) -> tuple[np.ndarray, np.ndarray, int]:
    v.required("labels", labels)
    v.required("logits", logits)
    y, x = v.same_shape_pair("labels", labels, "logits", logits, min_rank=1)
    return y, x, v.axis_of("axis", axis, x.ndim)


def softmax_cross_entropy_with_logits(labels: Any = None, logits: Any = None, axis: int = -1) -> np.ndarray:
    """−Σ_i y_i·log softmax(x)_i along ``axis`` (the axis is reduced)."""
    y, x, ax = _softmax_ce_args(labels, logits, axis)
    d, _, rest = logsumexp_shift(x, ax)
    with np.errstate(invalid="ignore"):  # y = 0 contributes 0 even where m − x overflows
        return np.sum(np.where(y == 0, 0.0, y * (d + np.log1p(rest))), axis=ax)


def _softmax_times_sum_minus(x: np.ndarray, y: np.ndarray, ax: int) -> np.ndarray:
    """``softmax(x)·Σy − y`` without cancellation for the dominant entry.

    Where s_i > 1/2, ``s_i Σy − y_i = Σ_{j≠i} y_j − Σy·Σ_{j≠i} s_j``: the complement
    ``1 − s_i`` is summed from the other entries instead of subtracted from 1.
    """
    s = softmax(x, ax)
    total = np.sum(y, axis=ax, keepdims=True)
    plain = s * total - y
    dominant = total - y - total * sum_others(s, ax)
    return np.where(s > 0.5, dominant, plain)


def _softmax_ce_vjp(cotangent: Any, wrt: str, *, labels: Any, logits: Any, axis: int = -1) -> np.ndarray:
    """c·(softmax(x)·Σy − y): the calculus gradient (TensorFlow's kernel uses softmax − y,
    the same when each label row sums to 1)."""
    v.wrt_of("softmax_cross_entropy_with_logits", wrt, ("logits",))
    y, x, ax = _softmax_ce_args(labels, logits, axis)
    out_shape = x.shape[:ax] + x.shape[ax + 1 :]
    c = np.expand_dims(v.cotangent_like(cotangent, out_shape), ax)
    return c * _softmax_times_sum_minus(x, y, ax)


def _sparse_args(labels: Any, logits: Any) -> tuple[np.ndarray, np.ndarray]:
    v.required("labels", labels)
    v.required("logits", logits)
    x = v.as_float("logits", logits, min_rank=1)
    shape = np.shape(labels)
    if shape != x.shape[:-1]:
        raise ValueError(f"labels: shape {shape} does not match logits.shape[:-1] = {x.shape[:-1]}")
    k = v.as_index("labels", labels, 0, x.shape[-1])
    return k, x


def sparse_softmax_cross_entropy_with_logits(labels: Any = None, logits: Any = None) -> np.ndarray:
    """logsumexp(x) − x_k over the last axis, ``k`` an integer class index in [0, C)."""
    k, x = _sparse_args(labels, logits)
    d, _, rest = logsumexp_shift(x, -1)
    dk = np.take_along_axis(d, k[..., None], axis=-1)
    return (dk + np.log1p(rest))[..., 0]


def _sparse_vjp(cotangent: Any, wrt: str, *, labels: Any, logits: Any) -> np.ndarray:
    v.wrt_of("sparse_softmax_cross_entropy_with_logits", wrt, ("logits",))
    k, x = _sparse_args(labels, logits)
    c = v.cotangent_like(cotangent, x.shape[:-1])[..., None]
    y = np.zeros_like(x)
    np.put_along_axis(y, k[..., None], 1.0, axis=-1)
    return c * _softmax_times_sum_minus(x, y, -1)


# --------------------------------------------------------------------------- Keras BCE / CCE


def _bce_args(target: Any, output: Any, convention: str, constants_dtype: Any):
    t, p = v.same_shape_pair("target", target, "output", output)
    conv = v.convention_of(convention)
    lo, hi = clip_bounds(EPS_K, dtype_name(constants_dtype))
    return t, p, conv, lo, hi


def binary_crossentropy(
    target: Any, output: Any, *, convention: str = "keras-ops", constants_dtype: Any = "float64"
) -> np.ndarray:
    """Keras BCE on probabilities, elementwise, P = clip(p, ε_k, 1 − ε_k).

    ``"keras-ops"`` (keras-ops): −(t·log P + (1 − t)·log(1 − P));
    ``"keras-legacy"`` (keras-legacy): −(t·log(P + ε_k) + (1 − t)·log(1 − P + ε_k)).
    ε_k and 1 − ε_k (and the legacy +ε_k) are held in ``constants_dtype``.
    With bound 1 (float16/bfloat16 constants), p = 1 and t = 1 give 0·log 0 = NaN in keras-ops,
    as the formula does.
    """
    t, p, conv, lo, hi = _bce_args(target, output, convention, constants_dtype)
    P = np.clip(p, lo, hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        if conv == "keras-ops":
            a = np.log(P)
            b = np.log1p(-P)
        else:
            a = np.where(P >= 0.5, np.log1p((P - 1.0) + lo), np.log(P + lo))
            b = np.where(P <= 0.5, np.log1p(lo - P), np.log((1.0 - P) + lo))
        return -(t * a + (1.0 - t) * b)


def _bce_vjp(
    cotangent: Any, wrt: str, *, target: Any, output: Any, convention: str = "keras-ops",
    constants_dtype: Any = "float64",
) -> np.ndarray:
    v.wrt_of("binary_crossentropy", wrt, ("output",))
    t, p, conv, lo, hi = _bce_args(target, output, convention, constants_dtype)
    P = np.clip(p, lo, hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        if conv == "keras-ops":
            g = (P - t) / (P * (1.0 - P))
        else:
            g = (1.0 - t) / ((1.0 - P) + lo) - t / (P + lo)
    inside = (p >= lo) & (p <= hi)
    g = np.where(inside, g, np.where(np.isnan(p), np.nan, 0.0))
    return v.cotangent_like(cotangent, p.shape) * g


def _bce_kinks(wrt: str, *, target: Any, output: Any, convention: str = "keras-ops",
               constants_dtype: Any = "float64") -> np.ndarray:
    v.wrt_of("binary_crossentropy", wrt, ("output",))
    _, p, _, lo, hi = _bce_args(target, output, convention, constants_dtype)
    return (p == lo) | (p == hi)


def _cce_parts(target: Any, output: Any, axis: Any, convention: str, constants_dtype: Any):
    """Shared pieces of CCE: t, q = p/S, r = 1 − q, S, axis, masks and bounds."""
    t, p = v.same_shape_pair("target", target, "output", output, min_rank=1)
    ax = v.axis_of("axis", axis, p.ndim)
    v.convention_of(convention)  # both conventions give the same CCE formula
    lo, hi = clip_bounds(EPS_K, dtype_name(constants_dtype))
    ehi = 1.0 - hi  # exact (Sterbenz)
    S = np.sum(p, axis=ax, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = p / S
        r = sum_others(p, ax) / S
    low = q < lo
    high = r < ehi  # q > hi, decided on 1 − q, which is accurate near q = 1
    return t, p, q, r, S, ax, lo, ehi, low, high


CCE_VARIANTS = ("CCE-UNNORMALISED",)


def _cce_unnormalised(target: Any, output: Any, axis: int, constants_dtype: Any) -> tuple:
    """The common mistake CCE-UNNORMALISED: −Σ t·log clip(p) without dividing by Σp first."""
    t, p = v.same_shape_pair("target", target, "output", output, min_rank=1)
    ax = v.axis_of("axis", axis, p.ndim)
    lo, hi = clip_bounds(EPS_K, dtype_name(constants_dtype))
    return t, p, ax, lo, hi


def categorical_crossentropy(
    target: Any, output: Any, axis: int = -1, *, convention: str = "keras-ops", constants_dtype: Any = "float64",
    variants: Any = (),
) -> np.ndarray:
    """Keras CCE on probabilities: −Σ_i t_i·log clip(p_i / Σ_j p_j, ε_k, 1 − ε_k) along ``axis``.

    Keras' legacy and ops versions compute the same formula, so ``convention`` only
    has to be valid.  A row summing to 0 gives NaN (0/0).
    """
    if v.variants_of("categorical_crossentropy", variants, CCE_VARIANTS):
        t, p, ax, lo, hi = _cce_unnormalised(target, output, axis, constants_dtype)
        with np.errstate(divide="ignore", invalid="ignore"):
            return -np.sum(t * np.log(np.clip(p, lo, hi)), axis=ax)
    t, p, q, r, S, ax, lo, ehi, low, high = _cce_parts(target, output, axis, convention, constants_dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        logq = np.where(q > 0.5, np.log1p(-r), np.log(q))
        logP = np.where(low, np.log(lo), np.where(high, np.log1p(-ehi), logq))
        return -np.sum(t * logP, axis=ax)


def _cce_vjp(
    cotangent: Any, wrt: str, *, target: Any, output: Any, axis: int = -1, convention: str = "keras-ops",
    constants_dtype: Any = "float64", variants: Any = (),
) -> np.ndarray:
    """dL/dp_k = (g_k − Σ_i g_i q_i)/S with g_i = −t_i/q_i inside the clip, 0 outside.

    Inside, ``g_k + T_I = Σ_{i∈I, i≠k} t_i − t_k·(1 − q_k)/q_k`` (I: unclipped entries),
    written so that nothing cancels for the dominant entry.
    """
    v.wrt_of("categorical_crossentropy", wrt, ("output",))
    if v.variants_of("categorical_crossentropy", variants, CCE_VARIANTS):
        t, p, ax, lo, hi = _cce_unnormalised(target, output, axis, constants_dtype)
        c = np.expand_dims(v.cotangent_like(cotangent, p.shape[:ax] + p.shape[ax + 1:]), ax)
        with np.errstate(divide="ignore", invalid="ignore"):
            return c * np.where((p >= lo) & (p <= hi), -t / p, 0.0)
    t, p, q, r, S, ax, lo, ehi, low, high = _cce_parts(target, output, axis, convention, constants_dtype)
    inside = ~(low | high)
    tI = np.where(inside, t, 0.0)
    out_shape = p.shape[:ax] + p.shape[ax + 1 :]
    c = np.expand_dims(v.cotangent_like(cotangent, out_shape), ax)
    with np.errstate(divide="ignore", invalid="ignore"):
        g_in = sum_others(tI, ax) - t * (r / q)
        g = np.where(inside, g_in, np.sum(tI, axis=ax, keepdims=True)) / S
    return c * g


def _cce_kinks(wrt: str, *, target: Any, output: Any, axis: int = -1, convention: str = "keras-ops",
               constants_dtype: Any = "float64", variants: Any = ()) -> np.ndarray:
    """Whole rows (along ``axis``) where some entry with t ≠ 0 sits on a clip bound.

    The normalised q_i depends on every p_j of its row, so an entry on a bound makes
    the loss non-differentiable with respect to the whole row.
    """
    v.wrt_of("categorical_crossentropy", wrt, ("output",))
    t, p, q, r, S, ax, lo, ehi, low, high = _cce_parts(target, output, axis, convention, constants_dtype)
    on = (np.abs(q - lo) <= _BOUND_RTOL * lo) | (np.abs(r - ehi) <= _BOUND_RTOL * ehi)
    row = np.any(on & (t != 0), axis=ax, keepdims=True)
    return np.broadcast_to(row, p.shape).copy()


SPECS: list[OracleSpec] = [
    OracleSpec(
        "sigmoid_cross_entropy_with_logits", "nn", keyword_evaluate(sigmoid_cross_entropy_with_logits), _sce_vjp,
        smooth_kinks("sigmoid_cross_entropy_with_logits", ("logits",)), ("logits",), variants=WCE_GRAD_AT_ZERO,
    ),
    OracleSpec(
        "weighted_cross_entropy_with_logits", "nn", keyword_evaluate(weighted_cross_entropy_with_logits), _wce_vjp,
        smooth_kinks("weighted_cross_entropy_with_logits", ("logits",)), ("logits",), variants=WCE_GRAD_AT_ZERO,
    ),
    OracleSpec(
        "softmax_cross_entropy_with_logits", "nn", keyword_evaluate(softmax_cross_entropy_with_logits),
        _softmax_ce_vjp, smooth_kinks("softmax_cross_entropy_with_logits", ("logits",)), ("logits",),
    ),
    OracleSpec(
        "sparse_softmax_cross_entropy_with_logits", "nn", keyword_evaluate(sparse_softmax_cross_entropy_with_logits),
        _sparse_vjp, smooth_kinks("sparse_softmax_cross_entropy_with_logits", ("logits",)), ("logits",),
    ),
    OracleSpec(
        "binary_crossentropy", "nn", keyword_evaluate(binary_crossentropy), _bce_vjp, _bce_kinks, ("output",),
        conventions=True,
    ),
    OracleSpec(
        "categorical_crossentropy", "nn", keyword_evaluate(categorical_crossentropy), _cce_vjp, _cce_kinks,
        ("output",), conventions=True, variants=CCE_VARIANTS,
    ),
]
