"""Reference TensorFlow implementation of every contract name in the loss catalogue.

A correct, numerically stable TF2 implementation of the contract (docs/contracts.md),
following its calling conventions::

    pytest conformance --impl=conformance.targets.reference

It computes exactly the formulas of the catalogue (ε per element in the Faster R-CNN
normalisers, batch element 0 only in ``class_loss_cls``, raw-(w, h) areas in
``bbox_iou``, no gradient through the YOLOv3 background mask, ...), evaluated stably
in the dtype of the input tensors (float16, bfloat16, float32 or float64): every
constant is created in the input's dtype, nothing is hard-coded to float32.

Everything traces under ``tf.function`` and ``tf.function(jit_compile=True)`` (one trace
per input signature): there is no Python control flow on tensor values, dynamic sizes
come from ``tf.shape``, and the data-dependent branch of the CenterNet focal loss is a
``tf.where``.

Bad indices never give a silent finite value: ``sparse_softmax_cross_entropy_with_logits``
and ``reg_l1_loss`` assert their labels / indices are in range (raises in eager and in
``tf.function``) and also return NaN for out-of-range ones, which covers XLA, where
assertions are dropped and gathers clamp their indices.

Accuracy beyond the textbook forms (same values, fewer roundings): log-softmax via
log1p of the non-maximal terms with a written-out gradient (confident predictions),
σ and the sigmoid cross-entropies without cancellation, box overlaps from centre
differences instead of rounded corners, 1 − IoU and 1 − GIoU without cancellation near
a perfect match, and Σ(ε + m) as Σm + ε·numel(m).

Binary and categorical cross-entropy follow convention "keras-ops": P is clipped
to [ε_k, 1 − ε_k] with ε_k rounded to the input dtype and 1 − ε_k computed in it (as
Keras does), then log P and log(1 − P).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

__all__ = [
    "sigmoid", "softmax", "sigmoid_cross_entropy_with_logits", "weighted_cross_entropy_with_logits",
    "softmax_cross_entropy_with_logits", "sparse_softmax_cross_entropy_with_logits",
    "binary_crossentropy", "categorical_crossentropy", "entropy", "kl_divergence", "smooth_l1",
    "rpn_loss_regr", "rpn_loss_cls", "class_loss_regr", "class_loss_cls",
    "decode", "bbox_iou", "bbox_giou", "iou_loss", "giou_loss", "focal", "loss_layer", "compute_loss",
    "focal_loss", "reg_l1_loss", "loss",
    "diou_loss", "ciou_loss",
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

# Smallest positive normal number of each floating dtype.
_TINY = {tf.float16: 2.0**-14, tf.bfloat16: 2.0**-126, tf.float32: 2.0**-126, tf.float64: 2.0**-1022}


# --------------------------------------------------------------------------- helpers


def _tensor(x: Any) -> tf.Tensor:
    """``x`` as a tensor (tensors pass through; float64 NumPy data stays float64)."""
    return x if isinstance(x, (tf.Tensor, tf.Variable)) else tf.convert_to_tensor(x)


def _float(x: Any) -> tf.Tensor:
    """A floating tensor; non-float input (integers, booleans) becomes float32."""
    t = _tensor(x)
    return t if t.dtype.is_floating else tf.cast(t, tf.float32)


def _const(value: Any, dtype: tf.DType) -> tf.Tensor:
    """A configuration value or constant in ``dtype``, rounded once from its float64 value."""
    if isinstance(value, (tf.Tensor, tf.Variable)):
        return tf.cast(value, dtype)
    arr = np.asarray(value, dtype=np.float64)
    if dtype == tf.bfloat16:  # TensorFlow converts Python floats to bfloat16 through float32
        return tf.cast(tf.constant(arr.astype(np.float32)), dtype)
    return tf.constant(arr.astype(dtype.as_numpy_dtype))


def _last_dim(x: tf.Tensor, name: str, expected: int, what: str) -> None:
    """Raise ``ValueError`` when the static last dimension of ``x`` is known and wrong."""
    dim = x.shape[-1] if x.shape.rank else None
    if dim is not None and dim != expected:
        raise ValueError(f"{name}: expected last axis of size {what} = {expected}, got {dim}")


def _rank(x: tf.Tensor, name: str, rank: int) -> None:
    if x.shape.rank is not None and x.shape.rank != rank:
        raise ValueError(f"{name}: expected rank {rank}, got rank {x.shape.rank} (shape {x.shape})")


def _clip_prob(p: tf.Tensor, eps: float) -> tf.Tensor:
    """clip(p, ε, 1 − ε) with ε rounded to p's dtype and 1 − ε computed in that dtype (as Keras does)."""
    e = _const(eps, p.dtype)
    return tf.clip_by_value(p, e, 1 - e)


# --------------------------------------------------------------------------- nn (docs/contracts.md)


def sigmoid(x: Any) -> tf.Tensor:
    """σ(x) = 1 / (1 + e^{−x}), as 1/(1 + e^{−|x|}) or e^{−|x|}/(1 + e^{−|x|}) by sign.

    Differentiated through this form, the gradient is e^{−|x|}/(1 + e^{−|x|})² up to a few
    roundings, accurate also for large |x| (σ(x)·(1 − σ(x)) loses it as σ(x) rounds to 1).
    """
    x = _float(x)
    cond = x >= 0
    e = tf.exp(tf.where(cond, -x, x))
    return tf.where(cond, 1 / (1 + e), e / (1 + e))


