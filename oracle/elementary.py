"""Elementary functions of family ``nn`` (docs/contracts.md): ``sigmoid``, ``softmax``, ``entropy``, ``kl_divergence``,
``smooth_l1``, and the overflow-free kernels the cross-entropies (:mod:`oracle.crossentropy`) share.

Everything is evaluated in float64 in forms that neither overflow nor cancel:

* ``σ(x)`` from ``e^{−|x|}`` (never overflows), ``σ(x)(1 − σ(x)) = e^{−|x|} / (1 + e^{−|x|})²``.
* Softmax: ``e^{x_i − m} / (1 + Σ_{j≠argmax} e^{x_j − m})``; the same pieces give
  ``logsumexp(x) − x_i = (m − x_i) + log1p(Σ_{j≠argmax} e^{x_j − m})``.
* KL: ``log(p/q) = log1p((p − q)/q)`` when ``1/2 ≤ p/q ≤ 2`` (``p − q`` exact), else
  ``log p − log q``.

Kinks (docs/contracts.md): ``p = 0`` in entropy, ``p = 0`` or ``q = 0`` in KL.  Smooth L1 is continuously
differentiable at ``|x| = 1`` (both pieces have slope ``sign(x)`` there), so it has no kink.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _validate as v
from ._spec import OracleSpec, keyword_evaluate, smooth_kinks

__all__ = ["entropy", "kl_divergence", "logsumexp_shift", "sigmoid", "sigmoid_parts", "smooth_l1", "softmax",
           "sum_others"]


def sigmoid_parts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(e^{−|x|}, σ(x), σ(−x))`` without overflow."""
    z = np.exp(-np.abs(x))
    a = 1.0 / (1.0 + z)
    b = z / (1.0 + z)
    pos = x >= 0
    return z, np.where(pos, a, b), np.where(pos, b, a)


