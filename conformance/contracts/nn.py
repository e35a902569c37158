"""Family ``nn``: the elementary functions and cross-entropies of docs/contracts.md."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conformance.contracts import tags
from conformance.contracts.adversarial import big_fill, logit_fill, overriding, positive_rows_fill, prob_fill
from conformance.contracts.cce_numerics import cce_near_kinks
from conformance.contracts.draw import (
    arrays,
    fixed_normal,
    fixed_probs,
    one_hot,
    prob_rows,
    probabilities,
    random_mask,
    random_one_hot,
    reals,
    small_shape,
    softmax64,
)
from conformance.contracts.nn_entries import ENTRIES as NN_ENTRIES
from conformance.contracts.record import BadCase, Call, Contract, TimingCase
from conformance.numerics import crossentropy_forms
from conformance.numerics.dtypes import info
from conformance.numerics.form_bounds import bounds
from conformance.numerics.tolerance import Tolerance, axis_terms, elementwise_grad, max_ignoring_nan, sigmoid64
from oracle.crossentropy import EPS_K

LOGIT_SPECIALS = (0.0, 1.0, -1.0, 20.0, -20.0, 50.0, -50.0)


# --- realistic strategies ---------------------------------------------------------------------------------------


def logits(shape: tuple[int, ...], bound: float = 50.0) -> st.SearchStrategy[np.ndarray]:
    """Logit arrays in ``[-bound, bound]`` with 0 and large magnitudes drawn often."""
    return arrays(shape, reals(-bound, bound, LOGIT_SPECIALS))


@st.composite
def sigmoid(draw: st.DrawFn) -> dict:
    return {"x": draw(logits(draw(small_shape())))}


@st.composite
def softmax(draw: st.DrawFn) -> dict:
    shape = draw(small_shape())
    axis = draw(st.sampled_from([-1, *range(len(shape))]))
    return {"logits": draw(logits(shape)), "axis": axis}


@st.composite
def sigmoid_cross_entropy_with_logits(draw: st.DrawFn) -> dict:
    shape = draw(small_shape())
    return {"labels": draw(probabilities(shape, (0.0, 1.0, 0.5))), "logits": draw(logits(shape))}


@st.composite
def weighted_cross_entropy_with_logits(draw: st.DrawFn) -> dict:
    ex = draw(sigmoid_cross_entropy_with_logits())
    ex["pos_weight"] = draw(st.sampled_from((1.0, 0.25, 0.5, 2.0, 3.5, 10.0)))
    return ex


@st.composite
def sigmoid_focal_loss(draw: st.DrawFn) -> dict:
    ex = draw(sigmoid_cross_entropy_with_logits())
    ex["alpha"] = draw(st.sampled_from((0.25, 0.5, 0.75, 0.0, 1.0, -1.0)))
    ex["gamma"] = draw(st.sampled_from((2.0, 0.0, 0.5, 1.0, 3.0, 5.0)))
    return ex


@st.composite
def softmax_cross_entropy_with_logits(draw: st.DrawFn) -> dict:
    shape = draw(small_shape())
    axis = draw(st.sampled_from([-1, *range(len(shape))]))
    moved = np.moveaxis(np.empty(shape), axis, -1).shape
    # TensorFlow's documented contract: each row of labels is a probability distribution (its gradient,
    # softmax - labels, assumes the row sums to 1).
    labels = draw(st.one_of(one_hot(moved), prob_rows(moved, positive=True, normalised=True)))
    return {"labels": np.moveaxis(labels, -1, axis), "logits": draw(logits(shape)), "axis": axis}


@st.composite
def sparse_softmax_cross_entropy_with_logits(draw: st.DrawFn) -> dict:
    shape = draw(small_shape())
    c = shape[-1]
    labels = draw(hnp.arrays(np.int64, shape[:-1], elements=st.sampled_from((0, c - 1)) | st.integers(0, c - 1)))
    return {"labels": labels, "logits": draw(logits(shape))}


@st.composite
def binary_crossentropy(draw: st.DrawFn) -> dict:
    shape = draw(small_shape())
    return {"target": draw(probabilities(shape, (0.0, 1.0, 0.5))), "output": draw(probabilities(shape))}


@st.composite
def categorical_crossentropy(draw: st.DrawFn) -> dict:
    shape = draw(small_shape())
    return {
        "target": draw(st.one_of(one_hot(shape), prob_rows(shape))),
        "output": draw(prob_rows(shape, positive=True)),
        "axis": -1,
    }


@st.composite
def entropy(draw: st.DrawFn) -> dict:
    shape = draw(small_shape())
    return {"p": draw(prob_rows(shape)), "axis": draw(st.sampled_from([-1, *range(len(shape))]))}


@st.composite
def kl_divergence(draw: st.DrawFn) -> dict:
    shape = draw(small_shape())
    return {
        "p": draw(prob_rows(shape)),
        "q": draw(prob_rows(shape, positive=True)),
        "axis": draw(st.sampled_from([-1, *range(len(shape))])),
    }


@st.composite
def smooth_l1(draw: st.DrawFn) -> dict:
    return {"x": draw(arrays(draw(small_shape()), reals(-5.0, 5.0, (0.0, 1.0, -1.0, 0.5, -0.5, 1.5))))}


# --- tolerances -------------------------------------------------------------------------------------------------

def _sce_value(ex, e):
    x, z = ex["logits"], ex["labels"]
    return np.maximum(x, 0) + np.abs(x * z) + np.log1p(np.exp(-np.abs(x)))


def _wce_value(ex, e):
    x, z, q = ex["logits"], ex["labels"], ex["pos_weight"]
    return np.abs((1 - z) * x) + np.abs(1 + (q - 1) * z) * (np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0))


def _focal_parts(ex: dict) -> tuple[np.ndarray, np.ndarray, float]:
    """(α_t·(1 − p_t)^γ, σ(x)·σ(−x)/(1 − p_t), γ) of an example."""
    x, z, a, g = ex["logits"], ex["labels"], ex["alpha"], ex["gamma"]
    s, sc = sigmoid64(x), sigmoid64(-x)
    miss = z * sc + (1 - z) * s
    alpha_t = a * z + (1 - a) * (1 - z) if a >= 0 else 1.0
    r = np.where(miss > 0, s * sc / np.where(miss > 0, miss, 1.0), 0.0)
    return alpha_t * miss**g, r, g


def _focal_value(ex, e):
    """The SCE's scale times the weight, plus (1 + γ)·|L| for the rounding of 1 − p_t and its power."""
    w, _, g = _focal_parts(ex)
    return w * _sce_value(ex, e) + (1 + g) * np.abs(e)


