"""Reference PyTorch implementation of every contract name in the loss catalogue.

The PyTorch counterpart of :mod:`conformance.targets.reference` (docs/contracts.md
docs/contracts.md, with ``torch.Tensor`` in and out): the same formulas,
the same numerically stable forms and the same gradient conventions, evaluated in the
dtype of the input tensors (float16, bfloat16, float32 or float64); every constant is
created in the input's dtype, nothing is hard-coded to float32.  It also implements
``diou_loss`` and ``ciou_loss`` (docs/contracts.md, α detached).

Everything runs eagerly and under ``torch.compile`` as one graph (``fullgraph=True`` works:
no Python control flow on tensor values).  Bad labels and indices never give a silent finite
value: ``sparse_softmax_cross_entropy_with_logits`` and ``reg_l1_loss`` assert that they are
in range (``torch._assert_async``: a ``RuntimeError`` eagerly and in compiled code on CPU) and
also return NaN for out-of-range ones, which covers any execution where the assertion is
dropped.

Accuracy beyond the textbook forms (same values, fewer roundings): log-softmax via
log1p of the non-maximal terms with a written-out gradient (confident predictions),
σ and the sigmoid cross-entropies without cancellation (and with the exact derivative at
logits == 0: no relu or abs kinks), box overlaps from centre differences instead of
rounded corners, 1 − IoU and 1 − GIoU without cancellation near a perfect match, and
Σ(ε + m) as Σm + ε·numel(m).  Ties of max / min send the gradient to the first argument
(as TensorFlow and the oracle do), so that subgradients agree with the TF reference.

Binary and categorical cross-entropy follow convention "keras-ops": P is clipped
to [ε_k, 1 − ε_k] with ε_k rounded to the input dtype and 1 − ε_k computed in it, then
log P and log(1 − P).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

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


def _tensor(x: Any) -> torch.Tensor:
    """``x`` as a tensor (tensors pass through; float64 NumPy data stays float64)."""
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))


def _float(x: Any) -> torch.Tensor:
    """A floating tensor; non-float input (integers, booleans) becomes float32."""
    t = _tensor(x)
    return t if t.is_floating_point() else t.to(torch.float32)


def _like(x: Any, ref: torch.Tensor) -> torch.Tensor:
    """``x`` as a tensor of ``ref``'s dtype and device."""
    return _tensor(x).to(device=ref.device, dtype=ref.dtype)


def _const(value: Any, ref: torch.Tensor) -> torch.Tensor:
    """A configuration value or constant in ``ref``'s dtype, rounded once from its float64 value.

    bfloat16 constants are rounded through float32, as TensorFlow converts Python floats
    (and as the oracle's ``constants_dtype`` reproduces them).
    """
    if isinstance(value, torch.Tensor):
        return value.to(device=ref.device, dtype=ref.dtype)
    arr = np.asarray(value, dtype=np.float64)
    if ref.dtype == torch.bfloat16:  # float64 -> float32 -> bfloat16 (round to nearest even)
        return torch.as_tensor(arr.astype(np.float32), device=ref.device).to(ref.dtype)
    # NumPy rounds float64 to float16 / float32 once (a torch cast from float64 to float16 goes through float32)
    np_dtype = {torch.float16: np.float16, torch.float32: np.float32}.get(ref.dtype, np.float64)
    return torch.as_tensor(arr.astype(np_dtype), device=ref.device).to(ref.dtype)


def _index(x: Any, name: str) -> torch.Tensor:
    """Integer indices as int64; floating input raises."""
    t = _tensor(x)
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise ValueError(f"{name}: expected integer indices, got dtype {t.dtype}")
    return t.to(torch.int64)


def _last_dim(x: torch.Tensor, name: str, expected: int, what: str) -> None:
    """Raise ``ValueError`` when the last dimension of ``x`` is not ``expected``."""
    if x.dim() == 0 or x.shape[-1] != expected:
        got = x.shape[-1] if x.dim() else "a scalar"
        raise ValueError(f"{name}: expected last axis of size {what} = {expected}, got {got}")


def _rank(x: torch.Tensor, name: str, rank: int) -> None:
    if x.dim() != rank:
        raise ValueError(f"{name}: expected rank {rank}, got rank {x.dim()} (shape {tuple(x.shape)})")


def _same_shape(a: torch.Tensor, b: torch.Tensor, name: str, other: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name}: shape {tuple(a.shape)} does not match {other}'s shape {tuple(b.shape)}")