def logsumexp_shift(x: np.ndarray, ax: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For logsumexp along ``ax``: ``(m − x, e^{x − m}, Σ_{j≠argmax} e^{x_j − m})``.

    ``logsumexp(x) − x_i = (m − x_i) + log1p(third)``; ``softmax = e / (1 + third)``.
    """
    m = np.max(x, axis=ax, keepdims=True)
    with np.errstate(invalid="ignore", over="ignore"):
        d = m - x
    e = np.exp(-d)
    e_others = e.copy()
    if x.shape[ax] > 0:
        np.put_along_axis(e_others, np.argmax(x, axis=ax, keepdims=True), 0.0, axis=ax)
    return d, e, np.sum(e_others, axis=ax, keepdims=True)


def sum_others(x: np.ndarray, ax: int) -> np.ndarray:
    """``Σ_{j≠i} x_j`` along ``ax`` for every ``i``, shaped like ``x``.

    ``S − x_i`` is accurate (within a factor 2 of the sum's rounding) whenever
    ``x_i ≤ S/2`` for non-negative ``x``; the entry of largest magnitude, the only one
    that can exceed ``S/2``, is summed directly without itself.
    """
    s = np.sum(x, axis=ax, keepdims=True)
    out = s - x
    if x.shape[ax] > 0:
        idx = np.argmax(np.abs(x), axis=ax, keepdims=True)
        masked = x.copy()
        np.put_along_axis(masked, idx, 0.0, axis=ax)
        np.put_along_axis(out, idx, np.sum(masked, axis=ax, keepdims=True), axis=ax)
    return out


# --------------------------------------------------------------------------- sigmoid


def sigmoid(x: Any) -> np.ndarray:
    """σ(x) = 1 / (1 + e^{−x}), elementwise and without overflow."""
    return sigmoid_parts(v.as_float("x", x))[1]


def _sigmoid_vjp(cotangent: Any, wrt: str, *, x: Any) -> np.ndarray:
    v.wrt_of("sigmoid", wrt, ("x",))
    xx = v.as_float("x", x)
    z = np.exp(-np.abs(xx))
    return v.cotangent_like(cotangent, xx.shape) * (z / (1.0 + z) ** 2)


# --------------------------------------------------------------------------- softmax


def softmax(logits: Any, axis: int = -1) -> np.ndarray:
    """e^{x_i} / Σ_j e^{x_j} along ``axis``."""
    x = v.as_float("logits", logits, min_rank=1)
    ax = v.axis_of("axis", axis, x.ndim)
    _, e, rest = logsumexp_shift(x, ax)
    return e / (1.0 + rest)


def _softmax_vjp(cotangent: Any, wrt: str, *, logits: Any, axis: int = -1) -> np.ndarray:
    v.wrt_of("softmax", wrt, ("logits",))
    s = softmax(logits, axis)
    ax = v.axis_of("axis", axis, s.ndim)
    c = v.cotangent_like(cotangent, s.shape)
    return s * (c - np.sum(c * s, axis=ax, keepdims=True))


# --------------------------------------------------------------------------- entropy / KL


def entropy(p: Any, axis: int = -1) -> np.ndarray:
    """−Σ p·log p along ``axis``, with 0·log 0 = 0."""
    pp = v.as_float("p", p, min_rank=1)
    ax = v.axis_of("axis", axis, pp.ndim)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.sum(np.where(pp == 0, 0.0, pp * np.log(pp)), axis=ax)


def _entropy_vjp(cotangent: Any, wrt: str, *, p: Any, axis: int = -1) -> np.ndarray:
    """−c·(log p + 1); +inf at p = 0 (the one-sided limit; p = 0 is a kink)."""
    v.wrt_of("entropy", wrt, ("p",))
    pp = v.as_float("p", p, min_rank=1)
    ax = v.axis_of("axis", axis, pp.ndim)
    c = np.expand_dims(v.cotangent_like(cotangent, pp.shape[:ax] + pp.shape[ax + 1 :]), ax)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -c * (np.log(pp) + 1.0)


def _entropy_kinks(wrt: str, *, p: Any, axis: int = -1) -> np.ndarray:
    v.wrt_of("entropy", wrt, ("p",))
    pp = v.as_float("p", p, min_rank=1)
    v.axis_of("axis", axis, pp.ndim)
    return pp == 0


def _kl_args(p: Any, q: Any, axis: Any) -> tuple[np.ndarray, np.ndarray, int]:
    qq, pp = v.same_shape_pair("q", q, "p", p, min_rank=1)
    return pp, qq, v.axis_of("axis", axis, pp.ndim)


def _log_ratio(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """log(p/q) accurate also when p ≈ q."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = p / q
        near = (ratio >= 0.5) & (ratio <= 2.0)
        return np.where(near, np.log1p((p - q) / q), np.log(p) - np.log(q))


def kl_divergence(p: Any, q: Any, axis: int = -1) -> np.ndarray:
    """Σ p·log(p/q) along ``axis``, with 0·log(0/q) = 0 (p > 0, q = 0 gives +inf)."""
    pp, qq, ax = _kl_args(p, q, axis)
    with np.errstate(invalid="ignore"):
        return np.sum(np.where(pp == 0, 0.0, pp * _log_ratio(pp, qq)), axis=ax)


def _kl_vjp(cotangent: Any, wrt: str, *, p: Any, q: Any, axis: int = -1) -> np.ndarray:
    """wrt p: c·(log(p/q) + 1); wrt q: −c·p/q."""
    v.wrt_of("kl_divergence", wrt, ("p", "q"))
    pp, qq, ax = _kl_args(p, q, axis)
    c = np.expand_dims(v.cotangent_like(cotangent, pp.shape[:ax] + pp.shape[ax + 1 :]), ax)
    if wrt == "p":
        return c * (_log_ratio(pp, qq) + 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -c * (pp / qq)


def _kl_kinks(wrt: str, *, p: Any, q: Any, axis: int = -1) -> np.ndarray:
    v.wrt_of("kl_divergence", wrt, ("p", "q"))
    pp, qq, _ = _kl_args(p, q, axis)
    return (pp == 0) | (qq == 0) if wrt == "p" else qq == 0


# --------------------------------------------------------------------------- smooth L1


def smooth_l1(x: Any) -> np.ndarray:
    """0.5·x² if |x| ≤ 1 else |x| − 0.5, elementwise."""
    xx = v.as_float("x", x)
    ax = np.abs(xx)
    with np.errstate(over="ignore"):  # x² of the unused branch may overflow
        return np.where(ax <= 1.0, 0.5 * xx * xx, ax - 0.5)


def _smooth_l1_vjp(cotangent: Any, wrt: str, *, x: Any) -> np.ndarray:
    v.wrt_of("smooth_l1", wrt, ("x",))
    xx = v.as_float("x", x)
    return v.cotangent_like(cotangent, xx.shape) * np.where(np.abs(xx) <= 1.0, xx, np.sign(xx))


SPECS: list[OracleSpec] = [
    OracleSpec("sigmoid", "nn", keyword_evaluate(sigmoid), _sigmoid_vjp, smooth_kinks("sigmoid", ("x",)), ("x",)),
    OracleSpec("softmax", "nn", keyword_evaluate(softmax), _softmax_vjp, smooth_kinks("softmax", ("logits",)),
               ("logits",)),
    OracleSpec("entropy", "nn", keyword_evaluate(entropy), _entropy_vjp, _entropy_kinks, ("p",)),
    OracleSpec("kl_divergence", "nn", keyword_evaluate(kl_divergence), _kl_vjp, _kl_kinks, ("p", "q")),
    OracleSpec("smooth_l1", "nn", keyword_evaluate(smooth_l1), _smooth_l1_vjp, smooth_kinks("smooth_l1", ("x",)),
               ("x",)),
]