def _focal_grad(ex):
    w, r, g = _focal_parts(ex)
    return w * ((1 + g) * g * r * _sce_value(ex, None) + sigmoid64(ex["logits"]) + np.abs(ex["labels"]))


def _onehot_labels(ex: dict) -> np.ndarray:
    y = ex["labels"]
    if np.issubdtype(np.asarray(y).dtype, np.integer):
        return np.eye(np.shape(ex["logits"])[-1])[y]
    return y


def _softmax_ce_value(ex, e):
    # logsumexp(x) - x_k: log(sum) carries an absolute error ~u (sum >= 1), x_i - max one of ~u |x_i - max|.
    x, y, ax = ex["logits"], _onehot_labels(ex), ex.get("axis", -1)
    shifted = x - x.max(axis=ax, keepdims=True)
    lse = np.log(np.exp(shifted).sum(axis=ax, keepdims=True))
    return np.sum(np.abs(y) * (np.abs(shifted) + lse + 1), axis=ax) + np.abs(e)


def _softmax_value(ex, e):
    # exp(x_i - max): the rounding of x_i - max becomes a relative error u |x_i - max| after exp.
    x, ax = ex["logits"], ex.get("axis", -1)
    return np.abs(e) * (1 + np.abs(x - x.max(axis=ax, keepdims=True)))