def _maximum(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """max(a, b) with the gradient sent to ``a`` on ties (TensorFlow's convention; torch splits it)."""
    return torch.where(a >= b, a, b)


def _minimum(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """min(a, b) with the gradient sent to ``a`` on ties."""
    return torch.where(a <= b, a, b)


def _xlogy(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """x·log y with 0·log y = 0, differentiated as (log y, x / y) with x / y = 0 where x = 0."""
    has = x != 0
    one = torch.ones_like(y)
    y_safe = torch.where(has, y, one)
    return torch.where(has, x * torch.log(y_safe), torch.zeros_like(y))


def _mul_no_nan(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """x·y, and 0 where y = 0 even if x is inf or NaN (``tf.math.multiply_no_nan``)."""
    return torch.where(y == 0, torch.zeros_like(x), x * y)


def _clip_prob(p: torch.Tensor, eps: float) -> torch.Tensor:
    """clip(p, ε, 1 − ε) with ε rounded to p's dtype and 1 − ε computed in that dtype (as Keras does).

    The gradient passes where ε ≤ p ≤ 1 − ε (inclusive), as TensorFlow's clip does.
    """
    e = _const(eps, p)
    return torch.clamp(p, e, 1 - e)


# --------------------------------------------------------------------------- nn (docs/contracts.md)


def sigmoid(x: Any) -> torch.Tensor:
    """σ(x) = 1 / (1 + e^{−x}), as 1/(1 + e^{−|x|}) or e^{−|x|}/(1 + e^{−|x|}) by sign.

    Differentiated through this form, the gradient is e^{−|x|}/(1 + e^{−|x|})² up to a few
    roundings, accurate also for large |x| (σ(x)·(1 − σ(x)) loses it as σ(x) rounds to 1).
    """
    x = _float(x)
    cond = x >= 0
    e = torch.exp(torch.where(cond, -x, x))
    return torch.where(cond, 1 / (1 + e), e / (1 + e))


def softmax(logits: Any, axis: int = -1) -> torch.Tensor:
    """e^{x_i} / Σ_j e^{x_j} along ``axis`` (max-shifted)."""
    x = _float(logits)
    return torch.softmax(x, dim=_axis(x, axis))


def _softplus_pair(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(softplus(x), softplus(−x)) = (max(x, 0), max(−x, 0)) + log1p(e^{−|x|}), never overflowing.

    The branches are selected with ``torch.where`` on ``x >= 0``, so the gradients are the
    exact σ(x) and −σ(−x) also at x = 0.
    """
    cond = x >= 0
    zero = torch.zeros_like(x)
    tail = torch.log1p(torch.exp(torch.where(cond, -x, x)))
    return torch.where(cond, x, zero) + tail, torch.where(cond, zero, -x) + tail


def sigmoid_cross_entropy_with_logits(labels: Any = None, logits: Any = None) -> torch.Tensor:
    """Elementwise max(x, 0) − x·z + log(1 + e^{−|x|}) = −z log σ(x) − (1−z) log(1−σ(x)).

    Evaluated as x·(1 − z) (x ≥ 0) or −x·z (x < 0) plus log1p(e^{−|x|}): for labels in
    [0, 1] both terms are non-negative, so nothing cancels (max(x, 0) − x·z does for z ≈ 1).
    """
    x = _float(logits)
    z = _like(labels, x)
    _same_shape(z, x, "labels", "logits")
    cond = x >= 0
    linear = torch.where(cond, x * (1 - z), -x * z)
    return linear + torch.log1p(torch.exp(torch.where(cond, -x, x)))


def weighted_cross_entropy_with_logits(labels: Any = None, logits: Any = None,
                                       pos_weight: Any = 1.0) -> torch.Tensor:
    """Elementwise q·z·(−log σ(x)) + (1−z)·(−log(1−σ(x))) = q·z·softplus(−x) + (1−z)·softplus(x).

    Equal to the spec's (1−z)·x + (1+(q−1)z)·(log(1+e^{−|x|}) + max(−x, 0)), which cancels
    for x ≪ 0; this form does not.  The label weight q·z is formed first (0 where z = 0), so
    that q·softplus(−x) is never formed (it overflows float16 for x = −1e4, q = 10).
    """
    x = _float(logits)
    z = _like(labels, x)
    _same_shape(z, x, "labels", "logits")
    q = _const(pos_weight, x)
    sp_pos, sp_neg = _softplus_pair(x)
    return _mul_no_nan(q, z) * sp_neg + (1 - z) * sp_pos


def _axis(x: torch.Tensor, axis: int, name: str = "axis") -> int:
    rank = x.dim()
    if not -rank <= int(axis) < rank:
        raise ValueError(f"{name}: {axis} is out of range for rank {rank}")
    return int(axis) % rank


class _SoftmaxXent(torch.autograd.Function):
    """−Σ y·log softmax(x) along ``ax`` (y, x of one shape), with an accurate value and gradient.

    With a the argmax, m = x_a and s = Σ_{j≠a} e^{x_j − m}: log softmax = (x − m) − log1p(s),
    accurate also where the softmax is confident (log of a sum near 1 is not).  The gradient
    softmax·Σy − y is written out: at the argmax it is (Σ_{j≠a} y_j − y_a·s)/(1 + s), which
    for a confident one-hot row is −s/(1 + s) to a few ulps (softmax_a − 1 would cancel).
    """

    @staticmethod
    def forward(ctx: Any, y: torch.Tensor, x: torch.Tensor, ax: int) -> torch.Tensor:
        m = torch.amax(x, dim=ax, keepdim=True)
        d = x - m
        is_max = torch.zeros_like(x, dtype=torch.bool).scatter_(ax, torch.argmax(x, dim=ax, keepdim=True), True)
        zero = torch.zeros_like(x)
        e = torch.exp(d)
        rest = torch.sum(torch.where(is_max, zero, e), dim=ax, keepdim=True)
        log_p = d - torch.log1p(rest)
        # 0 · log softmax = 0 even where log softmax overflows to -inf (extreme logits in float16)
        value = -torch.sum(_mul_no_nan(log_p, y), dim=ax)
        ctx.save_for_backward(y, e, rest, log_p, is_max)
        ctx.ax = ax
        return value

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        y, e, rest, log_p, is_max = ctx.saved_tensors
        g = g.unsqueeze(ctx.ax)
        zero = torch.zeros_like(e)
        p = e / (1 + rest)
        total = torch.sum(y, dim=ctx.ax, keepdim=True)
        y_others = torch.sum(torch.where(is_max, zero, y), dim=ctx.ax, keepdim=True)
        y_max = torch.sum(torch.where(is_max, y, zero), dim=ctx.ax, keepdim=True)
        g_max = (y_others - y_max * rest) / (1 + rest)
        grad_y = -g * log_p if ctx.needs_input_grad[0] else None
        grad_x = g * torch.where(is_max, g_max, p * total - y) if ctx.needs_input_grad[1] else None
        return grad_y, grad_x, None


def _softmax_xent(y: torch.Tensor, x: torch.Tensor, ax: int) -> torch.Tensor:
    return _SoftmaxXent.apply(y, x, ax)


def softmax_cross_entropy_with_logits(labels: Any = None, logits: Any = None, axis: int = -1) -> torch.Tensor:
    """−Σ_i y_i · log softmax(x)_i over ``axis``."""
    x = _float(logits)
    y = _like(labels, x)
    try:
        y = torch.broadcast_to(y, x.shape)
    except RuntimeError as exc:
        raise ValueError(f"labels: shape {tuple(y.shape)} does not broadcast to logits' {tuple(x.shape)}") from exc
    return _softmax_xent(y, x, _axis(x, axis))


def sparse_softmax_cross_entropy_with_logits(labels: Any = None, logits: Any = None) -> torch.Tensor:
    """logsumexp(x) − x_k over the last axis, ``k`` an integer class index in [0, C).

    Labels outside [0, C) fail an assertion (``RuntimeError``) and, where the assertion is not
    executed, give NaN: never a silent finite value.
    """
    x = _float(logits)
    k = _index(labels, "labels")
    if k.dim() != x.dim() - 1:
        raise ValueError(f"labels: expected rank {x.dim() - 1} (logits' rank - 1), got rank {k.dim()}")
    if k.shape != x.shape[:-1]:
        raise ValueError(f"labels: shape {tuple(k.shape)} does not match logits' leading shape {tuple(x.shape[:-1])}")
    classes = x.shape[-1]
    valid = (k >= 0) & (k < classes)
    torch._assert_async(valid.all(), "labels: class index outside [0, C)")
    safe_k = torch.where(valid, k, torch.zeros_like(k))
    y = torch.nn.functional.one_hot(safe_k, classes).to(x.dtype)
    value = _softmax_xent(y, x, x.dim() - 1)
    return torch.where(valid, value, torch.full_like(value, math.nan))


def binary_crossentropy(target: Any, output: Any) -> torch.Tensor:
    """−(t·log P + (1−t)·log(1−P)), P = clip(p, ε_k, 1−ε_k) (convention "keras-ops")."""
    p = _float(output)
    t = _like(target, p)
    pc = _clip_prob(p, EPSILON_KERAS)
    # log(1 − P) as log1p(−P) (accurate for small P).  As the formula does, t = 1 with P = 1
    # (possible only in float16/bfloat16, where 1 − ε_k rounds to 1: FP16-CLIP)
    # gives 0·log 0 = NaN.  _xlogy(t, P) = t·log P here (P > 0), and its gradient has no
    # 0·inf = NaN where t = 0 and 1/P overflows (float16, P < 2^-16).
    return -(_xlogy(t, pc) + (1 - t) * torch.log1p(-pc))


def categorical_crossentropy(target: Any, output: Any, axis: int = -1) -> torch.Tensor:
    """−Σ_i t_i · log clip(p_i / Σ_j p_j, ε_k, 1−ε_k) over ``axis`` (convention keras-ops)."""
    p = _float(output)
    t = _like(target, p)
    ax = _axis(p, axis)
    q = p / torch.sum(p, dim=ax, keepdim=True)
    qc = _clip_prob(q, EPSILON_KERAS)
    return -torch.sum(_xlogy(t, qc), dim=ax)


def entropy(p: Any, axis: int = -1) -> torch.Tensor:
    """−Σ p·log p over ``axis`` with 0·log 0 = 0 (gradient 0 there, as TensorFlow's xlogy gives)."""
    p = _float(p)
    return -torch.sum(_xlogy(p, p), dim=_axis(p, axis))


class _LogRatio(torch.autograd.Function):
    """log(p / q) for p > 0, accurate to a few ulps in every regime.

    Near p = q: log1p((p − q)/q) (p − q is exact there); elsewhere log(p/q), unless the
    ratio over- or underflows, then log p − log q (which is then large, so accurate).
    The gradient is written out as (g/p, −g/q): differentiating log(p/q) forms p/q²,
    which overflows float16 for q below ~1e-2 even where the gradient itself is small.
    """

    @staticmethod
    def forward(ctx: Any, p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        one = torch.ones_like(p)
        fi = torch.finfo(p.dtype)
        r = p / q
        near = (r >= 0.5) & (r <= 2)
        normal = ~near & (r >= fi.tiny) & (r <= fi.max)
        far = ~near & ~normal
        q_near = torch.where(near, q, one)
        near_val = torch.log1p((torch.where(near, p, one) - q_near) / q_near)
        mid_val = torch.log(torch.where(normal, p, one) / torch.where(normal, q, one))
        far_val = torch.log(torch.where(far, p, one)) - torch.log(torch.where(far, q, one))
        ctx.save_for_backward(p, q)
        return torch.where(near, near_val, torch.where(normal, mid_val, far_val))

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p, q = ctx.saved_tensors
        return g / p, -g / q


def kl_divergence(p: Any, q: Any, axis: int = -1) -> torch.Tensor:
    """Σ p·log(p/q) over ``axis`` with 0·log(0/q) = 0."""
    p = _float(p)
    q = _like(q, p)
    try:
        p, q = torch.broadcast_tensors(p, q)
    except RuntimeError as exc:
        raise ValueError(f"q: shape {tuple(q.shape)} does not broadcast with p's {tuple(p.shape)}") from exc
    has = p != 0
    one = torch.ones_like(p)
    p_safe = torch.where(has, p, one)
    q_safe = torch.where(has, q, one)
    term = torch.where(has, p_safe * _LogRatio.apply(p_safe, q_safe), torch.zeros_like(p))
    return torch.sum(term, dim=_axis(p, axis))


def smooth_l1(x: Any) -> torch.Tensor:
    """0.5·x² if |x| ≤ 1 else |x| − 0.5, elementwise."""
    x = _float(x)
    a = torch.abs(x)
    return torch.where(a <= 1, 0.5 * x * x, a - 0.5)


# --------------------------------------------------------------------------- Faster R-CNN (docs/contracts.md)


def _eps_normaliser(m: torch.Tensor) -> torch.Tensor:
    """Σ(ε + m) = Σm + ε·numel(m) (FRCNN-EPS-PER-ELEMENT).

    Σm is exact for a 0/1 mask in any summation order, and ε·numel is formed in float32
    (float64 for float64 input) and rounded once, so the normaliser is correctly rounded.
    """
    wide = torch.float64 if m.dtype == torch.float64 else torch.float32
    eps_n = torch.tensor(float(m.numel()), dtype=wide, device=m.device) * torch.tensor(EPSILON, dtype=wide)
    return torch.sum(m) + eps_n.to(m.dtype)


def _masked_smooth_l1_loss(y_true: torch.Tensor, y_pred: torch.Tensor, n: int, lam: float) -> torch.Tensor:
    """λ · Σ m·smooth_l1(t − y_pred) / Σ(ε + m), m = y_true[..., :n], t = y_true[..., n:]."""
    m = y_true[..., :n]
    t = y_true[..., n:]
    _same_shape(y_pred, t, "y_pred", "the targets in y_true")
    num = torch.sum(m * smooth_l1(t - y_pred))
    return _const(lam, y_pred) * num / _eps_normaliser(m)


def rpn_loss_regr(num_anchors: int) -> Callable[[Any, Any], torch.Tensor]:
    """RPN box regression: λ · Σ m·smooth_l1(t − y_pred) / Σ(ε + m) over (B, H, W, 8A) / (B, H, W, 4A)."""
    a = int(num_anchors)

    def rpn_loss_regr_fixed_num(y_true: Any, y_pred: Any) -> torch.Tensor:
        y_pred = _float(y_pred)
        y_true = _like(y_true, y_pred)
        _rank(y_true, "y_true", 4)
        _rank(y_pred, "y_pred", 4)
        _last_dim(y_true, "y_true", 8 * a, "8*A")
        _last_dim(y_pred, "y_pred", 4 * a, "4*A")
        return _masked_smooth_l1_loss(y_true, y_pred, 4 * a, LAMBDA_RPN_REGR)

    return rpn_loss_regr_fixed_num


def rpn_loss_cls(num_anchors: int) -> Callable[[Any, Any], torch.Tensor]:
    """RPN objectness: λ · Σ v·BCE(z, y_pred) / Σ(ε + v), v = y_true[..., :A], z = y_true[..., A:]."""
    a = int(num_anchors)

    def rpn_loss_cls_fixed_num(y_true: Any, y_pred: Any) -> torch.Tensor:
        y_pred = _float(y_pred)
        y_true = _like(y_true, y_pred)
        _rank(y_true, "y_true", 4)
        _rank(y_pred, "y_pred", 4)
        _last_dim(y_true, "y_true", 2 * a, "2*A")
        _last_dim(y_pred, "y_pred", a, "A")
        v = y_true[..., :a]
        z = y_true[..., a:]
        num = torch.sum(v * binary_crossentropy(z, y_pred))
        return _const(LAMBDA_RPN_CLASS, y_pred) * num / _eps_normaliser(v)

    return rpn_loss_cls_fixed_num


def class_loss_regr(num_classes: int) -> Callable[[Any, Any], torch.Tensor]:
    """Detector box regression: λ · Σ m·smooth_l1(t − y_pred) / Σ(ε + m) over (B, R, 8C) / (B, R, 4C)."""
    c = int(num_classes)

    def class_loss_regr_fixed_num(y_true: Any, y_pred: Any) -> torch.Tensor:
        y_pred = _float(y_pred)
        y_true = _like(y_true, y_pred)
        _rank(y_true, "y_true", 3)
        _rank(y_pred, "y_pred", 3)
        _last_dim(y_true, "y_true", 8 * c, "8*C")
        _last_dim(y_pred, "y_pred", 4 * c, "4*C")
        return _masked_smooth_l1_loss(y_true, y_pred, 4 * c, LAMBDA_CLS_REGR)

    return class_loss_regr_fixed_num


def class_loss_cls(y_true: Any, y_pred: Any) -> torch.Tensor:
    """λ · mean over r of CCE(y_true[0, r, :], y_pred[0, r, :]) (batch element 0 only, as the documents)."""
    y_pred = _float(y_pred)
    y_true = _like(y_true, y_pred)
    _rank(y_true, "y_true", 3)
    _rank(y_pred, "y_pred", 3)
    cce = categorical_crossentropy(y_true[0], y_pred[0], axis=-1)
    return _const(LAMBDA_CLS_CLASS, y_pred) * torch.mean(cce)


# --------------------------------------------------------------------------- YOLOv3 (docs/contracts.md)


def _anchors(anchors: Any, ref: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Anchors as an (A, 2) tensor in ``ref``'s dtype and A."""
    t = _const(anchors, ref)
    _rank(t, "anchors", 2)
    _last_dim(t, "anchors", 2, "2")
    return t, int(t.shape[0])


def decode(conv_output: Any, anchors: Any, stride: Any, num_class: int) -> torch.Tensor:
    """(B, S, S, A·(5+N)) raw output → (B, S, S, A, 5+N) boxes (x, y, w, h) in pixels, conf, class probs."""
    conv = _float(conv_output)
    n = int(num_class)
    anc, a = _anchors(anchors, conv)
    _rank(conv, "conv_output", 4)
    _last_dim(conv, "conv_output", a * (5 + n), "A*(5+num_class)")
    stride_c = _const(stride, conv)
    batch, rows, cols = conv.shape[0], conv.shape[1], conv.shape[2]
    raw = conv.reshape(batch, rows, cols, a, 5 + n)
    grid_x = torch.arange(cols, device=conv.device).to(conv.dtype)[None, :, None].expand(rows, cols, 1)
    grid_y = torch.arange(rows, device=conv.device).to(conv.dtype)[:, None, None].expand(rows, cols, 1)
    grid = torch.cat([grid_x, grid_y], dim=-1)[:, :, None, :]  # (S, S, 1, 2): column, row
    xy = (sigmoid(raw[..., 0:2]) + grid) * stride_c
    wh = torch.exp(raw[..., 2:4]) * anc * stride_c
    conf = sigmoid(raw[..., 4:5])
    prob = sigmoid(raw[..., 5:])
    return torch.cat([xy, wh, conf, prob], dim=-1)


def _box_pair(boxes1: Any, boxes2: Any) -> tuple[torch.Tensor, torch.Tensor]:
    b1 = _float(boxes1)
    b2 = _like(boxes2, b1)
    _last_dim(b1, "boxes1", 4, "4")
    _last_dim(b2, "boxes2", 4, "4")
    try:
        torch.broadcast_shapes(b1.shape, b2.shape)
    except RuntimeError as exc:
        raise ValueError(f"boxes2: shape {tuple(b2.shape)} does not broadcast with boxes1' {tuple(b1.shape)}") from exc
    return b1, b2


def _overlap(c1: torch.Tensor, w1: torch.Tensor, c2: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
    """max(min(right1, right2) − max(left1, left2), 0) along one axis, left/right = c ∓ w/2.

    Evaluated as max(min(w1, w2, s − d, s + d), 0) with d = c1 − c2 and s = (w1 + w2)/2,
    the same value without forming the corners, whose rounding at large coordinates would
    swamp small extents.
    """
    d = c1 - c2
    s = (w1 + w2) * 0.5
    o = _minimum(_minimum(w1, w2), _minimum(s - d, s + d))
    return _maximum(o, torch.zeros_like(o))


def _span(c1: torch.Tensor, a1: torch.Tensor, c2: torch.Tensor, a2: torch.Tensor) -> torch.Tensor:
    """max(right1, right2) − min(left1, left2) along one axis for sorted extents a ≥ 0 (the enclosing box)."""
    return _maximum(_maximum(a1, a2), (a1 + a2) * 0.5 + torch.abs(c1 - c2))


def _iou_parts(boxes1: Any, boxes2: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(inter, union, area1, area2) of bbox_iou: areas from the raw w·h."""
    b1, b2 = _box_pair(boxes1, boxes2)
    area1 = b1[..., 2] * b1[..., 3]
    area2 = b2[..., 2] * b2[..., 3]
    inter = (_overlap(b1[..., 0], b1[..., 2], b2[..., 0], b2[..., 2])
             * _overlap(b1[..., 1], b1[..., 3], b2[..., 1], b2[..., 3]))
    return inter, area1 + area2 - inter, area1, area2


def _giou_parts(boxes1: Any, boxes2: Any) -> tuple[torch.Tensor, ...]:
    """(inter, union, enclose, area1, area2) of bbox_giou: corners re-sorted, i.e. extents |w|, |h|."""
    b1, b2 = _box_pair(boxes1, boxes2)
    w1, h1, w2, h2 = torch.abs(b1[..., 2]), torch.abs(b1[..., 3]), torch.abs(b2[..., 2]), torch.abs(b2[..., 3])
    area1 = w1 * h1
    area2 = w2 * h2
    inter = _overlap(b1[..., 0], w1, b2[..., 0], w2) * _overlap(b1[..., 1], h1, b2[..., 1], h2)
    enclose = _span(b1[..., 0], w1, b2[..., 0], w2) * _span(b1[..., 1], h1, b2[..., 1], h2)
    return inter, area1 + area2 - inter, enclose, area1, area2


class _Ratio(torch.autograd.Function):
    """num / den, differentiated as (g / den, −(g / den)·(num / den)): the quotient rule without den².

    Forming den² underflows to 0 for |den| below √(smallest normal), and the gradient
    would become 0/0 = NaN where it is exactly 0.
    """

    @staticmethod
    def forward(ctx: Any, num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
        q = num / den
        ctx.save_for_backward(den, q)
        return q

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        den, q = ctx.saved_tensors
        g_den = g / den
        return g_den, -g_den * q


def _ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    num, den = torch.broadcast_tensors(num, den)
    return _Ratio.apply(num, den)


def _grad_from(value: torch.Tensor, surrogate: torch.Tensor) -> torch.Tensor:
    """``value`` exactly, differentiated as ``surrogate`` (equal to it up to a constant).

    For the box losses the accurate value and a cancellation-free gradient come from
    different algebraic forms of one function.
    """
    s = surrogate
    return value.detach() + torch.where(torch.isfinite(s), s - s.detach(), torch.zeros_like(s))


def bbox_iou(boxes1: Any, boxes2: Any) -> torch.Tensor:
    """IoU of (x, y, w, h) boxes, broadcasting over leading axes; areas from the raw w·h (docs/contracts.md)."""
    inter, union, _, _ = _iou_parts(boxes1, boxes2)
    return _ratio(inter, union)


def bbox_giou(boxes1: Any, boxes2: Any) -> torch.Tensor:
    """Generalised IoU of (x, y, w, h) boxes; corners re-sorted per axis, areas from the sorted corners.

    IoU − (E − union)/E with E the enclosing box's area; NaN only where a 0/0 occurs.  The
    gradient is taken through IoU + union/E (the same up to a constant), which does not cancel
    for distant boxes.
    """
    inter, union, enclose, _, _ = _giou_parts(boxes1, boxes2)
    iou = _ratio(inter, union)
    return _grad_from(iou - (enclose - union) / enclose, iou + _ratio(union, enclose))


def iou_loss(boxes1: Any, boxes2: Any) -> torch.Tensor:
    """1 − IoU, as ((area1 − inter) + (area2 − inter)) / union: relatively accurate when IoU ≈ 1."""
    inter, union, area1, area2 = _iou_parts(boxes1, boxes2)
    return _grad_from(((area1 - inter) + (area2 - inter)) / union, -_ratio(inter, union))


def giou_loss(boxes1: Any, boxes2: Any) -> torch.Tensor:
    """1 − GIoU, as (union − inter)/union + (E − union)/E: relatively accurate when GIoU ≈ 1."""
    inter, union, enclose, area1, area2 = _giou_parts(boxes1, boxes2)
    value = ((area1 - inter) + (area2 - inter)) / union + (enclose - union) / enclose
    return _grad_from(value, -(_ratio(inter, union) + _ratio(union, enclose)))


_FOUR_OVER_PI2 = 0.4052847345693511  # 4 / π², correctly rounded in float64


def _distance_ratio(b1: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
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
    m = _maximum(torch.abs(cx), torch.abs(cy)).detach()
    dx, dy, cx, cy = dx / m, dy / m, cx / m, cy / m
    return (dx * dx + dy * dy) / (cx * cx + cy * cy)


def _aspect_angle(w: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """atan2(w, h), with (w, h) first divided by max(|w|, |h|) (constant in the gradient; the angle does not
    depend on the scale) so that the gradient's w² + h² cannot overflow float16.  A zero-size box has angle 0
    (atan2(0, 0)) and no gradient through it (the angle is discontinuous there)."""
    m = _maximum(torch.abs(w), torch.abs(h)).detach()
    zero = m == 0
    safe = torch.where(zero, torch.ones_like(m), m)
    return torch.atan2(torch.where(zero, torch.zeros_like(w), w / safe),
                       torch.where(zero, torch.ones_like(h), h / safe))


def diou_loss(boxes1: Any, boxes2: Any) -> torch.Tensor:
    """1 − IoU + ρ²/c² (IoU as ``bbox_iou``; c the diagonal of the smallest box enclosing both; docs/contracts.md)."""
    b1, b2 = _box_pair(boxes1, boxes2)
    return iou_loss(b1, b2) + _distance_ratio(b1, b2)


def ciou_loss(boxes1: Any, boxes2: Any) -> torch.Tensor:
    """1 − IoU + ρ²/c² + α·v, v = (4/π²)(atan2(w2, h2) − atan2(w1, h1))², α = v/((1 − IoU) + v) (0 where v = 0).

    α is held constant in the gradient (detached, as in the paper's code; CIOU-ALPHA-GRAD);
    boxes2 is the ground truth.
    """
    b1, b2 = _box_pair(boxes1, boxes2)
    one_minus_iou = iou_loss(b1, b2)
    gap = _aspect_angle(b2[..., 2], b2[..., 3]) - _aspect_angle(b1[..., 2], b1[..., 3])
    v = _const(_FOUR_OVER_PI2, b1) * (gap * gap)
    positive = v > 0
    safe = torch.where(positive, one_minus_iou + v, torch.ones_like(v))
    alpha = torch.where(positive, v / safe, torch.zeros_like(v)).detach()
    return one_minus_iou + _distance_ratio(b1, b2) + alpha * v


def focal(target: Any, actual: Any, alpha: Any = 1, gamma: Any = 2) -> torch.Tensor:
    """α·|target − actual|^γ (the YOLOv3 confidence weight; the gradient flows through it)."""
    x = _float(actual)
    t = _like(target, x)
    return _const(alpha, x) * torch.pow(torch.abs(t - x), _const(gamma, x))


def loss_layer(
    conv: Any,
    pred: Any,
    label: Any,
    bboxes: Any,
    anchors: Any,
    stride: Any,
    num_class: int,
    iou_loss_thresh: Any = 0.5,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(giou_loss, conf_loss, prob_loss) of one YOLOv3 scale, each the batch mean of a per-image sum."""
    conv = _float(conv)
    pred = _like(pred, conv)
    label = _like(label, conv)
    bboxes = _like(bboxes, conv)
    n = int(num_class)
    _, a = _anchors(anchors, conv)
    _rank(conv, "conv", 4)
    _last_dim(conv, "conv", a * (5 + n), "A*(5+num_class)")
    _rank(pred, "pred", 5)
    _last_dim(pred, "pred", 5 + n, "5+num_class")
    _rank(label, "label", 5)
    _last_dim(label, "label", 5 + n, "5+num_class")
    _rank(bboxes, "bboxes", 3)
    _last_dim(bboxes, "bboxes", 4, "4")
    batch, rows, cols = conv.shape[0], conv.shape[1], conv.shape[2]
    _same_shape(label, pred, "label", "pred")
    if tuple(pred.shape[:4]) != (batch, rows, cols, a):
        raise ValueError(f"pred: shape {tuple(pred.shape)} does not match conv's grid {(batch, rows, cols, a)}")
    if bboxes.shape[0] != batch:
        raise ValueError(f"bboxes: batch size {bboxes.shape[0]} does not match conv's {batch}")

    raw = conv.reshape(batch, rows, cols, a, 5 + n)
    raw_conf = raw[..., 4:5]
    raw_prob = raw[..., 5:]
    pred_xywh = pred[..., 0:4]
    pred_conf = pred[..., 4:5]
    label_xywh = label[..., 0:4]
    respond = label[..., 4:5]
    label_prob = label[..., 5:]

    input_size = _const(stride, conv) * rows
    # 2 − w·h / input_size², evaluated as (w / s)·(h / s) so that float16 does not overflow
    scale = 2 - (label_xywh[..., 2:3] / input_size) * (label_xywh[..., 3:4] / input_size)
    giou_term = respond * scale * giou_loss(pred_xywh, label_xywh)[..., None]

    # no gradient flows through the background comparison
    iou = bbox_iou(pred_xywh.detach()[:, :, :, :, None, :], bboxes.detach()[:, None, None, None, :, :])
    max_iou = torch.amax(iou, dim=-1, keepdim=True)
    below = (max_iou < _const(iou_loss_thresh, conv)).to(conv.dtype)
    background = (1 - respond) * below

    sce_conf = sigmoid_cross_entropy_with_logits(labels=respond, logits=raw_conf)
    conf_term = focal(respond, pred_conf) * (respond * sce_conf + background * sce_conf)
    prob_term = respond * sigmoid_cross_entropy_with_logits(labels=label_prob, logits=raw_prob)

    def reduce(term: torch.Tensor) -> torch.Tensor:
        return torch.mean(torch.sum(term, dim=(1, 2, 3, 4)))

    return reduce(giou_term), reduce(conf_term), reduce(prob_term)


def compute_loss(
    convs: Sequence[Any],
    labels: Sequence[Any],
    bboxes: Sequence[Any],
    anchors: Any,
    strides: Any,
    num_class: int,
    iou_loss_thresh: Any = 0.5,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sum over the three scales of loss_layer(conv, decode(conv), ...): (giou_loss, conf_loss, prob_loss)."""
    convs, labels, bboxes = list(convs), list(labels), list(bboxes)
    for name, seq in (("convs", convs), ("labels", labels), ("bboxes", bboxes)):
        if len(seq) != 3:
            raise ValueError(f"{name}: expected a sequence of 3 scales, got {len(seq)}")
    anchors = anchors if isinstance(anchors, torch.Tensor) else np.asarray(anchors, dtype=np.float64)
    strides = strides if isinstance(strides, torch.Tensor) else np.asarray(strides, dtype=np.float64)
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


def focal_loss(hm_pred: Any, hm_true: Any) -> torch.Tensor:
    """CenterNet heatmap focal loss: (pos_loss + neg_loss) / num_pos, or neg_loss when num_pos = 0."""
    p = _float(hm_pred)
    y = _like(hm_true, p)
    _rank(p, "hm_pred", 4)
    _rank(y, "hm_true", 4)
    _same_shape(y, p, "hm_true", "hm_pred")
    eps = _const(EPSILON_CENTERNET, p)
    one = torch.ones_like(p)
    pos = (y == 1).to(p.dtype)
    neg = (y < 1).to(p.dtype)
    alpha = _const(CENTERNET_ALPHA, p)
    beta = _const(CENTERNET_BETA, p)

    # Each log is taken only where its mask is set (1 elsewhere), so that a masked-out
    # element cannot put 0·inf = NaN into the gradient (1/p overflows float16 for p < 2^-16).
    is_pos = pos > 0
    is_neg = neg > 0
    pos_log = -torch.log(torch.where(is_pos, torch.clamp(p, eps, one), one))
    # −log(clip(1 − p, ε_c, 1)): inside the clip −log1p(−p) (exact for small p), outside −log of the bound
    q = 1 - p
    inside = is_neg & (q >= eps) & (q <= 1)
    neg_log = torch.where(
        inside,
        -torch.log1p(-torch.where(inside, p, torch.zeros_like(p))),
        -torch.log(torch.where(is_neg, torch.clamp(q, eps, one), one)),
    )

    pos_loss = torch.sum(pos_log * torch.pow(1 - p, alpha) * pos)
    neg_loss = torch.sum(neg_log * torch.pow(p, alpha) * torch.pow(1 - y, beta) * neg)
    num_pos = torch.sum(pos)
    has_pos = num_pos > 0
    safe_num = torch.where(has_pos, num_pos, torch.ones_like(num_pos))
    return torch.where(has_pos, (pos_loss + neg_loss) / safe_num, neg_loss)


def reg_l1_loss(y_pred: Any, y_true: Any, indices: Any, mask: Any) -> torch.Tensor:
    """Σ |y_true·M − g·M| / (Σ M + ε), g = y_pred gathered at the flattened H·W ``indices``.

    Out-of-range indices fail an assertion (``RuntimeError``) and, where the assertion is not
    executed, the loss is NaN: never a silent finite value.
    """
    y_pred = _float(y_pred)
    y_true = _like(y_true, y_pred)
    mask = _like(mask, y_pred)
    idx = _index(indices, "indices")
    _rank(y_pred, "y_pred", 4)
    _last_dim(y_pred, "y_pred", 2, "2")
    _rank(y_true, "y_true", 3)
    _last_dim(y_true, "y_true", 2, "2")
    _rank(idx, "indices", 2)
    _rank(mask, "mask", 2)
    _same_shape(mask, idx, "mask", "indices")
    if tuple(y_true.shape[:2]) != tuple(idx.shape):
        raise ValueError(f"y_true: shape {tuple(y_true.shape)} does not match indices' {tuple(idx.shape)} + (2,)")
    if idx.shape[0] != y_pred.shape[0]:
        raise ValueError(f"indices: batch size {idx.shape[0]} does not match y_pred's {y_pred.shape[0]}")

    batch, cells = y_pred.shape[0], y_pred.shape[1] * y_pred.shape[2]
    ok = (idx >= 0) & (idx < cells)
    in_range = torch.all(ok)
    torch._assert_async(in_range, "indices: index outside [0, H*W)")
    safe_idx = torch.where(ok, idx, torch.zeros_like(idx))
    flat = y_pred.reshape(batch, cells, 2)
    g = torch.gather(flat, 1, safe_idx[..., None].expand(-1, -1, 2))
    m = mask[..., None].expand(-1, -1, 2)
    total = torch.sum(torch.abs(y_true * m - g * m))
    value = total / (torch.sum(m) + _const(EPSILON, y_pred))
    return torch.where(in_range, value, torch.full_like(value, math.nan))


def loss(args: Sequence[Any]) -> torch.Tensor:
    """CenterNet total: focal_loss + 0.1·reg_l1_loss(wh) + reg_l1_loss(reg)."""
    if len(args) != 8:
        raise ValueError(f"args: expected 8 tensors, got {len(args)}")
    hm_pred, wh_pred, reg_pred, hm_true, wh_true, reg_true, reg_mask, indices = args
    hm = focal_loss(hm_pred, hm_true)
    wh = reg_l1_loss(wh_pred, wh_true, indices, reg_mask)
    reg = reg_l1_loss(reg_pred, reg_true, indices, reg_mask)
    return hm + _const(CENTERNET_WH_WEIGHT, wh) * wh + reg
