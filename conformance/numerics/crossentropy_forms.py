"""The cross-entropies' forms, step by step, for their running error bounds (:mod:`conformance.numerics.form_bounds`).

Each function takes an arithmetic ``d`` (:class:`~conformance.numerics.bounds.Bounded` for the bound, the literal
evaluator for the dtype's own result) and the example's arrays, and evaluates one faithful form of the formula: the
documents' (TensorFlow's and Keras' code) and the other orders frameworks use (PyTorch's, JAX's).  A name's value
tolerance in float16 and bfloat16 is at most FORM times the largest bound over its forms (docs/tolerances.md,
"Running error bounds"); a form written here is admitted, one that is not is judged by that bound.

Reductions accumulate as the platform was measured to (:meth:`Bounded.sum`); a maximum is an exact selection.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.numerics.bounds import exact
from oracle.crossentropy import EPS_K  # the Keras backend epsilon: clip bounds ε_k and 1 − ε_k in the dtype


def _ax(axis: Any) -> int:
    return -1 if axis is None else int(axis)


def _drop(x: Any, axis: int) -> Any:
    """A reduction's kept axis removed."""
    nd = np.ndim(exact(x))
    return x[tuple(0 if i == axis % nd else slice(None) for i in range(nd))]


def sce(d: Any, z: Any, x: Any) -> Any:
    """The sigmoid cross-entropy as the documents write it: max(x, 0) − x·z + log(1 + e^(−|x|))."""
    return d.f(d.f(d.maximum(x, d.c(0.0)) - d.f(x * z)) + d.log1p(d.exp(-d.abs(x))))


def _focal(d: Any, z: Any, x: Any, alpha: float, gamma: float, torchvision: bool) -> Any:
    """α_t·(1 − p_t)^γ·SCE: 1 − p_t as the documents write it, z·σ(−x) + (1 − z)·σ(x), or as torchvision does,
    1 − (p·z + (1 − p)·(1 − z)) with p = σ(x) (which cancels where p_t is near 1)."""
    one_z = d.f(d.c(1.0) - z)
    if torchvision:
        p = d.sigmoid(x)
        miss = d.f(d.c(1.0) - d.f(d.f(p * z) + d.f(d.f(d.c(1.0) - p) * one_z)))
    else:
        miss = d.f(d.f(z * d.sigmoid(-x)) + d.f(one_z * d.sigmoid(x)))
    loss = sce(d, z, x) if gamma == 0 else d.f(d.pow(miss, gamma) * sce(d, z, x))
    if alpha < 0:
        return loss
    return d.f(d.f(d.f(d.c(alpha) * z) + d.f(d.c(1.0 - alpha) * one_z)) * loss)


def _softplus_torch(d: Any, x: Any) -> Any:
    """softplus(−x) as PyTorch's BCEWithLogits writes it: log(e^(−m) + e^(−x − m)) + m, m = max(−x, 0)."""
    m = d.maximum(-x, d.c(0.0))
    return d.f(d.log(d.f(d.exp(-m) + d.exp(d.f(-x - m)))) + m)


def sce_forms() -> list:
    return [sce,  # the documents' (TensorFlow's kernel)
            lambda d, z, x: d.f(d.softplus(x) - d.f(x * z)),  # softplus(x) − x·z
            lambda d, z, x: d.f(d.f(d.f(d.c(1.0) - z) * x) + _softplus_torch(d, x))]  # PyTorch's




def _wce(d: Any, z: Any, x: Any, q: Any, torch: bool) -> Any:
    """(1 − z)·x + (1 + (q − 1)·z)·softplus(−x): softplus(−x) as the documents write it, log(1 + e^(−|x|)) +
    max(−x, 0), or as PyTorch does."""
    weight = d.f(d.c(1.0) + d.f(d.c(float(q) - 1.0) * z))
    soft = _softplus_torch(d, x) if torch else d.f(d.log1p(d.exp(-d.abs(x))) + d.maximum(-x, d.c(0.0)))
    return d.f(d.f(d.f(d.c(1.0) - z) * x) + d.f(weight * soft))


def _shifted(d: Any, x: Any, ax: int) -> tuple[Any, Any]:
    """(x − max x, Σ e^(x − max x)) along ``ax``: the stable logsumexp's parts."""
    s = d.f(x - d.amax(x, ax))
    return s, d.sum(d.exp(s), ax)