def _softmax_ce_grad(ex, wrt, grad, cot):
    x, y, ax = ex["logits"], _onehot_labels(ex), ex.get("axis", -1)
    s = np.exp(x - x.max(axis=ax, keepdims=True))
    s = s / s.sum(axis=ax, keepdims=True)
    c = np.expand_dims(np.abs(cot), ax)
    return c * (s * np.sum(np.abs(y), axis=ax, keepdims=True) + np.abs(y)) + np.abs(grad)


def _bce_conditioning(ex, e):
    """The rounding of the logs' arguments (P + ε once, 1 − P (+ ε) at most twice), absolute in the logs."""
    t = np.abs(ex["target"])
    return np.broadcast_to(t + 2 * np.abs(1 - ex["target"]), np.shape(e))


def _bce_grad(ex, wrt, grad, cot):
    p, t = np.clip(ex["output"], 1e-7, 1 - 1e-7), ex["target"]
    return np.abs(cot) * (np.abs(t) / p + np.abs(1 - t) / (1 - p)) + np.abs(grad)


def _cce_value(ex, e):
    """Σ|t|·|log q| + |e| per row, q = clip(p/Σp): the log's own rounding is relative (the quotient's, absolute in
    its log, is :func:`_cce_conditioning`). Below float16's smallest normal q may be subnormal or flushed, and its
    log only bounded by the clip: 17 ≈ 1 + |log ε_k| there."""
    ax = ex.get("axis", -1)
    t, p = np.abs(ex["target"]), np.abs(ex["output"])
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.clip(p / np.sum(p, axis=ax, keepdims=True), EPS_K, 1.0 - EPS_K)
        per = np.where(q >= info("float16").tiny, np.abs(np.log(q)), 17.0)  # NaN q (Σp = 0) takes 17 too
    return np.sum(t * per, axis=ax) + np.abs(e)


def _cce_conditioning(ex, e):
    """Σ|t|·2 per row: q = p / Σp rounds twice (the sum's result and the quotient; the sum's accumulation is added
    by the model), and q's relative error is an absolute error of log q."""
    return np.broadcast_to(2 * np.sum(np.abs(ex["target"]), axis=ex.get("axis", -1)), np.shape(e))


def _cce_grad(ex, wrt, grad, cot):
    """|c|·(t_k/p_k + Σt/Σp): the two terms of ∂L/∂p_k = c·(Σt/Σp − t_k/p_k) before they cancel (zero where t = p),
    with the default's |g| + max|g|. The clip bound ε_k·Σp caps t_k/p_k (below it the term is clipped away)."""
    ax = ex.get("axis", -1)
    t, p = np.abs(ex["target"]), np.abs(ex["output"])
    s = np.sum(p, axis=ax, keepdims=True)
    g = np.abs(grad)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = t / np.maximum(p, EPS_K * s) + np.sum(t, axis=ax, keepdims=True) / s
    return np.expand_dims(np.abs(cot), ax) * terms + g + max_ignoring_nan(g)


def _cancelling_cce(dtype: str) -> list[dict]:
    """target = output: the exact gradient Σt/Σp − t_k/p_k is 0 everywhere, the dtype's is rounding residue (found by
    the thorough profile in bfloat16: a scale of |g| demanded exactness)."""
    p = np.random.default_rng(0).uniform(0.08, 0.99, (3, 3, 4))
    return [{"target": p, "output": p, "axis": -1}]


