"""Reference JAX implementation of every contract name in the loss catalogue.

The JAX counterpart of :mod:`conformance.targets.reference` (same names, same signatures,
same numerics; the contract, docs/contracts.md): ``jax.Array`` in and out,
configuration values as Python numbers or NumPy arrays, a tuple of three for
``loss_layer`` and ``compute_loss``, closures for the Faster R-CNN losses.

It evaluates stably in the dtype of the input arrays (float16, bfloat16, float32, or
float64 with ``jax_enable_x64`` on): every constant is created in the input's dtype.
Everything works under ``jax.jit`` (configuration values static, closed over): no Python
control flow on array values, all shapes static.

Bad labels and indices give NaN (JAX cannot raise on values under ``jit``, and gathers
clamp): ``sparse_softmax_cross_entropy_with_logits`` and ``reg_l1_loss`` return NaN for
out-of-range ones, never a silent finite value.

Accuracy beyond the textbook forms, as in the TensorFlow reference: log-softmax via log1p
of the non-maximal terms with a written-out VJP, σ and the sigmoid cross-entropies without
cancellation (and with the exact derivative σ(0) − z at logits 0), box overlaps from centre
differences, 1 − IoU and 1 − GIoU without cancellation, Σ(ε + m) as Σm + ε·numel(m).
Custom derivatives are ``jax.custom_vjp``.  Clipping follows TensorFlow (the gradient
passes for lo ≤ p ≤ hi inclusive), and ``min``/``max`` ties route the gradient to one
branch as TensorFlow does, not half to each as ``jnp.minimum``/``jnp.maximum`` do.

Binary and categorical cross-entropy follow convention "keras-ops": P is clipped to
[ε_k, 1 − ε_k] with ε_k rounded to the input dtype and 1 − ε_k computed in it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = [
    "sigmoid", "softmax", "sigmoid_cross_entropy_with_logits", "weighted_cross_entropy_with_logits",
    "softmax_cross_entropy_with_logits", "sparse_softmax_cross_entropy_with_logits",
    "binary_crossentropy", "categorical_crossentropy", "entropy", "kl_divergence", "smooth_l1",
    "rpn_loss_regr", "rpn_loss_cls", "class_loss_regr", "class_loss_cls",
    "decode", "bbox_iou", "bbox_giou", "iou_loss", "giou_loss", "diou_loss", "ciou_loss", "focal", "loss_layer",
    "compute_loss", "focal_loss", "reg_l1_loss", "loss",
]

# Constants of docs/contracts.md (created in the input's dtype where used).
LAMBDA_RPN_REGR = 1.0
LAMBDA_RPN_CLASS = 1.0
LAMBDA_CLS_REGR = 1.0
LAMBDA_CLS_CLASS = 1.0
EPSILON = 1e-4  # Faster R-CNN normalisers, CenterNet reg_l1_loss
EPSILON_KERAS = 1e-7  # probability clipping in BCE / CCE
EPSILON_CENTERNET = 1e-6  # CenterNet log clip
CENTERNET_ALPHA = 2.0
CENTERNET_BETA = 4.0
CENTERNET_WH_WEIGHT = 0.1


# --------------------------------------------------------------------------- helpers


def _float(x: Any) -> jax.Array:
    """A floating array; non-float input (integers, booleans) becomes float32."""
    a = jnp.asarray(x)
    return a if jnp.issubdtype(a.dtype, jnp.floating) else a.astype(jnp.float32)


def _cast(x: Any, dtype: Any) -> jax.Array:
    return jnp.asarray(x).astype(dtype)


def _const(value: Any, dtype: Any) -> jax.Array:
    """A configuration value or constant in ``dtype``, rounded once from its float64 value."""
    if isinstance(value, jax.Array):
        return value.astype(dtype)
    arr = np.asarray(value, dtype=np.float64)
    if dtype == jnp.bfloat16:  # through float32, as TensorFlow converts Python floats to bfloat16
        arr = arr.astype(np.float32)
    return jnp.asarray(arr.astype(dtype))


def _last_dim(x: jax.Array, name: str, expected: int, what: str) -> None:
    if x.ndim and x.shape[-1] != expected:
        raise ValueError(f"{name}: expected last axis of size {what} = {expected}, got {x.shape[-1]}")


def _rank(x: jax.Array, name: str, rank: int) -> None:
    if x.ndim != rank:
        raise ValueError(f"{name}: expected rank {rank}, got rank {x.ndim} (shape {x.shape})")


def _min(a: jax.Array, b: Any) -> jax.Array:
    """min(a, b), the gradient going to ``a`` on a tie (TensorFlow's convention; jnp.minimum splits it)."""
    return jnp.where(a <= b, a, b)


def _max(a: jax.Array, b: Any) -> jax.Array:
    """max(a, b), the gradient going to ``a`` on a tie."""
    return jnp.where(a >= b, a, b)


def _clip(p: jax.Array, lo: jax.Array, hi: jax.Array) -> jax.Array:
    """clip(p, lo, hi) passing the gradient for lo ≤ p ≤ hi (inclusive, as tf.clip_by_value)."""
    return jnp.where(p < lo, lo, jnp.where(p > hi, hi, p))


def _clip_prob(p: jax.Array, eps: float) -> jax.Array:
    """clip(p, ε, 1 − ε) with ε rounded to p's dtype and 1 − ε computed in that dtype (as Keras does)."""
    e = _const(eps, p.dtype)
    return _clip(p, e, 1 - e)


def _mul_no_nan(x: jax.Array, y: jax.Array) -> jax.Array:
    """x·y, 0 where y = 0 (also for infinite x), as tf.math.multiply_no_nan."""
    return jnp.where(y == 0, jnp.zeros_like(x), x * y)


@jax.custom_vjp
def _xlogy(x: jax.Array, y: jax.Array) -> jax.Array:
    """x·log y, 0 where x = 0; differentiated as TensorFlow's xlogy (no 0·inf = NaN where x = 0)."""
    has = x != 0
    return jnp.where(has, x * jnp.log(jnp.where(has, y, jnp.ones_like(y))), jnp.zeros_like(x))


def _xlogy_fwd(x: jax.Array, y: jax.Array) -> tuple[jax.Array, tuple]:
    return _xlogy(x, y), (x, y)


def _xlogy_bwd(res: tuple, g: jax.Array) -> tuple[jax.Array, jax.Array]:
    x, y = res
    has = x != 0
    one = jnp.ones_like(y)
    y_safe = jnp.where(has, y, one)
    zero = jnp.zeros_like(x)
    return g * jnp.where(has, jnp.log(y_safe), zero), g * jnp.where(has, x / y_safe, zero)


_xlogy.defvjp(_xlogy_fwd, _xlogy_bwd)


# --------------------------------------------------------------------------- nn (docs/contracts.md)


def sigmoid(x: Any) -> jax.Array:
    """σ(x) = 1 / (1 + e^{−x}), as 1/(1 + e^{−|x|}) or e^{−|x|}/(1 + e^{−|x|}) by sign (accurate gradient)."""
    x = _float(x)
    cond = x >= 0
    e = jnp.exp(jnp.where(cond, -x, x))
    return jnp.where(cond, 1 / (1 + e), e / (1 + e))


def softmax(logits: Any, axis: int = -1) -> jax.Array:
    """e^{x_i} / Σ_j e^{x_j} along ``axis`` (max-shifted)."""
    return jax.nn.softmax(_float(logits), axis=axis)


def _softplus_pair(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(softplus(x), softplus(−x)) = (max(x, 0), max(−x, 0)) + log1p(e^{−|x|}), selected by ``x >= 0``.

    The branch selection makes the gradients the exact σ(x) and −σ(−x), also at x = 0.
    """
    cond = x >= 0
    zero = jnp.zeros_like(x)
    tail = jnp.log1p(jnp.exp(jnp.where(cond, -x, x)))
    return jnp.where(cond, x, zero) + tail, jnp.where(cond, zero, -x) + tail


def sigmoid_cross_entropy_with_logits(labels: Any = None, logits: Any = None) -> jax.Array:
    """Elementwise −z log σ(x) − (1−z) log(1−σ(x)), as x·(1 − z) (x ≥ 0) or −x·z (x < 0) plus log1p(e^{−|x|})."""
    x = _float(logits)
    z = _cast(labels, x.dtype)
    cond = x >= 0
    linear = jnp.where(cond, x * (1 - z), -x * z)
    return linear + jnp.log1p(jnp.exp(jnp.where(cond, -x, x)))


def weighted_cross_entropy_with_logits(labels: Any = None, logits: Any = None, pos_weight: Any = 1.0) -> jax.Array:
    """Elementwise q·z·softplus(−x) + (1−z)·softplus(x), the label weight q·z formed first (float16 range)."""
    x = _float(logits)
    z = _cast(labels, x.dtype)
    q = _const(pos_weight, x.dtype)
    sp_pos, sp_neg = _softplus_pair(x)
    return _mul_no_nan(q, z) * sp_neg + (1 - z) * sp_pos


def _axis(x: jax.Array, axis: int, name: str = "axis") -> int:
    if not -x.ndim <= int(axis) < x.ndim:
        raise ValueError(f"{name}: {axis} is out of range for rank {x.ndim}")
    return int(axis) % x.ndim


def _xent_parts(x: jax.Array, ax: int) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """(is_max, e = e^{x − m}, rest = Σ_{j≠argmax} e_j, log softmax) along ``ax``."""
    m = jnp.max(x, axis=ax, keepdims=True)
    d = x - m
    arg = jnp.expand_dims(jnp.argmax(x, axis=ax), ax)
    is_max = lax.broadcasted_iota(arg.dtype, x.shape, ax) == arg
    e = jnp.exp(d)
    rest = jnp.sum(jnp.where(is_max, jnp.zeros_like(e), e), axis=ax, keepdims=True)
    return is_max, e, rest, d - jnp.log1p(rest)


@partial(jax.custom_vjp, nondiff_argnums=(2,))
def _softmax_xent(y: jax.Array, x: jax.Array, ax: int) -> jax.Array:
    """−Σ y·log softmax(x) along ``ax`` (y, x of one shape), accurate also for confident rows.

    With a the argmax, m = x_a and s = Σ_{j≠a} e^{x_j − m}: log softmax = (x − m) − log1p(s).
    The VJP softmax·Σy − y is written out; at the argmax it is (Σ_{j≠a} y_j − y_a·s)/(1 + s).
    """
    _, _, _, log_p = _xent_parts(x, ax)
    # 0 · log softmax = 0 even where log softmax overflows to -inf (extreme logits in float16)
    return -jnp.sum(_mul_no_nan(log_p, y), axis=ax)


def _softmax_xent_fwd(y: jax.Array, x: jax.Array, ax: int) -> tuple[jax.Array, tuple]:
    is_max, e, rest, log_p = _xent_parts(x, ax)
    return -jnp.sum(_mul_no_nan(log_p, y), axis=ax), (y, is_max, e, rest, log_p)


def _softmax_xent_bwd(ax: int, res: tuple, g: jax.Array) -> tuple[jax.Array, jax.Array]:
    y, is_max, e, rest, log_p = res
    g = jnp.expand_dims(g, ax)
    zero = jnp.zeros_like(y)
    p = e / (1 + rest)
    total = jnp.sum(y, axis=ax, keepdims=True)
    y_others = jnp.sum(jnp.where(is_max, zero, y), axis=ax, keepdims=True)
    y_max = jnp.sum(jnp.where(is_max, y, zero), axis=ax, keepdims=True)
    g_max = (y_others - y_max * rest) / (1 + rest)
    return -g * log_p, g * jnp.where(is_max, g_max, p * total - y)


_softmax_xent.defvjp(_softmax_xent_fwd, _softmax_xent_bwd)


def softmax_cross_entropy_with_logits(labels: Any = None, logits: Any = None, axis: int = -1) -> jax.Array:
    """−Σ_i y_i · log softmax(x)_i over ``axis``."""
    x = _float(logits)
    y = jnp.broadcast_to(_cast(labels, x.dtype), x.shape)
    return _softmax_xent(y, x, _axis(x, axis))


def sparse_softmax_cross_entropy_with_logits(labels: Any = None, logits: Any = None) -> jax.Array:
    """logsumexp(x) − x_k over the last axis, ``k`` an integer class index in [0, C); NaN for k outside."""
    x = _float(logits)
    k = jnp.asarray(labels)
    if not jnp.issubdtype(k.dtype, jnp.integer):
        raise ValueError(f"labels: expected integer class indices, got dtype {k.dtype.name}")
    if k.ndim != x.ndim - 1:
        raise ValueError(f"labels: expected rank {x.ndim - 1} (logits' rank - 1), got rank {k.ndim}")
    classes = x.shape[-1]
    valid = (k >= 0) & (k < classes)
    safe_k = jnp.where(valid, k, 0)
    y = (lax.broadcasted_iota(safe_k.dtype, x.shape, x.ndim - 1) == safe_k[..., None]).astype(x.dtype)
    value = _softmax_xent(y, x, x.ndim - 1)
    return jnp.where(valid, value, jnp.asarray(np.nan, x.dtype))


def binary_crossentropy(target: Any, output: Any) -> jax.Array:
    """−(t·log P + (1−t)·log(1−P)), P = clip(p, ε_k, 1−ε_k) (convention "keras-ops")."""
    p = _float(output)
    t = _cast(target, p.dtype)
    pc = _clip_prob(p, EPSILON_KERAS)
    # log(1 − P) as log1p(−P); t·log P as xlogy (no 0·inf = NaN in the gradient where t = 0 and 1/P overflows)
    return -(_xlogy(t, pc) + (1 - t) * jnp.log1p(-pc))


def categorical_crossentropy(target: Any, output: Any, axis: int = -1) -> jax.Array:
    """−Σ_i t_i · log clip(p_i / Σ_j p_j, ε_k, 1−ε_k) over ``axis`` (convention keras-ops)."""
    p = _float(output)
    t = _cast(target, p.dtype)
    # p / Σp differentiated without (Σp)², which JAX's division gradient forms (overflows float16 for Σp < 2^-8)
    q = _ratio(p, jnp.broadcast_to(jnp.sum(p, axis=axis, keepdims=True), p.shape))
    qc = _clip_prob(q, EPSILON_KERAS)
    return -jnp.sum(_xlogy(t, qc), axis=axis)


def entropy(p: Any, axis: int = -1) -> jax.Array:
    """−Σ p·log p over ``axis`` with 0·log 0 = 0."""
    p = _float(p)
    return -jnp.sum(_xlogy(p, p), axis=axis)


@jax.custom_vjp
def _log_ratio(p: jax.Array, q: jax.Array) -> jax.Array:
    """log(p / q) for p > 0, accurate to a few ulps in every regime; VJP (g/p, −g/q).

    Near p = q: log1p((p − q)/q); elsewhere log(p/q), unless the ratio over- or underflows,
    then log p − log q.  Each branch sees safe inputs (1) where it is not taken.
    """
    one = jnp.ones_like(p)
    fi = jnp.finfo(p.dtype)
    r = p / q
    near = (r >= 0.5) & (r <= 2)
    normal = ~near & (r >= _const(float(fi.tiny), p.dtype)) & (r <= _const(float(fi.max), p.dtype))
    far = ~near & ~normal
    q_near = jnp.where(near, q, one)
    near_val = jnp.log1p((jnp.where(near, p, one) - q_near) / q_near)
    mid_val = jnp.log(jnp.where(normal, p, one) / jnp.where(normal, q, one))
    far_val = jnp.log(jnp.where(far, p, one)) - jnp.log(jnp.where(far, q, one))
    return jnp.where(near, near_val, jnp.where(normal, mid_val, far_val))


def _log_ratio_fwd(p: jax.Array, q: jax.Array) -> tuple[jax.Array, tuple]:
    return _log_ratio(p, q), (p, q)


def _log_ratio_bwd(res: tuple, g: jax.Array) -> tuple[jax.Array, jax.Array]:
    p, q = res
    return g / p, -g / q


_log_ratio.defvjp(_log_ratio_fwd, _log_ratio_bwd)


def kl_divergence(p: Any, q: Any, axis: int = -1) -> jax.Array:
    """Σ p·log(p/q) over ``axis`` with 0·log(0/q) = 0."""
    p = _float(p)
    q = _cast(q, p.dtype)
    p, q = jnp.broadcast_arrays(p, q)
    has = p != 0
    one = jnp.ones_like(p)
    p_safe = jnp.where(has, p, one)
    q_safe = jnp.where(has, q, one)
    term = jnp.where(has, p_safe * _log_ratio(p_safe, q_safe), jnp.zeros_like(p))
    return jnp.sum(term, axis=axis)


def smooth_l1(x: Any) -> jax.Array:
    """0.5·x² if |x| ≤ 1 else |x| − 0.5, elementwise."""
    x = _float(x)
    a = jnp.abs(x)
    return jnp.where(a <= 1, 0.5 * x * x, a - 0.5)


# --------------------------------------------------------------------------- Faster R-CNN (docs/contracts.md)


def _eps_normaliser(m: jax.Array) -> jax.Array:
    """Σ(ε + m) = Σm + ε·numel(m), ε·numel formed in float32 (float64 for float64) and rounded once."""
    wide = np.float64 if m.dtype == jnp.float64 else np.float32
    eps_n = np.asarray(wide(m.size) * wide(EPSILON))
    return jnp.sum(m) + jnp.asarray(eps_n.astype(m.dtype))


def _masked_smooth_l1_loss(y_true: jax.Array, y_pred: jax.Array, n: int, lam: float) -> jax.Array:
    """λ · Σ m·smooth_l1(t − y_pred) / Σ(ε + m), m = y_true[..., :n], t = y_true[..., n:]."""
    m = y_true[..., :n]
    t = y_true[..., n:]
    num = jnp.sum(m * smooth_l1(t - y_pred))
    return _const(lam, y_pred.dtype) * num / _eps_normaliser(m)


def rpn_loss_regr(num_anchors: int) -> Callable[[Any, Any], jax.Array]:
    """RPN box regression: λ · Σ m·smooth_l1(t − y_pred) / Σ(ε + m) over (B, H, W, 8A) / (B, H, W, 4A)."""
    a = int(num_anchors)

    def rpn_loss_regr_fixed_num(y_true: Any, y_pred: Any) -> jax.Array:
        y_pred = _float(y_pred)
        y_true = _cast(y_true, y_pred.dtype)
        _rank(y_true, "y_true", 4)
        _rank(y_pred, "y_pred", 4)
        _last_dim(y_true, "y_true", 8 * a, "8*A")
        _last_dim(y_pred, "y_pred", 4 * a, "4*A")
        return _masked_smooth_l1_loss(y_true, y_pred, 4 * a, LAMBDA_RPN_REGR)

    return rpn_loss_regr_fixed_num


def rpn_loss_cls(num_anchors: int) -> Callable[[Any, Any], jax.Array]:
    """RPN objectness: λ · Σ v·BCE(z, y_pred) / Σ(ε + v), v = y_true[..., :A], z = y_true[..., A:]."""
    a = int(num_anchors)

    def rpn_loss_cls_fixed_num(y_true: Any, y_pred: Any) -> jax.Array:
        y_pred = _float(y_pred)
        y_true = _cast(y_true, y_pred.dtype)
        _rank(y_true, "y_true", 4)
        _rank(y_pred, "y_pred", 4)
        _last_dim(y_true, "y_true", 2 * a, "2*A")
        _last_dim(y_pred, "y_pred", a, "A")
        v = y_true[..., :a]
        z = y_true[..., a:]
        num = jnp.sum(v * binary_crossentropy(z, y_pred))
        return _const(LAMBDA_RPN_CLASS, y_pred.dtype) * num / _eps_normaliser(v)

    return rpn_loss_cls_fixed_num


def class_loss_regr(num_classes: int) -> Callable[[Any, Any], jax.Array]:
    """Detector box regression: λ · Σ m·smooth_l1(t − y_pred) / Σ(ε + m) over (B, R, 8C) / (B, R, 4C)."""
    c = int(num_classes)

    def class_loss_regr_fixed_num(y_true: Any, y_pred: Any) -> jax.Array:
        y_pred = _float(y_pred)
        y_true = _cast(y_true, y_pred.dtype)
        _rank(y_true, "y_true", 3)
        _rank(y_pred, "y_pred", 3)
        _last_dim(y_true, "y_true", 8 * c, "8*C")
        _last_dim(y_pred, "y_pred", 4 * c, "4*C")
        return _masked_smooth_l1_loss(y_true, y_pred, 4 * c, LAMBDA_CLS_REGR)

    return class_loss_regr_fixed_num


def class_loss_cls(y_true: Any, y_pred: Any) -> jax.Array:
    """λ · mean over r of CCE(y_true[0, r, :], y_pred[0, r, :]) (batch element 0 only, as the documents)."""
    y_pred = _float(y_pred)
    y_true = _cast(y_true, y_pred.dtype)
    _rank(y_true, "y_true", 3)
    _rank(y_pred, "y_pred", 3)
    cce = categorical_crossentropy(y_true[0], y_pred[0], axis=-1)
    return _const(LAMBDA_CLS_CLASS, y_pred.dtype) * jnp.mean(cce)


# --------------------------------------------------------------------------- YOLOv3 (docs/contracts.md)


def _anchors(anchors: Any, dtype: Any) -> tuple[jax.Array, int]:
    """Anchors as an (A, 2) array in ``dtype`` and A."""
    t = _const(anchors, dtype)
    _rank(t, "anchors", 2)
    _last_dim(t, "anchors", 2, "2")
    return t, int(t.shape[0])


def decode(conv_output: Any, anchors: Any, stride: Any, num_class: int) -> jax.Array:
    """(B, S, S, A·(5+N)) raw output → (B, S, S, A, 5+N) boxes (x, y, w, h) in pixels, conf, class probs."""
    conv = _float(conv_output)
    dtype = conv.dtype
    n = int(num_class)
    anc, a = _anchors(anchors, dtype)
    _rank(conv, "conv_output", 4)
    _last_dim(conv, "conv_output", a * (5 + n), "A*(5+num_class)")
    stride_c = _const(stride, dtype)
    batch, rows, cols = conv.shape[:3]
    raw = conv.reshape(batch, rows, cols, a, 5 + n)
    grid_x = jnp.broadcast_to(jnp.arange(cols, dtype=dtype)[None, :, None], (rows, cols, 1))  # column index
    grid_y = jnp.broadcast_to(jnp.arange(rows, dtype=dtype)[:, None, None], (rows, cols, 1))  # row index
    grid = jnp.concatenate([grid_x, grid_y], axis=-1)[:, :, None, :]  # (S, S, 1, 2)
    xy = (sigmoid(raw[..., 0:2]) + grid) * stride_c
    wh = jnp.exp(raw[..., 2:4]) * anc * stride_c
    conf = sigmoid(raw[..., 4:5])
    prob = sigmoid(raw[..., 5:])
    return jnp.concatenate([xy, wh, conf, prob], axis=-1)


def _box_pair(boxes1: Any, boxes2: Any) -> tuple[jax.Array, jax.Array]:
    b1 = _float(boxes1)
    b2 = _cast(boxes2, b1.dtype)
    _last_dim(b1, "boxes1", 4, "4")
    _last_dim(b2, "boxes2", 4, "4")
    return b1, b2


def _overlap(c1: jax.Array, w1: jax.Array, c2: jax.Array, w2: jax.Array) -> jax.Array:
    """max(min(right1, right2) − max(left1, left2), 0) along one axis, as max(min(w1, w2, s − d, s + d), 0).

    d = c1 − c2, s = (w1 + w2)/2: the same value without forming the (rounded) corners.
    """
    d = c1 - c2
    s = (w1 + w2) * 0.5
    return _max(_min(_min(w1, w2), _min(s - d, s + d)), 0)


def _span(c1: jax.Array, a1: jax.Array, c2: jax.Array, a2: jax.Array) -> jax.Array:
    """max(right1, right2) − min(left1, left2) along one axis for extents a ≥ 0 (the enclosing box)."""
    return _max(_max(a1, a2), (a1 + a2) * 0.5 + jnp.abs(c1 - c2))


def _iou_parts(boxes1: Any, boxes2: Any) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """(inter, union, area1, area2) of bbox_iou: areas from the raw w·h."""
    b1, b2 = _box_pair(boxes1, boxes2)
    area1 = b1[..., 2] * b1[..., 3]
    area2 = b2[..., 2] * b2[..., 3]
    inter = (_overlap(b1[..., 0], b1[..., 2], b2[..., 0], b2[..., 2])
             * _overlap(b1[..., 1], b1[..., 3], b2[..., 1], b2[..., 3]))
    return inter, area1 + area2 - inter, area1, area2


def _giou_parts(boxes1: Any, boxes2: Any) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]:
    """(inter, union, enclose, area1, area2) of bbox_giou: corners re-sorted, i.e. extents |w|, |h|."""
    b1, b2 = _box_pair(boxes1, boxes2)
    w1, h1, w2, h2 = jnp.abs(b1[..., 2]), jnp.abs(b1[..., 3]), jnp.abs(b2[..., 2]), jnp.abs(b2[..., 3])
    area1 = w1 * h1
    area2 = w2 * h2
    inter = _overlap(b1[..., 0], w1, b2[..., 0], w2) * _overlap(b1[..., 1], h1, b2[..., 1], h2)
    enclose = _span(b1[..., 0], w1, b2[..., 0], w2) * _span(b1[..., 1], h1, b2[..., 1], h2)
    return inter, area1 + area2 - inter, enclose, area1, area2


@jax.custom_vjp
def _ratio(num: jax.Array, den: jax.Array) -> jax.Array:
    """num / den (same shapes), differentiated as (g / den, −(g / den)·(num / den)), as TensorFlow does.

    JAX differentiates a division through den^-2, which overflows (float16: den < 2^-8) or underflows to
    0 (float32: den below ~1e-19, giving 0·inf = NaN) where the gradient itself is representable.
    """
    return num / den


def _ratio_fwd(num: jax.Array, den: jax.Array) -> tuple[jax.Array, tuple]:
    q = num / den
    return q, (den, q)


def _ratio_bwd(res: tuple, g: jax.Array) -> tuple[jax.Array, jax.Array]:
    den, q = res
    g_den = g / den
    return g_den, -g_den * q


_ratio.defvjp(_ratio_fwd, _ratio_bwd)


def _grad_from(value: jax.Array, surrogate: jax.Array) -> jax.Array:
    """``value`` exactly, differentiated as ``surrogate`` (equal to it up to a constant)."""
    sg = lax.stop_gradient
    return sg(value) + jnp.where(jnp.isfinite(surrogate), surrogate - sg(surrogate), 0)


def bbox_iou(boxes1: Any, boxes2: Any) -> jax.Array:
    """IoU of (x, y, w, h) boxes, broadcasting over leading axes; areas from the raw w·h (docs/contracts.md)."""
    inter, union, _, _ = _iou_parts(boxes1, boxes2)
    return _ratio(inter, union)


def bbox_giou(boxes1: Any, boxes2: Any) -> jax.Array:
    """Generalised IoU: IoU − (E − union)/E, corners re-sorted per axis; differentiated as IoU + union/E."""
    inter, union, enclose, _, _ = _giou_parts(boxes1, boxes2)
    iou = _ratio(inter, union)
    return _grad_from(iou - (enclose - union) / enclose, iou + _ratio(union, enclose))


def iou_loss(boxes1: Any, boxes2: Any) -> jax.Array:
    """1 − IoU, as ((area1 − inter) + (area2 − inter)) / union: relatively accurate when IoU ≈ 1."""
    inter, union, area1, area2 = _iou_parts(boxes1, boxes2)
    return _grad_from(((area1 - inter) + (area2 - inter)) / union, -_ratio(inter, union))


def giou_loss(boxes1: Any, boxes2: Any) -> jax.Array:
    """1 − GIoU, as (union − inter)/union + (E − union)/E: relatively accurate when GIoU ≈ 1."""
    inter, union, enclose, area1, area2 = _giou_parts(boxes1, boxes2)
    value = ((area1 - inter) + (area2 - inter)) / union + (enclose - union) / enclose
    return _grad_from(value, -(_ratio(inter, union) + _ratio(union, enclose)))


_FOUR_OVER_PI2 = 0.4052847345693511  # 4 / π², correctly rounded in float64


def _distance_ratio(b1: jax.Array, b2: jax.Array) -> jax.Array:
    """ρ²/c²: squared centre distance over the squared diagonal of the enclosing box.

    Enclosing extents from centre differences (``_span``), every length divided by the larger enclosing
    extent (constant in the gradient: the ratio does not depend on it), so that the squares neither
    overflow float16 nor underflow.  Two identical point boxes give 0/0 = NaN.
    """
    dx = b1[..., 0] - b2[..., 0]
    dy = b1[..., 1] - b2[..., 1]
    cx = _span(b1[..., 0], b1[..., 2], b2[..., 0], b2[..., 2])
    cy = _span(b1[..., 1], b1[..., 3], b2[..., 1], b2[..., 3])
    m = lax.stop_gradient(_max(jnp.abs(cx), jnp.abs(cy)))
    dx, dy, cx, cy = dx / m, dy / m, cx / m, cy / m
    return (dx * dx + dy * dy) / (cx * cx + cy * cy)


def _aspect_angle(w: jax.Array, h: jax.Array) -> jax.Array:
    """atan2(w, h) with (w, h) first divided by max(|w|, |h|) (constant in the gradient), so that the gradient's
    w² + h² cannot overflow float16; a zero-size box has angle 0 and no gradient through it."""
    m = lax.stop_gradient(_max(jnp.abs(w), jnp.abs(h)))
    zero = m == 0
    safe = jnp.where(zero, jnp.ones_like(m), m)
    return jnp.arctan2(jnp.where(zero, jnp.zeros_like(w), w / safe), jnp.where(zero, jnp.ones_like(h), h / safe))


def diou_loss(boxes1: Any, boxes2: Any) -> jax.Array:
    """1 − IoU + ρ²/c² (IoU as ``bbox_iou``; c the diagonal of the smallest box enclosing both)."""
    b1, b2 = _box_pair(boxes1, boxes2)
    return iou_loss(b1, b2) + _distance_ratio(b1, b2)


def ciou_loss(boxes1: Any, boxes2: Any) -> jax.Array:
    """1 − IoU + ρ²/c² + α·v, v = (4/π²)(atan2(w2, h2) − atan2(w1, h1))², α = v/((1 − IoU) + v) (0 where v = 0).

    α is held constant in the gradient (stop-gradient, as in the paper's code); boxes2 is the ground truth.
    """
    b1, b2 = _box_pair(boxes1, boxes2)
    one_minus_iou = iou_loss(b1, b2)
    gap = _aspect_angle(b2[..., 2], b2[..., 3]) - _aspect_angle(b1[..., 2], b1[..., 3])
    v = _const(_FOUR_OVER_PI2, b1.dtype) * (gap * gap)
    positive = v > 0
    safe = jnp.where(positive, one_minus_iou + v, jnp.ones_like(v))
    alpha = lax.stop_gradient(jnp.where(positive, v / safe, jnp.zeros_like(v)))
    return one_minus_iou + _distance_ratio(b1, b2) + alpha * v


def focal(target: Any, actual: Any, alpha: Any = 1, gamma: Any = 2) -> jax.Array:
    """α·|target − actual|^γ (the YOLOv3 confidence weight; the gradient flows through it)."""
    x = _float(actual)
    t = _cast(target, x.dtype)
    return _const(alpha, x.dtype) * jnp.power(jnp.abs(t - x), _const(gamma, x.dtype))


def loss_layer(
    conv: Any,
    pred: Any,
    label: Any,
    bboxes: Any,
    anchors: Any,
    stride: Any,
    num_class: int,
    iou_loss_thresh: Any = 0.5,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(giou_loss, conf_loss, prob_loss) of one YOLOv3 scale, each the batch mean of a per-image sum."""
    conv = _float(conv)
    dtype = conv.dtype
    pred = _cast(pred, dtype)
    label = _cast(label, dtype)
    bboxes = _cast(bboxes, dtype)
    n = int(num_class)
    _, a = _anchors(anchors, dtype)
    _rank(conv, "conv", 4)
    _last_dim(conv, "conv", a * (5 + n), "A*(5+num_class)")
    _rank(pred, "pred", 5)
    _last_dim(pred, "pred", 5 + n, "5+num_class")
    _rank(label, "label", 5)
    _last_dim(label, "label", 5 + n, "5+num_class")
    _rank(bboxes, "bboxes", 3)
    _last_dim(bboxes, "bboxes", 4, "4")

    batch, rows, cols = conv.shape[:3]
    raw = conv.reshape(batch, rows, cols, a, 5 + n)
    raw_conf = raw[..., 4:5]
    raw_prob = raw[..., 5:]
    pred_xywh = pred[..., 0:4]
    pred_conf = pred[..., 4:5]
    label_xywh = label[..., 0:4]
    respond = label[..., 4:5]
    label_prob = label[..., 5:]

    input_size = _const(stride, dtype) * rows
    # 2 − w·h / input_size², evaluated as (w / s)·(h / s) so that float16 does not overflow
    scale = 2 - (label_xywh[..., 2:3] / input_size) * (label_xywh[..., 3:4] / input_size)
    giou_term = respond * scale * giou_loss(pred_xywh, label_xywh)[..., None]

    iou = bbox_iou(pred_xywh[:, :, :, :, None, :], bboxes[:, None, None, None, :, :])
    max_iou = jnp.max(iou, axis=-1, keepdims=True)
    below = lax.stop_gradient((max_iou < _const(iou_loss_thresh, dtype)).astype(dtype))
    background = (1 - respond) * below

    sce_conf = sigmoid_cross_entropy_with_logits(labels=respond, logits=raw_conf)
    conf_term = focal(respond, pred_conf) * (respond * sce_conf + background * sce_conf)
    prob_term = respond * sigmoid_cross_entropy_with_logits(labels=label_prob, logits=raw_prob)

    def reduce(term: jax.Array) -> jax.Array:
        return jnp.mean(jnp.sum(term, axis=(1, 2, 3, 4)))

    return reduce(giou_term), reduce(conf_term), reduce(prob_term)


def compute_loss(
    convs: Sequence[Any],
    labels: Sequence[Any],
    bboxes: Sequence[Any],
    anchors: Any,
    strides: Any,
    num_class: int,
    iou_loss_thresh: Any = 0.5,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Sum over the three scales of loss_layer(conv, decode(conv), ...): (giou_loss, conf_loss, prob_loss)."""
    convs, labels, bboxes = list(convs), list(labels), list(bboxes)
    for name, seq in (("convs", convs), ("labels", labels), ("bboxes", bboxes)):
        if len(seq) != 3:
            raise ValueError(f"{name}: expected a sequence of 3 scales, got {len(seq)}")
    anchors = anchors if isinstance(anchors, jax.Array) else np.asarray(anchors, dtype=np.float64)
    strides = strides if isinstance(strides, jax.Array) else np.asarray(strides, dtype=np.float64)
    if anchors.ndim != 3 or anchors.shape[0] != 3:
        raise ValueError(f"anchors: expected shape (3, A, 2), got {tuple(anchors.shape)}")
    if tuple(strides.shape) != (3,):
        raise ValueError(f"strides: expected shape (3,), got {tuple(strides.shape)}")
    totals = None
    for i in range(3):
        pred = decode(convs[i], anchors[i], strides[i], num_class)
        parts = loss_layer(convs[i], pred, labels[i], bboxes[i], anchors[i], strides[i], num_class, iou_loss_thresh)
        totals = parts if totals is None else tuple(t + p for t, p in zip(totals, parts, strict=True))
    return totals


# --------------------------------------------------------------------------- CenterNet (docs/contracts.md)


def focal_loss(hm_pred: Any, hm_true: Any) -> jax.Array:
    """CenterNet heatmap focal loss: (pos_loss + neg_loss) / num_pos, or neg_loss when num_pos = 0."""
    p = _float(hm_pred)
    dtype = p.dtype
    y = _cast(hm_true, dtype)
    _rank(p, "hm_pred", 4)
    _rank(y, "hm_true", 4)
    eps = _const(EPSILON_CENTERNET, dtype)
    one = jnp.ones_like(p)
    pos = (y == 1).astype(dtype)
    neg = (y < 1).astype(dtype)
    alpha = _const(CENTERNET_ALPHA, dtype)
    beta = _const(CENTERNET_BETA, dtype)

    # Each log is taken only where its mask is set (1 elsewhere): no 0·inf = NaN in the gradient.
    is_pos = pos > 0
    is_neg = neg > 0
    pos_log = -jnp.log(jnp.where(is_pos, _clip(p, eps, one), one))
    # −log(clip(1 − p, ε_c, 1)): inside the clip −log1p(−p) (exact for small p), outside −log of the bound
    q = 1 - p
    inside = is_neg & (q >= eps) & (q <= 1)
    neg_log = jnp.where(
        inside,
        -jnp.log1p(-jnp.where(inside, p, jnp.zeros_like(p))),
        -jnp.log(jnp.where(is_neg, _clip(q, eps, one), one)),
    )

    pos_loss = jnp.sum(pos_log * jnp.power(1 - p, alpha) * pos)
    neg_loss = jnp.sum(neg_log * jnp.power(p, alpha) * jnp.power(1 - y, beta) * neg)
    num_pos = jnp.sum(pos)
    has_pos = num_pos > 0
    safe_num = jnp.where(has_pos, num_pos, jnp.ones_like(num_pos))
    return jnp.where(has_pos, (pos_loss + neg_loss) / safe_num, neg_loss)


def reg_l1_loss(y_pred: Any, y_true: Any, indices: Any, mask: Any) -> jax.Array:
    """Σ |y_true·M − g·M| / (Σ M + ε), g = y_pred gathered at the flattened H·W ``indices``; NaN if out of range."""
    y_pred = _float(y_pred)
    dtype = y_pred.dtype
    y_true = _cast(y_true, dtype)
    mask = _cast(mask, dtype)
    idx = jnp.asarray(indices)
    if not jnp.issubdtype(idx.dtype, jnp.integer):
        raise ValueError(f"indices: expected integers, got dtype {idx.dtype.name}")
    _rank(y_pred, "y_pred", 4)
    _last_dim(y_pred, "y_pred", 2, "2")
    _rank(y_true, "y_true", 3)
    _last_dim(y_true, "y_true", 2, "2")
    _rank(idx, "indices", 2)
    _rank(mask, "mask", 2)

    batch, rows, cols = y_pred.shape[:3]
    cells = rows * cols
    ok = (idx >= 0) & (idx < cells)
    in_range = jnp.all(ok)
    safe_idx = jnp.where(ok, idx, 0)
    flat = y_pred.reshape(batch, cells, 2)
    g = flat[jnp.arange(batch)[:, None], safe_idx]  # (B, K, 2): batch element b gathers its own indices
    m = jnp.broadcast_to(mask[..., None], (*mask.shape, 2))
    total = jnp.sum(jnp.abs(y_true * m - g * m))
    value = total / (jnp.sum(m) + _const(EPSILON, dtype))
    return jnp.where(in_range, value, jnp.asarray(np.nan, dtype))


def loss(args: Sequence[Any]) -> jax.Array:
    """CenterNet total: focal_loss + 0.1·reg_l1_loss(wh) + reg_l1_loss(reg)."""
    if len(args) != 8:
        raise ValueError(f"args: expected 8 tensors, got {len(args)}")
    hm_pred, wh_pred, reg_pred, hm_true, wh_true, reg_true, reg_mask, indices = args
    hm = focal_loss(hm_pred, hm_true)
    wh = reg_l1_loss(wh_pred, wh_true, indices, reg_mask)
    reg = reg_l1_loss(reg_pred, reg_true, indices, reg_mask)
    return hm + _const(CENTERNET_WH_WEIGHT, wh.dtype) * wh + reg