def _softmax_ce(d: Any, y: Any, x: Any, axis: Any, log_softmax: bool) -> Any:
    """Σ y·(log S − s) as TensorFlow's kernel computes it, or −Σ y·(s − log S) after a log-softmax (PyTorch, JAX)."""
    ax = _ax(axis)
    s, total = _shifted(d, x, ax)
    lse = d.log(total)
    terms = -d.f(y * d.f(s - lse)) if log_softmax else d.f(y * d.f(lse - s))
    return _drop(d.sum(terms, ax), ax)


def _sparse_ce(d: Any, x: Any, labels: Any) -> Any:
    """log S − s_k (TensorFlow's kernel; −log_softmax(x)_k is the same steps)."""
    s, total = _shifted(d, x, -1)
    k = np.clip(np.asarray(labels, dtype=np.int64), 0, np.shape(exact(x))[-1] - 1)[..., None]
    return _drop(d.f(d.log(total) - d.take(s, k, -1)), -1)


def _entropy(d: Any, p: Any, axis: Any) -> Any:
    """−Σ p·log p with 0·log 0 = 0."""
    ax, pos = _ax(axis), exact(p) > 0
    terms = d.where(pos, d.f(p * d.log(d.where(pos, p, d.c(1.0)))), d.c(0.0))
    return _drop(-d.sum(terms, ax), ax)


def _kl(d: Any, p: Any, q: Any, axis: Any, difference: bool) -> Any:
    """Σ p·log(p/q) (Keras' form), or Σ p·(log p − log q) (PyTorch's ``kl_div`` on log q), with 0·log(0/q) = 0."""
    ax, pos = _ax(axis), exact(p) > 0
    one = d.c(1.0)
    if difference:
        log_ratio = d.f(d.log(d.where(pos, p, one)) - d.log(d.where(pos, q, one)))
    else:
        log_ratio = d.log(d.where(pos, d.f(p / d.where(pos, q, one)), one))
    return _drop(d.sum(d.where(pos, d.f(p * log_ratio), d.c(0.0)), ax), ax)


def _clip(d: Any, p: Any) -> Any:
    """clip(p, ε_k, 1 − ε_k), the bounds the dtype's constants (within their rounding)."""
    return d.minimum(d.maximum(p, d.c(EPS_K)), d.c(1.0 - EPS_K))


def bce(d: Any, t: Any, p: Any, legacy: bool) -> Any:
    """Keras' BCE: −(t·log P + (1 − t)·log(1 − P)), P = clip(p); the legacy form adds ε_k inside both logs."""
    big = _clip(d, p)
    rest = d.f(d.c(1.0) - big)
    if legacy:
        big, rest = d.f(big + d.c(EPS_K)), d.f(rest + d.c(EPS_K))
    return -d.f(d.f(t * d.log(big)) + d.f(d.f(d.c(1.0) - t) * d.log(rest)))


def _cce(d: Any, t: Any, p: Any, axis: Any) -> Any:
    """Keras' CCE: −Σ t·log clip(p / Σp) (both conventions)."""
    ax = _ax(axis)
    q = _clip(d, d.f(p / d.sum(p, ax)))
    return _drop(-d.sum(d.f(t * d.log(q)), ax), ax)


# name -> (float arguments, other arguments, forms(arithmetic, *floats, *others))
# the names whose gradients are bounded too (their forms are elementwise: traced as autodiff takes them)
TRACED = ("sigmoid_cross_entropy_with_logits", "weighted_cross_entropy_with_logits")
FORMS = {
    "sigmoid_focal_loss": (("labels", "logits"), ("alpha", "gamma"),
                           [lambda d, z, x, a, g, tv=tv: _focal(d, z, x, float(a), float(g), tv)
                            for tv in (False, True)]),
    "sigmoid_cross_entropy_with_logits": (("labels", "logits"), (), sce_forms()),
    "weighted_cross_entropy_with_logits": (("labels", "logits"), ("pos_weight",),
                                           [lambda d, z, x, q, tv=tv: _wce(d, z, x, q, tv) for tv in (False, True)]),
    "softmax_cross_entropy_with_logits": (("labels", "logits"), ("axis",),
                                          [lambda d, y, x, a, ls=ls: _softmax_ce(d, y, x, a, ls)
                                           for ls in (False, True)]),
    "sparse_softmax_cross_entropy_with_logits": (("logits",), ("labels",), [_sparse_ce]),
    "entropy": (("p",), ("axis",), [_entropy]),
    "kl_divergence": (("p", "q"), ("axis",), [lambda d, p, q, a, df=df: _kl(d, p, q, a, df) for df in (False, True)]),
    "binary_crossentropy": (("target", "output"), (), [lambda d, t, p, lg=lg: bce(d, t, p, lg)
                                                       for lg in (False, True)]),
    "categorical_crossentropy": (("target", "output"), ("axis",), [_cce]),
}