def _entropy_grad(ex, wrt, grad, cot):
    ax = ex.get("axis", -1)
    p = np.maximum(ex["p"], 1e-300)
    c = np.expand_dims(np.abs(cot), ax)
    if wrt == "q":
        return c * ex["p"] / np.maximum(ex["q"], 1e-300) + np.abs(grad)
    extra = np.abs(np.log(np.maximum(ex["q"], 1e-300))) if "q" in ex else 0.0
    return c * (np.abs(np.log(p)) + 1 + extra) + np.abs(grad)


def _entropy_value(ex, e):
    """Σ|p|·(|log p| (+ |log q|)) + |e|: the logs' own roundings, relative to them (log p − log q cancels)."""
    ax = ex.get("axis", -1)
    p = ex["p"]
    logs = np.abs(np.log(np.where(p > 0, p, 1.0)))
    if "q" in ex:
        logs = logs + np.abs(np.log(np.maximum(ex["q"], 1e-300)))
    return np.sum(np.abs(p) * logs, axis=ax) + np.abs(e)


def _entropy_conditioning(ex, e):
    """Σ|p|: a log's argument rounded once (p / q) is an absolute error of the log, u per unit weight."""
    return np.broadcast_to(np.sum(np.abs(ex["p"]), axis=ex.get("axis", -1)), np.shape(e))


def _sigmoid_grad(ex, wrt, grad, cot):
    return np.abs(cot) * sigmoid64(ex["x"]) + np.abs(grad)


def _softmax_grad(ex, wrt, grad, cot):
    x, ax = ex["logits"], ex.get("axis", -1)
    s = np.exp(x - x.max(axis=ax, keepdims=True))
    s = s / s.sum(axis=ax, keepdims=True)
    return s * (np.abs(cot) + np.sum(np.abs(cot) * s, axis=ax, keepdims=True)) + np.abs(grad)


# value paths counted (Tolerance.ops, .kernels); docs/tolerances.md, "Counted chains"
SOFTPLUS = "softplus|exp+log1p"  # log(1 + e^{-|x|}) as one kernel or as two
_TOL = {
    "sigmoid": Tolerance(terms=lambda ex: 1, ops=2, kernels=("sigmoid|exp",), grad_scale=_sigmoid_grad),
    "softmax": Tolerance(terms=axis_terms("logits"), ops=3, kernels=("exp",), value_scale=_softmax_value,
                         grad_scale=_softmax_grad),
    "sigmoid_cross_entropy_with_logits": Tolerance(
        terms=lambda ex: 1, ops=3, kernels=(SOFTPLUS,), value_scale=_sce_value,
        grad_scale=elementwise_grad(lambda ex: sigmoid64(ex["logits"]) + np.abs(ex["labels"]))),
    "weighted_cross_entropy_with_logits": Tolerance(
        terms=lambda ex: 1, ops=6, kernels=(SOFTPLUS,), value_scale=_wce_value,
        grad_scale=elementwise_grad(lambda ex: np.abs(1 - ex["labels"])
                                     + np.abs(1 + (ex["pos_weight"] - 1) * ex["labels"]))),
    "sigmoid_focal_loss": Tolerance(terms=lambda ex: 1, value_scale=_focal_value,
                                    grad_scale=elementwise_grad(_focal_grad), **bounds("sigmoid_focal_loss")),
    "softmax_cross_entropy_with_logits": Tolerance(
        terms=axis_terms("logits"), ops=6, kernels=("exp", "log|log1p"), value_scale=_softmax_ce_value,
        grad_scale=_softmax_ce_grad),
    "sparse_softmax_cross_entropy_with_logits": Tolerance(
        terms=axis_terms("logits"), ops=6, kernels=("exp", "log|log1p"), value_scale=_softmax_ce_value,
        grad_scale=_softmax_ce_grad),
    "binary_crossentropy": Tolerance(terms=lambda ex: 1, ops=7, kernels=("log|log1p",), conditioning=_bce_conditioning,
                                     grad_scale=_bce_grad),
    "categorical_crossentropy": Tolerance(
        terms=lambda ex: 2 * np.shape(ex["output"])[ex.get("axis", -1)] + 2, ops=6, kernels=("log",),
        value_scale=_cce_value, conditioning=_cce_conditioning, grad_scale=_cce_grad),
    "entropy": Tolerance(terms=axis_terms("p"), ops=3, kernels=("log",), value_scale=_entropy_value,
                         conditioning=_entropy_conditioning, grad_scale=_entropy_grad),
    "kl_divergence": Tolerance(terms=axis_terms("p"), ops=4, kernels=("log|log1p",), value_scale=_entropy_value,
                               conditioning=_entropy_conditioning, grad_scale=_entropy_grad),
    "smooth_l1": Tolerance(terms=lambda ex: 1, ops=3, grad_scale=lambda ex, wrt, g, c: np.abs(g)),
}
_TOL.update({k: replace(_TOL[k], **bounds(k, k in crossentropy_forms.TRACED)) for k in crossentropy_forms.FORMS})