def softmax(logits: Any, axis: int = -1) -> tf.Tensor:
    """e^{x_i} / Σ_j e^{x_j} along ``axis`` (max-shifted)."""
    return tf.nn.softmax(_float(logits), axis=axis)


def _softplus_pair(x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(softplus(x), softplus(−x)) = (max(x, 0), max(−x, 0)) + log1p(e^{−|x|}), never overflowing.

    The branches are selected with ``tf.where`` on ``x >= 0`` (as TensorFlow's own op does),
    so the gradients are the exact σ(x) and −σ(−x) also at x = 0.
    """
    cond = x >= 0
    zero = tf.zeros_like(x)
    tail = tf.math.log1p(tf.exp(tf.where(cond, -x, x)))
    return tf.where(cond, x, zero) + tail, tf.where(cond, zero, -x) + tail


def sigmoid_cross_entropy_with_logits(labels: Any = None, logits: Any = None) -> tf.Tensor:
    """Elementwise max(x, 0) − x·z + log(1 + e^{−|x|}) = −z log σ(x) − (1−z) log(1−σ(x)).

    Evaluated as x·(1 − z) (x ≥ 0) or −x·z (x < 0) plus log1p(e^{−|x|}): for labels in
    [0, 1] both terms are non-negative, so nothing cancels (max(x, 0) − x·z does for z ≈ 1).
    """
    x = _float(logits)
    z = tf.cast(_tensor(labels), x.dtype)
    cond = x >= 0
    linear = tf.where(cond, x * (1 - z), -x * z)
    return linear + tf.math.log1p(tf.exp(tf.where(cond, -x, x)))


def weighted_cross_entropy_with_logits(labels: Any = None, logits: Any = None, pos_weight: Any = 1.0) -> tf.Tensor:
    """Elementwise q·z·(−log σ(x)) + (1−z)·(−log(1−σ(x))) = q·z·softplus(−x) + (1−z)·softplus(x).

    Equal to the spec's (1−z)·x + (1+(q−1)z)·(log(1+e^{−|x|}) + max(−x, 0)), which cancels
    for x ≪ 0; this form does not.  The label weight q·z is formed first with ``multiply_no_nan``:
    in graph mode Grappler reassociates a product with a constant factor q into z·(q·softplus(−x)),
    and q·softplus(−x) overflows float16 (x = −1e4, q = 10) where q·z·softplus(−x) does not.
    """
    x = _float(logits)
    z = tf.cast(_tensor(labels), x.dtype)
    q = _const(pos_weight, x.dtype)
    sp_pos, sp_neg = _softplus_pair(x)
    return tf.math.multiply_no_nan(q, z) * sp_neg + (1 - z) * sp_pos


def _axis(x: tf.Tensor, axis: int, name: str = "axis") -> int:
    rank = x.shape.rank
    if rank is None:
        raise ValueError("logits: the rank must be known statically")
    if not -rank <= int(axis) < rank:
        raise ValueError(f"{name}: {axis} is out of range for rank {rank}")
    return int(axis) % rank


def _softmax_xent(y: tf.Tensor, x: tf.Tensor, ax: int) -> tf.Tensor:
    """−Σ y·log softmax(x) along ``ax`` (y, x of one shape), with an accurate value and gradient.

    With a the argmax, m = x_a and s = Σ_{j≠a} e^{x_j − m}: log softmax = (x − m) − log1p(s),
    accurate also where the softmax is confident (log of a sum near 1 is not).  The gradient
    softmax·Σy − y is written out: at the argmax it is (Σ_{j≠a} y_j − y_a·s)/(1 + s), which
    for a confident one-hot row is −s/(1 + s) to a few ulps (softmax_a − 1 would cancel).
    """

    @tf.custom_gradient
    def xent(y: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
        m = tf.reduce_max(x, axis=ax, keepdims=True)
        d = x - m
        is_max = tf.one_hot(tf.argmax(x, axis=ax), tf.shape(x)[ax], on_value=True, off_value=False, axis=ax,
                            dtype=tf.bool)
        zero = tf.zeros_like(x)
        e = tf.exp(d)
        rest = tf.reduce_sum(tf.where(is_max, zero, e), axis=ax, keepdims=True)
        log_p = d - tf.math.log1p(rest)
        # 0 · log softmax = 0 even where log softmax overflows to -inf (extreme logits in float16)
        value = -tf.reduce_sum(tf.math.multiply_no_nan(log_p, y), axis=ax)

        def grad(g: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            g = tf.expand_dims(g, ax)
            p = e / (1 + rest)
            total = tf.reduce_sum(y, axis=ax, keepdims=True)
            y_others = tf.reduce_sum(tf.where(is_max, zero, y), axis=ax, keepdims=True)
            y_max = tf.reduce_sum(tf.where(is_max, y, zero), axis=ax, keepdims=True)
            g_max = (y_others - y_max * rest) / (1 + rest)
            return -g * log_p, g * tf.where(is_max, g_max, p * total - y)

        return value, grad

    return xent(y, x)


def softmax_cross_entropy_with_logits(labels: Any = None, logits: Any = None, axis: int = -1) -> tf.Tensor:
    """−Σ_i y_i · log softmax(x)_i over ``axis``."""
    x = _float(logits)
    y = tf.broadcast_to(tf.cast(_tensor(labels), x.dtype), tf.shape(x))
    return _softmax_xent(y, x, _axis(x, axis))


def sparse_softmax_cross_entropy_with_logits(labels: Any = None, logits: Any = None) -> tf.Tensor:
    """logsumexp(x) − x_k over the last axis, ``k`` an integer class index in [0, C).

    Labels outside [0, C) raise (``tf.debugging`` assertions, eager and ``tf.function``)
    and, where assertions are not executed (XLA), give NaN: never a silent finite value.
    """
    x = _float(logits)
    k = _tensor(labels)
    if k.dtype.is_floating:
        raise ValueError(f"labels: expected integer class indices, got dtype {k.dtype.name}")
    k = tf.cast(k, tf.int64)
    if x.shape.rank is not None and k.shape.rank is not None and k.shape.rank != x.shape.rank - 1:
        raise ValueError(f"labels: expected rank {x.shape.rank - 1} (logits' rank - 1), got rank {k.shape.rank}")
    classes = tf.shape(x, out_type=tf.int64)[-1]
    checks = [
        tf.debugging.assert_greater_equal(k, tf.zeros([], tf.int64), message="labels: negative class index"),
        tf.debugging.assert_less(k, classes, message="labels: class index >= number of classes"),
    ]
    with tf.control_dependencies(checks):
        valid = (k >= 0) & (k < classes)
    safe_k = tf.where(valid, k, tf.zeros_like(k))
    y = tf.one_hot(safe_k, tf.cast(classes, tf.int32), dtype=x.dtype)
    value = _softmax_xent(y, x, _axis(x, -1))
    return tf.where(valid, value, tf.constant(np.nan, x.dtype))


def binary_crossentropy(target: Any, output: Any) -> tf.Tensor:
    """−(t·log P + (1−t)·log(1−P)), P = clip(p, ε_k, 1−ε_k) (convention "keras-ops")."""
    p = _float(output)
    t = tf.cast(_tensor(target), p.dtype)
    pc = _clip_prob(p, EPSILON_KERAS)
    # log(1 − P) as log1p(−P) (accurate for small P).  As the formula does, t = 1 with P = 1
    # (possible only in float16/bfloat16, where 1 − ε_k rounds to 1: FP16-CLIP)
    # gives 0·log 0 = NaN.  xlogy(t, P) = t·log P here (P > 0), but its gradient has no
    # 0·inf = NaN where t = 0 and 1/P overflows (float16, P < 2^-16).
    return -(tf.math.xlogy(t, pc) + (1 - t) * tf.math.log1p(-pc))


def categorical_crossentropy(target: Any, output: Any, axis: int = -1) -> tf.Tensor:
    """−Σ_i t_i · log clip(p_i / Σ_j p_j, ε_k, 1−ε_k) over ``axis`` (convention keras-ops)."""
    p = _float(output)
    t = tf.cast(_tensor(target), p.dtype)
    q = p / tf.reduce_sum(p, axis=axis, keepdims=True)
    qc = _clip_prob(q, EPSILON_KERAS)
    return -tf.reduce_sum(tf.math.xlogy(t, qc), axis=axis)


def entropy(p: Any, axis: int = -1) -> tf.Tensor:
    """−Σ p·log p over ``axis`` with 0·log 0 = 0."""
    p = _float(p)
    return -tf.reduce_sum(tf.math.xlogy(p, p), axis=axis)


@tf.custom_gradient
def _log_ratio(p: tf.Tensor, q: tf.Tensor) -> tf.Tensor:
    """log(p / q) for p > 0, accurate to a few ulps in every regime.

    Near p = q: log1p((p − q)/q) (p − q is exact there); elsewhere log(p/q), unless the
    ratio over- or underflows, then log p − log q (which is then large, so accurate).
    Each branch sees safe inputs (1) where it is not taken, so that no 0·inf = NaN
    reaches the gradient.  The gradient is written out as (g/p, −g/q): differentiating
    log(p/q) forms p/q², which overflows float16 for q below ~1e-2 even where the
    gradient itself is small.
    """
    one = tf.ones_like(p)
    r = p / q
    near = (r >= 0.5) & (r <= 2)
    normal = ~near & (r >= _const(_TINY[p.dtype], p.dtype)) & (r <= _const(p.dtype.max, p.dtype))
    far = ~near & ~normal
    q_near = tf.where(near, q, one)
    near_val = tf.math.log1p((tf.where(near, p, one) - q_near) / q_near)
    mid_val = tf.math.log(tf.where(normal, p, one) / tf.where(normal, q, one))
    far_val = tf.math.log(tf.where(far, p, one)) - tf.math.log(tf.where(far, q, one))

    def grad(g: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return g / p, -g / q

    return tf.where(near, near_val, tf.where(normal, mid_val, far_val)), grad


def kl_divergence(p: Any, q: Any, axis: int = -1) -> tf.Tensor:
    """Σ p·log(p/q) over ``axis`` with 0·log(0/q) = 0."""
    p = _float(p)
    q = tf.cast(_tensor(q), p.dtype)
    shape = tf.broadcast_dynamic_shape(tf.shape(p), tf.shape(q))
    p = tf.broadcast_to(p, shape)
    q = tf.broadcast_to(q, shape)
    has = p != 0
    one = tf.ones_like(p)
    p_safe = tf.where(has, p, one)
    q_safe = tf.where(has, q, one)
    term = tf.where(has, p_safe * _log_ratio(p_safe, q_safe), tf.zeros_like(p))
    return tf.reduce_sum(term, axis=axis)


def smooth_l1(x: Any) -> tf.Tensor:
    """0.5·x² if |x| ≤ 1 else |x| − 0.5, elementwise."""
    x = _float(x)
    a = tf.abs(x)
    return tf.where(a <= 1, 0.5 * x * x, a - 0.5)


# --------------------------------------------------------------------------- Faster R-CNN (docs/contracts.md)


def _eps_normaliser(m: tf.Tensor) -> tf.Tensor:
    """Σ(ε + m) = Σm + ε·numel(m) (FRCNN-EPS-PER-ELEMENT).

    Σm is exact for a 0/1 mask in any summation order, and ε·numel is formed in float32
    (float64 for float64 input) and rounded once, so the normaliser is correctly rounded
    also where XLA sums sequentially (adding ε into a large running sum element by element
    rounds the same way every time and drifts by tens of ulps).
    """
    dtype = m.dtype
    wide = tf.float64 if dtype == tf.float64 else tf.float32
    eps_n = tf.cast(tf.cast(tf.size(m), wide) * tf.constant(EPSILON, wide), dtype)
    return tf.reduce_sum(m) + eps_n


def _masked_smooth_l1_loss(y_true: tf.Tensor, y_pred: tf.Tensor, n: int, lam: float) -> tf.Tensor:
    """λ · Σ m·smooth_l1(t − y_pred) / Σ(ε + m), m = y_true[..., :n], t = y_true[..., n:]."""
    m = y_true[..., :n]
    t = y_true[..., n:]
    num = tf.reduce_sum(m * smooth_l1(t - y_pred))
    return _const(lam, y_pred.dtype) * num / _eps_normaliser(m)


def rpn_loss_regr(num_anchors: int) -> Callable[[Any, Any], tf.Tensor]:
    """RPN box regression: λ · Σ m·smooth_l1(t − y_pred) / Σ(ε + m) over (B, H, W, 8A) / (B, H, W, 4A)."""
    a = int(num_anchors)

    def rpn_loss_regr_fixed_num(y_true: Any, y_pred: Any) -> tf.Tensor:
        y_pred = _float(y_pred)
        y_true = tf.cast(_tensor(y_true), y_pred.dtype)
        _rank(y_true, "y_true", 4)
        _rank(y_pred, "y_pred", 4)
        _last_dim(y_true, "y_true", 8 * a, "8*A")
        _last_dim(y_pred, "y_pred", 4 * a, "4*A")
        return _masked_smooth_l1_loss(y_true, y_pred, 4 * a, LAMBDA_RPN_REGR)

    return rpn_loss_regr_fixed_num


def rpn_loss_cls(num_anchors: int) -> Callable[[Any, Any], tf.Tensor]:
    """RPN objectness: λ · Σ v·BCE(z, y_pred) / Σ(ε + v), v = y_true[..., :A], z = y_true[..., A:]."""
    a = int(num_anchors)

    def rpn_loss_cls_fixed_num(y_true: Any, y_pred: Any) -> tf.Tensor:
        y_pred = _float(y_pred)
        y_true = tf.cast(_tensor(y_true), y_pred.dtype)
        _rank(y_true, "y_true", 4)
        _rank(y_pred, "y_pred", 4)
        _last_dim(y_true, "y_true", 2 * a, "2*A")
        _last_dim(y_pred, "y_pred", a, "A")
        v = y_true[..., :a]
        z = y_true[..., a:]
        num = tf.reduce_sum(v * binary_crossentropy(z, y_pred))
        return _const(LAMBDA_RPN_CLASS, y_pred.dtype) * num / _eps_normaliser(v)

    return rpn_loss_cls_fixed_num


def class_loss_regr(num_classes: int) -> Callable[[Any, Any], tf.Tensor]:
    """Detector box regression: λ · Σ m·smooth_l1(t − y_pred) / Σ(ε + m) over (B, R, 8C) / (B, R, 4C)."""
    c = int(num_classes)

    def class_loss_regr_fixed_num(y_true: Any, y_pred: Any) -> tf.Tensor:
        y_pred = _float(y_pred)
        y_true = tf.cast(_tensor(y_true), y_pred.dtype)
        _rank(y_true, "y_true", 3)
        _rank(y_pred, "y_pred", 3)
        _last_dim(y_true, "y_true", 8 * c, "8*C")
        _last_dim(y_pred, "y_pred", 4 * c, "4*C")
        return _masked_smooth_l1_loss(y_true, y_pred, 4 * c, LAMBDA_CLS_REGR)

    return class_loss_regr_fixed_num


def class_loss_cls(y_true: Any, y_pred: Any) -> tf.Tensor:
    """λ · mean over r of CCE(y_true[0, r, :], y_pred[0, r, :]) (batch element 0 only, as the documents)."""
    y_pred = _float(y_pred)
    y_true = tf.cast(_tensor(y_true), y_pred.dtype)
    _rank(y_true, "y_true", 3)
    _rank(y_pred, "y_pred", 3)
    cce = categorical_crossentropy(y_true[0], y_pred[0], axis=-1)
    return _const(LAMBDA_CLS_CLASS, y_pred.dtype) * tf.reduce_mean(cce)


# --------------------------------------------------------------------------- YOLOv3 (docs/contracts.md)


def _anchors(anchors: Any, dtype: tf.DType) -> tuple[tf.Tensor, int]:
    """Anchors as an (A, 2) tensor in ``dtype`` and the static A."""
    t = _const(anchors, dtype)
    _rank(t, "anchors", 2)
    if t.shape[0] is None:
        raise ValueError("anchors: the number of anchors must be known statically")
    _last_dim(t, "anchors", 2, "2")
    return t, int(t.shape[0])


def decode(conv_output: Any, anchors: Any, stride: Any, num_class: int) -> tf.Tensor:
    """(B, S, S, A·(5+N)) raw output → (B, S, S, A, 5+N) boxes (x, y, w, h) in pixels, conf, class probs."""
    conv = _float(conv_output)
    dtype = conv.dtype
    n = int(num_class)
    anc, a = _anchors(anchors, dtype)
    _rank(conv, "conv_output", 4)
    _last_dim(conv, "conv_output", a * (5 + n), "A*(5+num_class)")
    stride_c = _const(stride, dtype)
    shape = tf.shape(conv)
    batch, rows, cols = shape[0], shape[1], shape[2]
    raw = tf.reshape(conv, tf.stack([batch, rows, cols, a, 5 + n]))
    grid_x = tf.cast(tf.range(cols), dtype)[tf.newaxis, :, tf.newaxis]  # column index
    grid_y = tf.cast(tf.range(rows), dtype)[:, tf.newaxis, tf.newaxis]  # row index
    grid_x = tf.broadcast_to(grid_x, tf.stack([rows, cols, 1]))
    grid_y = tf.broadcast_to(grid_y, tf.stack([rows, cols, 1]))
    grid = tf.concat([grid_x, grid_y], axis=-1)[:, :, tf.newaxis, :]  # (S, S, 1, 2)
    xy = (sigmoid(raw[..., 0:2]) + grid) * stride_c
    wh = tf.exp(raw[..., 2:4]) * anc * stride_c
    conf = sigmoid(raw[..., 4:5])
    prob = sigmoid(raw[..., 5:])
    return tf.concat([xy, wh, conf, prob], axis=-1)


def _box_pair(boxes1: Any, boxes2: Any) -> tuple[tf.Tensor, tf.Tensor]:
    b1 = _float(boxes1)
    b2 = tf.cast(_tensor(boxes2), b1.dtype)
    _last_dim(b1, "boxes1", 4, "4")
    _last_dim(b2, "boxes2", 4, "4")
    return b1, b2


def _overlap(c1: tf.Tensor, w1: tf.Tensor, c2: tf.Tensor, w2: tf.Tensor) -> tf.Tensor:
    """max(min(right1, right2) − max(left1, left2), 0) along one axis, left/right = c ∓ w/2.

    Evaluated as max(min(w1, w2, s − d, s + d), 0) with d = c1 − c2 and s = (w1 + w2)/2,
    the same value (min(a, b) − max(c, e) = min(a − c, a − e, b − c, b − e)) without
    forming the corners, whose rounding at large coordinates would swamp small extents.
    """
    d = c1 - c2
    s = (w1 + w2) * 0.5
    return tf.maximum(tf.minimum(tf.minimum(w1, w2), tf.minimum(s - d, s + d)), 0)


def _span(c1: tf.Tensor, a1: tf.Tensor, c2: tf.Tensor, a2: tf.Tensor) -> tf.Tensor:
    """max(right1, right2) − min(left1, left2) along one axis for sorted extents a ≥ 0 (the enclosing box)."""
    return tf.maximum(tf.maximum(a1, a2), (a1 + a2) * 0.5 + tf.abs(c1 - c2))


def _iou_parts(boxes1: Any, boxes2: Any) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """(inter, union, area1, area2) of bbox_iou: areas from the raw w·h."""
    b1, b2 = _box_pair(boxes1, boxes2)
    area1 = b1[..., 2] * b1[..., 3]
    area2 = b2[..., 2] * b2[..., 3]
    inter = _overlap(b1[..., 0], b1[..., 2], b2[..., 0], b2[..., 2]) * _overlap(b1[..., 1], b1[..., 3], b2[..., 1],
                                                                                 b2[..., 3])
    return inter, area1 + area2 - inter, area1, area2


def _giou_parts(boxes1: Any, boxes2: Any) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """(inter, union, enclose, area1, area2) of bbox_giou: corners re-sorted, i.e. extents |w|, |h|."""
    b1, b2 = _box_pair(boxes1, boxes2)
    w1, h1, w2, h2 = tf.abs(b1[..., 2]), tf.abs(b1[..., 3]), tf.abs(b2[..., 2]), tf.abs(b2[..., 3])
    area1 = w1 * h1
    area2 = w2 * h2
    inter = _overlap(b1[..., 0], w1, b2[..., 0], w2) * _overlap(b1[..., 1], h1, b2[..., 1], h2)
    enclose = _span(b1[..., 0], w1, b2[..., 0], w2) * _span(b1[..., 1], h1, b2[..., 1], h2)
    return inter, area1 + area2 - inter, enclose, area1, area2


@tf.custom_gradient
def _ratio(num: tf.Tensor, den: tf.Tensor) -> tf.Tensor:
    """num / den, differentiated as (g / den, −(g / den)·(num / den)): the quotient rule without den².

    TensorFlow's gradient of a division forms (−num / den) / den, which XLA rewrites as
    −num / (den·den): den² underflows to 0 for |den| below √(smallest normal) (a union of
    2e-22 in float32) and the gradient becomes 0/0 = NaN where it is exactly 0.
    """
    q = num / den

    def grad(g: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        g_den = g / den
        return g_den, -g_den * q

    return q, grad


def _grad_from(value: tf.Tensor, surrogate: tf.Tensor) -> tf.Tensor:
    """``value`` exactly, differentiated as ``surrogate`` (equal to it up to a constant).

    For the box losses the accurate value and a cancellation-free gradient come from
    different algebraic forms of one function.
    """
    return tf.stop_gradient(value) + tf.where(tf.math.is_finite(surrogate), surrogate - tf.stop_gradient(surrogate), 0)


def bbox_iou(boxes1: Any, boxes2: Any) -> tf.Tensor:
    """IoU of (x, y, w, h) boxes, broadcasting over leading axes; areas from the raw w·h (docs/contracts.md)."""
    inter, union, _, _ = _iou_parts(boxes1, boxes2)
    return _ratio(inter, union)


def bbox_giou(boxes1: Any, boxes2: Any) -> tf.Tensor:
    """Generalised IoU of (x, y, w, h) boxes; corners re-sorted per axis, areas from the sorted corners.

    IoU − (E − union)/E with E the enclosing box's area; NaN only where a 0/0 occurs.  The
    gradient is taken through IoU + union/E (the same up to a constant), which does not cancel
    for distant boxes.
    """
    inter, union, enclose, _, _ = _giou_parts(boxes1, boxes2)
    iou = _ratio(inter, union)
    return _grad_from(iou - (enclose - union) / enclose, iou + _ratio(union, enclose))


def iou_loss(boxes1: Any, boxes2: Any) -> tf.Tensor:
    """1 − IoU, as ((area1 − inter) + (area2 − inter)) / union: relatively accurate when IoU ≈ 1."""
    inter, union, area1, area2 = _iou_parts(boxes1, boxes2)
    return _grad_from(((area1 - inter) + (area2 - inter)) / union, -_ratio(inter, union))


def giou_loss(boxes1: Any, boxes2: Any) -> tf.Tensor:
    """1 − GIoU, as (union − inter)/union + (E − union)/E: relatively accurate when GIoU ≈ 1."""
    inter, union, enclose, area1, area2 = _giou_parts(boxes1, boxes2)
    value = ((area1 - inter) + (area2 - inter)) / union + (enclose - union) / enclose
    return _grad_from(value, -(_ratio(inter, union) + _ratio(union, enclose)))


# Distance-IoU and Complete-IoU (docs/contracts.md; Zheng et al., AAAI 2020): additions to the box section.

_FOUR_OVER_PI2 = 0.4052847345693511  # 4 / π², correctly rounded in float64


def _distance_ratio(b1: tf.Tensor, b2: tf.Tensor) -> tf.Tensor:
    """ρ²/c²: squared centre distance over the squared diagonal of the enclosing box.

    The enclosing extents come from centre differences (``_span``; max(R1, R2) − min(L1, L2) equals
    max(w1, w2, (w1 + w2)/2 + |c1 − c2|) for any extents), and every length is divided by the larger
    enclosing extent (held constant in the gradient: the ratio does not depend on it), so the squares
    neither overflow float16 nor underflow.  Two identical point boxes give 0/0 = NaN.
    """
    dx = b1[..., 0] - b2[..., 0]
    dy = b1[..., 1] - b2[..., 1]
    cx = _span(b1[..., 0], b1[..., 2], b2[..., 0], b2[..., 2])
    cy = _span(b1[..., 1], b1[..., 3], b2[..., 1], b2[..., 3])
    m = tf.stop_gradient(tf.maximum(tf.abs(cx), tf.abs(cy)))
    dx, dy, cx, cy = dx / m, dy / m, cx / m, cy / m
    return (dx * dx + dy * dy) / (cx * cx + cy * cy)


def _aspect_angle(w: tf.Tensor, h: tf.Tensor) -> tf.Tensor:
    """atan2(w, h), with (w, h) first divided by max(|w|, |h|) (constant in the gradient; the angle does not
    depend on the scale) so that the gradient's w² + h² cannot overflow float16.  A zero-size box has angle 0
    (atan2(0, 0)) and no gradient through it (the angle is discontinuous there)."""
    m = tf.stop_gradient(tf.maximum(tf.abs(w), tf.abs(h)))
    zero = m == 0
    safe = tf.where(zero, tf.ones_like(m), m)
    return tf.math.atan2(tf.where(zero, tf.zeros_like(w), w / safe), tf.where(zero, tf.ones_like(h), h / safe))


def diou_loss(boxes1: Any, boxes2: Any) -> tf.Tensor:
    """1 − IoU + ρ²/c² (IoU as ``bbox_iou``; c the diagonal of the smallest box enclosing both)."""
    b1, b2 = _box_pair(boxes1, boxes2)
    return iou_loss(b1, b2) + _distance_ratio(b1, b2)


def ciou_loss(boxes1: Any, boxes2: Any) -> tf.Tensor:
    """1 − IoU + ρ²/c² + α·v, v = (4/π²)(atan2(w2, h2) − atan2(w1, h1))², α = v/((1 − IoU) + v) (0 where v = 0).

    α is held constant in the gradient (``tf.stop_gradient``, as in the paper's code); boxes2 is the ground truth.
    """
    b1, b2 = _box_pair(boxes1, boxes2)
    one_minus_iou = iou_loss(b1, b2)
    gap = _aspect_angle(b2[..., 2], b2[..., 3]) - _aspect_angle(b1[..., 2], b1[..., 3])
    v = _const(_FOUR_OVER_PI2, b1.dtype) * (gap * gap)
    positive = v > 0
    safe = tf.where(positive, one_minus_iou + v, tf.ones_like(v))
    alpha = tf.stop_gradient(tf.where(positive, v / safe, tf.zeros_like(v)))
    return one_minus_iou + _distance_ratio(b1, b2) + alpha * v


def focal(target: Any, actual: Any, alpha: Any = 1, gamma: Any = 2) -> tf.Tensor:
    """α·|target − actual|^γ (the YOLOv3 confidence weight; the gradient flows through it)."""
    x = _float(actual)
    t = tf.cast(_tensor(target), x.dtype)
    return _const(alpha, x.dtype) * tf.pow(tf.abs(t - x), _const(gamma, x.dtype))


def loss_layer(
    conv: Any,
    pred: Any,
    label: Any,
    bboxes: Any,
    anchors: Any,
    stride: Any,
    num_class: int,
    iou_loss_thresh: Any = 0.5,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(giou_loss, conf_loss, prob_loss) of one YOLOv3 scale, each the batch mean of a per-image sum."""
    conv = _float(conv)
    dtype = conv.dtype
    pred = tf.cast(_tensor(pred), dtype)
    label = tf.cast(_tensor(label), dtype)
    bboxes = tf.cast(_tensor(bboxes), dtype)
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

    shape = tf.shape(conv)
    batch, rows, cols = shape[0], shape[1], shape[2]
    raw = tf.reshape(conv, tf.stack([batch, rows, cols, a, 5 + n]))
    raw_conf = raw[..., 4:5]
    raw_prob = raw[..., 5:]
    pred_xywh = pred[..., 0:4]
    pred_conf = pred[..., 4:5]
    label_xywh = label[..., 0:4]
    respond = label[..., 4:5]
    label_prob = label[..., 5:]

    input_size = _const(stride, dtype) * tf.cast(rows, dtype)
    # 2 − w·h / input_size², evaluated as (w / s)·(h / s) so that float16 does not overflow
    scale = 2 - (label_xywh[..., 2:3] / input_size) * (label_xywh[..., 3:4] / input_size)
    giou_term = respond * scale * giou_loss(pred_xywh, label_xywh)[..., tf.newaxis]

    iou = bbox_iou(pred_xywh[:, :, :, :, tf.newaxis, :], bboxes[:, tf.newaxis, tf.newaxis, tf.newaxis, :, :])
    max_iou = tf.reduce_max(iou, axis=-1, keepdims=True)
    below = tf.stop_gradient(tf.cast(max_iou < _const(iou_loss_thresh, dtype), dtype))
    background = (1 - respond) * below

    sce_conf = sigmoid_cross_entropy_with_logits(labels=respond, logits=raw_conf)
    conf_term = focal(respond, pred_conf) * (respond * sce_conf + background * sce_conf)
    prob_term = respond * sigmoid_cross_entropy_with_logits(labels=label_prob, logits=raw_prob)

    def reduce(term: tf.Tensor) -> tf.Tensor:
        return tf.reduce_mean(tf.reduce_sum(term, axis=[1, 2, 3, 4]))

    return reduce(giou_term), reduce(conf_term), reduce(prob_term)


def compute_loss(
    convs: Sequence[Any],
    labels: Sequence[Any],
    bboxes: Sequence[Any],
    anchors: Any,
    strides: Any,
    num_class: int,
    iou_loss_thresh: Any = 0.5,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Sum over the three scales of loss_layer(conv, decode(conv), ...): (giou_loss, conf_loss, prob_loss)."""
    convs, labels, bboxes = list(convs), list(labels), list(bboxes)
    for name, seq in (("convs", convs), ("labels", labels), ("bboxes", bboxes)):
        if len(seq) != 3:
            raise ValueError(f"{name}: expected a sequence of 3 scales, got {len(seq)}")
    anchors = anchors if isinstance(anchors, (tf.Tensor, tf.Variable)) else np.asarray(anchors, dtype=np.float64)
    strides = strides if isinstance(strides, (tf.Tensor, tf.Variable)) else np.asarray(strides, dtype=np.float64)
    if len(anchors.shape) != 3 or anchors.shape[0] != 3:
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


def focal_loss(hm_pred: Any, hm_true: Any) -> tf.Tensor:
    """CenterNet heatmap focal loss: (pos_loss + neg_loss) / num_pos, or neg_loss when num_pos = 0."""
    p = _float(hm_pred)
    dtype = p.dtype
    y = tf.cast(_tensor(hm_true), dtype)
    _rank(p, "hm_pred", 4)
    _rank(y, "hm_true", 4)
    eps = _const(EPSILON_CENTERNET, dtype)
    one = tf.ones_like(p)
    pos = tf.cast(tf.equal(y, 1), dtype)
    neg = tf.cast(tf.less(y, 1), dtype)
    alpha = _const(CENTERNET_ALPHA, dtype)
    beta = _const(CENTERNET_BETA, dtype)

    # Each log is taken only where its mask is set (1 elsewhere), so that a masked-out
    # element cannot put 0·inf = NaN into the gradient (1/p overflows float16 for p < 2^-16).
    is_pos = pos > 0
    is_neg = neg > 0
    pos_log = -tf.math.log(tf.where(is_pos, tf.clip_by_value(p, eps, one), one))
    # −log(clip(1 − p, ε_c, 1)): inside the clip −log1p(−p) (exact for small p), outside −log of the bound
    q = 1 - p
    inside = is_neg & (q >= eps) & (q <= 1)
    neg_log = tf.where(
        inside,
        -tf.math.log1p(-tf.where(inside, p, tf.zeros_like(p))),
        -tf.math.log(tf.where(is_neg, tf.clip_by_value(q, eps, one), one)),
    )

    pos_loss = tf.reduce_sum(pos_log * tf.pow(1 - p, alpha) * pos)
    neg_loss = tf.reduce_sum(neg_log * tf.pow(p, alpha) * tf.pow(1 - y, beta) * neg)
    num_pos = tf.reduce_sum(pos)
    has_pos = num_pos > 0
    safe_num = tf.where(has_pos, num_pos, tf.ones_like(num_pos))
    return tf.where(has_pos, (pos_loss + neg_loss) / safe_num, neg_loss)


def reg_l1_loss(y_pred: Any, y_true: Any, indices: Any, mask: Any) -> tf.Tensor:
    """Σ |y_true·M − g·M| / (Σ M + ε), g = y_pred gathered at the flattened H·W ``indices``.

    Out-of-range indices raise (``tf.debugging`` assertions, eager and ``tf.function``) and,
    where assertions are not executed (XLA), the loss is NaN: never a silent finite value.
    """
    y_pred = _float(y_pred)
    dtype = y_pred.dtype
    y_true = tf.cast(_tensor(y_true), dtype)
    mask = tf.cast(_tensor(mask), dtype)
    idx = _tensor(indices)
    if idx.dtype.is_floating:
        raise ValueError(f"indices: expected integers, got dtype {idx.dtype.name}")
    idx = tf.cast(idx, tf.int64)
    _rank(y_pred, "y_pred", 4)
    _last_dim(y_pred, "y_pred", 2, "2")
    _rank(y_true, "y_true", 3)
    _last_dim(y_true, "y_true", 2, "2")
    _rank(idx, "indices", 2)
    _rank(mask, "mask", 2)

    shape = tf.shape(y_pred, out_type=tf.int64)
    cells = shape[1] * shape[2]
    checks = [
        tf.debugging.assert_greater_equal(idx, tf.zeros([], tf.int64), message="indices: negative index"),
        tf.debugging.assert_less(idx, cells, message="indices: index >= H*W"),
    ]
    with tf.control_dependencies(checks):
        in_range = tf.reduce_all((idx >= 0) & (idx < cells))
        safe_idx = tf.where((idx >= 0) & (idx < cells), idx, tf.zeros_like(idx))
    flat = tf.reshape(y_pred, tf.stack([shape[0], cells, 2]))
    g = tf.gather(flat, safe_idx, batch_dims=1)
    m = tf.tile(mask[..., tf.newaxis], [1, 1, 2])
    total = tf.reduce_sum(tf.abs(y_true * m - g * m))
    value = total / (tf.reduce_sum(m) + _const(EPSILON, dtype))
    return tf.where(in_range, value, tf.constant(np.nan, dtype))


def loss(args: Sequence[Any]) -> tf.Tensor:
    """CenterNet total: focal_loss + 0.1·reg_l1_loss(wh) + reg_l1_loss(reg)."""
    if len(args) != 8:
        raise ValueError(f"args: expected 8 tensors, got {len(args)}")
    hm_pred, wh_pred, reg_pred, hm_true, wh_true, reg_true, reg_mask, indices = args
    hm = focal_loss(hm_pred, hm_true)
    wh = reg_l1_loss(wh_pred, wh_true, indices, reg_mask)
    reg = reg_l1_loss(reg_pred, reg_true, indices, reg_mask)
    return hm + _const(CENTERNET_WH_WEIGHT, wh.dtype) * wh + reg