# --- stability, bad inputs, timing -------------------------------------------------------------------------------

STABILITY_LOGITS = (0.0, 1.0, -1.0, 20.0, -20.0, 100.0, -100.0, 1e4, -1e4)


def _fixed_logits(key: str, labels_key: str | None = None):
    def cases(dtype: str) -> list[dict]:
        ex = {key: np.array(STABILITY_LOGITS)}
        if labels_key:
            ex[labels_key] = np.tile([0.0, 1.0, 1.0], 3)
        return [ex]
    return cases


def _zero_logits(**extra) -> list[dict]:
    """Logits exactly 0 (zero-initialised heads) against labels 0, 1/2 and 1: the former invented kink."""
    return [{"labels": np.array([0.0, 0.5, 1.0, 1.0, 0.0, 0.25]), "logits": np.zeros(6), **extra}]


def _confident(gamma: float) -> dict:
    """Confident, correct predictions (1 − p_t ≥ 6e-6; cancels to 0 from σ(x)), where d(x^γ) is ∞ or TF's d(x^0) NaN."""
    return {"labels": np.array([1.0, 0, 1, 0]), "logits": np.array([12.0, -12, 9, -10]), "alpha": 0.25, "gamma": gamma}


def _large_gap_logits(sparse: bool = False) -> list[dict]:
    """Confident rows (logit gaps of 100+): a naive softmax overflows (e^100 = inf in float32) or takes log(0)."""
    logits = np.array([[100.0, 0.0, -20.0], [-50.0, 60.0, 0.0]])
    labels = np.array([2, 0]) if sparse else np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    return [{"labels": labels, "logits": logits, **({} if sparse else {"axis": -1})}]


def _pair(a: str, b: str, gen_a, gen_b, **extra):
    return lambda: {a: gen_a(2, 3), b: gen_b(2, 4), **extra}


def _broadcast(a: str, b: str, gen_a, gen_b, **extra) -> BadCase:
    """``a`` of shape (1, 3) against ``b`` of shape (2, 3): shapes that differ but broadcast (the rule of
    docs/contracts.md: raise, or return the value of the broadcast arguments)."""
    return BadCase("broadcast", a, lambda: {a: gen_a(1, 3), b: gen_b(2, 3), **extra}, broadcast=(a, b))


def _one_hot_rows(*shape: int) -> np.ndarray:
    return np.eye(shape[-1])[np.arange(int(np.prod(shape[:-1]))).reshape(shape[:-1]) % shape[-1]]


def _normalised(*shape: int) -> np.ndarray:
    p = fixed_probs(*shape)
    return p / p.sum(axis=-1, keepdims=True)


def _sparse(labels: np.ndarray):
    return lambda: {"labels": labels, "logits": fixed_normal(2, 3)}


def _prob_shape(d) -> tuple[int, ...]:
    # Elementwise cross-entropies on the YOLOv3 class-probability tensor; softmax ones on SSD-style priors.
    return (d.yolo_batches[0], d.yolo_grids[0], d.yolo_grids[0], 3, d.yolo_classes)


def _rows(d) -> tuple[int, ...]:
    return (d.ce_batch, d.ce_rows, d.ce_classes)


def _label(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def _timing_sce(d) -> list[TimingCase]:
    s = _prob_shape(d)
    return [TimingCase(_label(s), lambda rng: {"labels": random_mask(rng, s, 0.05, True),
                                               "logits": 2 * rng.standard_normal(s)})]


def _timing_wce(d) -> list[TimingCase]:
    s = _prob_shape(d)
    return [TimingCase(_label(s), lambda rng: {"labels": random_mask(rng, s, 0.05, True),
                                               "logits": 2 * rng.standard_normal(s), "pos_weight": 2.0})]


def _timing_softmax_ce(d) -> list[TimingCase]:
    r = _rows(d)
    return [TimingCase(_label(r), lambda rng: {"labels": random_one_hot(rng, r), "logits": 2 * rng.standard_normal(r),
                                               "axis": -1})]


def _timing_sparse(d) -> list[TimingCase]:
    r = _rows(d)
    return [TimingCase(_label(r), lambda rng: {"labels": rng.integers(0, r[-1], r[:-1]),
                                               "logits": 2 * rng.standard_normal(r)})]


def _timing_bce(d) -> list[TimingCase]:
    s = _prob_shape(d)
    return [TimingCase(_label(s), lambda rng: {"target": random_mask(rng, s, 0.05, True),
                                               "output": rng.uniform(0.001, 0.999, s)})]


def _timing_cce(d) -> list[TimingCase]:
    r = _rows(d)
    return [TimingCase(_label(r), lambda rng: {"target": random_one_hot(rng, r),
                                               "output": softmax64(2 * rng.standard_normal(r)), "axis": -1})]


# --- records -----------------------------------------------------------------------------------------------------

_AXIS = (("axis", -1),)
_SCE_NAIVE = tags.large("logits", 20.0, "SCE-NAIVE", "|logits| >= 20: the naive form overflows or cancels")
_ELEMENTWISE = "elementwise: any shape, all arguments the same shape; float"
_ROWS = "any shape; the reduced axis is `axis` (default -1); float"

CONTRACTS = [
    Contract("sigmoid", "nn", Call(("x",)), sigmoid, ("x",), ("x",), _TOL["sigmoid"],
             overriding(sigmoid, {"x": logit_fill}), "σ(x) = 1 / (1 + e^−x)", "x: any shape, float",
             stability_cases=_fixed_logits("x"), output_range=(0.0, 1.0)),
    Contract("softmax", "nn", Call(("logits",), optional=_AXIS), softmax, ("logits",), ("logits",), _TOL["softmax"],
             overriding(softmax, {"logits": logit_fill}), "e^{x_i} / Σ_j e^{x_j} along `axis`", _ROWS,
             output_range=(0.0, 1.0)),
    Contract("sigmoid_cross_entropy_with_logits", "nn", Call(keyword=("labels", "logits")),
             sigmoid_cross_entropy_with_logits, ("labels", "logits"), ("logits",),
             _TOL["sigmoid_cross_entropy_with_logits"],
             overriding(sigmoid_cross_entropy_with_logits, {"logits": logit_fill, "labels": prob_fill}),
             "z·(−log σ(x)) + (1−z)·(−log(1−σ(x))); stable: max(x,0) − x·z + log(1+e^{−|x|})", _ELEMENTWISE,
             divergences=("SCE-NAIVE",),
             notes="smooth everywhere, x = 0 included: the exact derivative σ(x) − z is required there",
             stability_cases=_fixed_logits("logits", "labels"), pinned=_zero_logits,
             bad_inputs=(BadCase("shape-mismatch", "labels", _pair("logits", "labels", fixed_normal, fixed_probs)),
                         _broadcast("labels", "logits", fixed_probs, fixed_normal)),
             tags=(_SCE_NAIVE,), timing=_timing_sce),
    Contract("weighted_cross_entropy_with_logits", "nn", Call(keyword=("labels", "logits", "pos_weight")),
             weighted_cross_entropy_with_logits, ("labels", "logits"), ("logits",),
             _TOL["weighted_cross_entropy_with_logits"],
             overriding(weighted_cross_entropy_with_logits, {"logits": logit_fill, "labels": prob_fill}),
             "q·z·(−log σ(x)) + (1−z)·(−log(1−σ(x)))", _ELEMENTWISE + "; pos_weight q a Python number",
             divergences=("TF-WCE-GRAD-AT-ZERO", "SCE-NAIVE"),
             notes="smooth at x = 0: the exact derivative (1 − z) − (1 + (q − 1)·z)·σ(−x) is required there",
             pinned=lambda: _zero_logits(pos_weight=3.0),
             bad_inputs=(BadCase("shape-mismatch", "labels",
                                 _pair("logits", "labels", fixed_normal, fixed_probs, pos_weight=2.0)),
                         _broadcast("labels", "logits", fixed_probs, fixed_normal, pos_weight=2.0)),
             tags=(_SCE_NAIVE,), timing=_timing_wce),
    Contract("sigmoid_focal_loss", "nn", Call(keyword=("labels", "logits", "alpha", "gamma")),
             sigmoid_focal_loss, ("labels", "logits"), ("logits",), _TOL["sigmoid_focal_loss"],
             overriding(sigmoid_focal_loss, {"logits": logit_fill, "labels": prob_fill}),
             "α_t·(1 − p_t)^γ·SCE(z, x); 1 − p_t = z·σ(−x) + (1 − z)·σ(x), α_t = α·z + (1 − α)·(1 − z) "
             "(1 for α < 0)", _ELEMENTWISE + "; alpha, gamma (≥ 0) Python numbers",
             notes="RetinaNet's focal loss (Lin et al. 2017) as torchvision.ops.sigmoid_focal_loss and Keras' "
                   "BinaryFocalCrossentropy(from_logits=True, apply_class_balancing=True) compute it, unreduced; "
                   "smooth everywhere, the gradient flows through (1 − p_t)^γ",
             stability_cases=lambda dtype: [dict(ex, alpha=0.25, gamma=2.0)
                                            for ex in _fixed_logits("logits", "labels")(dtype)],
             pinned=lambda: [*_zero_logits(alpha=0.25, gamma=2.0), _confident(0.0), _confident(0.5)],
             bad_inputs=(BadCase("shape-mismatch", "labels",
                                 _pair("logits", "labels", fixed_normal, fixed_probs, alpha=0.25, gamma=2.0)),),
             tags=(_SCE_NAIVE,)),
    Contract("softmax_cross_entropy_with_logits", "nn", Call(keyword=("labels", "logits"), optional=_AXIS),
             softmax_cross_entropy_with_logits, ("labels", "logits"), ("logits",),
             _TOL["softmax_cross_entropy_with_logits"],
             overriding(softmax_cross_entropy_with_logits, {"logits": logit_fill}),
             "−Σ_i y_i · log softmax(x)_i along `axis`", _ROWS + "; each labels row a distribution",
             divergences=("SCE-NAIVE",), pinned=_large_gap_logits,
             bad_inputs=(BadCase("classes-mismatch", "labels",
                                 lambda: {"logits": fixed_normal(2, 3), "labels": np.eye(4)[[0, 1]], "axis": -1}),
                         _broadcast("labels", "logits", _normalised, fixed_normal, axis=-1)),
             timing=_timing_softmax_ce),
    Contract("sparse_softmax_cross_entropy_with_logits", "nn", Call(keyword=("labels", "logits")),
             sparse_softmax_cross_entropy_with_logits, ("logits",), ("logits",),
             _TOL["sparse_softmax_cross_entropy_with_logits"],
             overriding(sparse_softmax_cross_entropy_with_logits, {"logits": logit_fill}),
             "logsumexp(x) − x_k", "logits: (..., C) float; labels: (...) integers in [0, C)",
             int_args=("labels",), divergences=("SPARSE-LABEL-RANGE", "SCE-NAIVE"),
             pinned=lambda: _large_gap_logits(sparse=True),
             bad_inputs=(BadCase("label-equals-C", "labels", _sparse(np.array([0, 3])), "SPARSE-LABEL-RANGE"),
                         BadCase("label-negative", "labels", _sparse(np.array([-1, 2])), "SPARSE-LABEL-RANGE"),
                         BadCase("labels-shape", "labels", _sparse(np.array([0, 1, 2])))),
             timing=_timing_sparse),
    Contract("binary_crossentropy", "nn", Call(("target", "output")), binary_crossentropy, ("target", "output"),
             ("output",), _TOL["binary_crossentropy"],
             overriding(binary_crossentropy, {"target": prob_fill, "output": prob_fill}),
             "−(t·log P + (1−t)·log(1−P)), P = clip(p, ε_k, 1−ε_k)", _ELEMENTWISE + "; output p a probability",
             conventions=True, constants_dtype=True,
             bad_inputs=(BadCase("shape-mismatch", "output", _pair("target", "output", fixed_probs, fixed_probs)),
                         _broadcast("target", "output", fixed_probs, fixed_probs)),
             tags=(tags.conventions_differ(),), timing=_timing_bce),
    Contract("categorical_crossentropy", "nn", Call(("target", "output"), optional=_AXIS), categorical_crossentropy,
             ("target", "output"), ("output",), _TOL["categorical_crossentropy"],
             overriding(categorical_crossentropy, {"output": positive_rows_fill}),
             "−Σ_i t_i · log clip(p_i / Σ_j p_j, ε_k, 1−ε_k) along `axis`", _ROWS + "; output rows with a positive sum",
             conventions=True, constants_dtype=True, near_kinks=cce_near_kinks, stability_cases=_cancelling_cce,
             bad_inputs=(BadCase("classes-mismatch", "output",
                                 lambda: {"target": np.eye(3)[[0, 1]], "output": fixed_probs(2, 4), "axis": -1}),
                         _broadcast("target", "output", _one_hot_rows, fixed_probs, axis=-1)),
             timing=_timing_cce),
    Contract("entropy", "nn", Call(("p",), optional=_AXIS), entropy, ("p",), ("p",), _TOL["entropy"],
             overriding(entropy, {"p": prob_fill}), "−Σ p·log p along `axis`, 0·log 0 = 0", _ROWS),
    Contract("kl_divergence", "nn", Call(("p", "q"), optional=_AXIS), kl_divergence, ("p", "q"), ("p", "q"),
             _TOL["kl_divergence"], overriding(kl_divergence, {"p": prob_fill}),
             "Σ p·log(p/q) along `axis`, 0·log(0/q) = 0", _ROWS,
             bad_inputs=(BadCase("shape-mismatch", "q",
                                 lambda: {"p": fixed_probs(2, 3), "q": fixed_probs(2, 4), "axis": -1}),
                         _broadcast("p", "q", _normalised, _normalised, axis=-1))),
    Contract("smooth_l1", "nn", Call(("x",)), smooth_l1, ("x",), ("x",), _TOL["smooth_l1"],
             overriding(smooth_l1, {"x": big_fill}), "0.5·x² if |x| ≤ 1 else |x| − 0.5", "x: any shape, float",
             notes="no kink at |x| = 1 (both pieces have slope sign(x)): the exact derivative is required there"),
]
CONTRACTS = [replace(c, entry=NN_ENTRIES[c.name]) for c in CONTRACTS]
