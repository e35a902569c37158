"""Reference Keras 3 implementation of every contract name, written once with ``keras.ops``.

The same formulas, names and signatures as :mod:`conformance.targets.reference` (the
TensorFlow reference; the contract, docs/contracts.md), plus ``diou_loss`` and
``ciou_loss`` (docs/contracts.md).  Only ``keras.ops`` is used (with Python arithmetic on the backend's
tensors), so the module runs on whichever backend ``KERAS_BACKEND`` selects; tensors in and
out are that backend's own tensors (``tf.Tensor`` on TensorFlow)::

    KERAS_BACKEND=tensorflow pytest conformance --impl=conformance.targets.reference_keras

Numerics are the TensorFlow reference's: stable log-softmax (log1p of the non-maximal
terms), σ and the sigmoid cross-entropies without cancellation and with the exact
derivative at logits = 0 (branches selected by ``where``, no relu/abs kinks), box overlaps
from centre differences, 1 − IoU and 1 − GIoU without cancellation, Σ(ε + m) as
Σm + ε·numel(m), BCE/CCE clipping convention "keras-ops" with ε_k rounded to the input
dtype, every constant created in the input's dtype (float16, bfloat16, float32, float64).
Out-of-range class labels and gather indices give NaN (no backend-agnostic assertion exists
inside a traced function, and gathers clamp or raise depending on the backend).

No custom gradients.  ``keras.ops.custom_gradient`` exists on the TensorFlow, JAX and
PyTorch backends, but the gradient function is called differently (``grad(upstream)`` on
TensorFlow and JAX, ``grad(*inputs, upstream=...)`` on PyTorch, which also saves every input
and runs the forward pass without autograd).  Every accurate gradient here comes instead
from plain autodiff of a stop-gradient form: ``sg(v) + (s − sg(s))`` has the value ``v``
exactly and the gradient of ``s``, and ``x / sg(x) − 1`` is exactly 0 with gradient
``g / x`` (a division: ``g · (1/x)`` overflows float16 where ``g / x`` does not).  Minimum and
maximum are written with ``where`` so that ties send the gradient to the first argument on
every backend (as TensorFlow does; JAX splits it).

Two ``keras.ops`` functions are avoided because Keras 3.15 evaluates them in float32 also for
float64 input on the JAX and PyTorch backends (its dtype promotion maps 64-bit types to 32-bit
off TensorFlow): ``ops.mean`` (a sum divided by the count instead) and ``ops.arctan2`` (an
octant reduction and Cephes' rational approximation of atan instead).  On JAX, float64 needs
``jax_enable_x64``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

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

_FLOATS = ("float16", "bfloat16", "float32", "float64")
# Smallest positive normal and largest finite number of each floating dtype.
_TINY = {"float16": 2.0**-14, "bfloat16": 2.0**-126, "float32": 2.0**-126, "float64": 2.0**-1022}
_MAX = {"float16": 65504.0, "bfloat16": (2 - 2.0**-7) * 2.0**127, "float32": (2 - 2.0**-23) * 2.0**127,
        "float64": float(np.finfo(np.float64).max)}


# --------------------------------------------------------------------------- helpers


def _is_tensor(x: Any) -> bool:
    return ops.is_tensor(x) or isinstance(x, keras.Variable)


def _tensor(x: Any) -> Any:
    """``x`` as a backend tensor (tensors pass through; float64 NumPy data stays float64)."""
    return x if _is_tensor(x) else ops.convert_to_tensor(x)


def _dtype(x: Any) -> str:
    return ops.dtype(x)


def _float(x: Any) -> Any:
    """A floating tensor; non-float input (integers, booleans) becomes float32."""
    t = _tensor(x)
    return t if _dtype(t) in _FLOATS else ops.cast(t, "float32")


def _cast(x: Any, dtype: str) -> Any:
    return ops.cast(_tensor(x), dtype)


def _const(value: Any, dtype: str) -> Any:
    """A configuration value or constant in ``dtype``, rounded once from its float64 value."""
    if _is_tensor(value):
        return ops.cast(value, dtype)
    arr = np.asarray(value, dtype=np.float64)
    if dtype == "bfloat16":  # as TensorFlow converts Python floats to bfloat16: through float32
        return ops.cast(ops.convert_to_tensor(arr.astype(np.float32)), dtype)
    return ops.convert_to_tensor(arr.astype(np.dtype(dtype)))


def _rank_of(x: Any) -> int | None:
    try:
        return len(x.shape)
    except (TypeError, ValueError):  # unknown rank (a TensorFlow graph tensor)
        return None


def _last_dim(x: Any, name: str, expected: int, what: str) -> None:
    """Raise ``ValueError`` when the static last dimension of ``x`` is known and wrong."""
    dim = x.shape[-1] if _rank_of(x) else None
    if dim is not None and dim != expected:
        raise ValueError(f"{name}: expected last axis of size {what} = {expected}, got {dim}")


def _rank(x: Any, name: str, rank: int) -> None:
    r = _rank_of(x)
    if r is not None and r != rank:
        raise ValueError(f"{name}: expected rank {rank}, got rank {r} (shape {tuple(x.shape)})")


def _sg(x: Any) -> Any:
    return ops.stop_gradient(x)


def _max(a: Any, b: Any) -> Any:
    """max(a, b) with NaN propagated and the gradient of a tie sent to ``a`` (as TensorFlow does)."""
    return ops.where((a >= b) | ops.isnan(a), a, b)


def _min(a: Any, b: Any) -> Any:
    """min(a, b) with NaN propagated and the gradient of a tie sent to ``a`` (as TensorFlow does)."""
    return ops.where((a <= b) | ops.isnan(a), a, b)


def _clip(x: Any, lo: Any, hi: Any) -> Any:
    """clip(x, lo, hi) passing the gradient for lo ≤ x ≤ hi inclusive (TensorFlow's convention); NaN stays NaN."""
    return ops.where(x < lo, ops.zeros_like(x) + lo, ops.where(x > hi, ops.zeros_like(x) + hi, x))


def _dlog(x: Any) -> Any:
    """Exactly 0, with gradient g / x (written as a division: g · (1/x) overflows float16 where g / x does not).

    0 or non-finite x gets gradient 0 (instead of 0/0 = NaN in the value).
    """
    bad = ops.equal(x, 0) | ~ops.isfinite(x)
    xs = ops.where(bad, ops.ones_like(x), x)
    return xs / _sg(xs) - 1


def _log(x: Any) -> Any:
    """log x, differentiated as g / x (see :func:`_dlog`)."""
    return _sg(ops.log(x)) + _dlog(x)


def _xlogy(t: Any, p: Any) -> Any:
    """t·log p with 0·log p = 0 (p ≥ 0); gradients log p (0 where t = 0, as TensorFlow's xlogy) and t / p."""
    nz = ops.not_equal(t, 0)
    ps = ops.where(nz, p, ops.ones_like(p))
    return t * _sg(ops.log(ps)) + _sg(t) * _dlog(ps)


def _grad_from(value: Any, surrogate: Any) -> Any:
    """``value`` exactly, differentiated as ``surrogate`` (equal to it up to a constant).

    For the box losses the accurate value and a cancellation-free gradient come from
    different algebraic forms of one function.
    """
    delta = ops.where(ops.isfinite(surrogate), surrogate - _sg(surrogate), ops.zeros_like(surrogate))
    return _sg(value) + delta


def _ratio(num: Any, den: Any) -> Any:
    """num / den, differentiated as (g / den, −(g / den)·(num / den)): the quotient rule without den².

    Autodiff of a division forms num / den², and den² underflows to 0 for |den| below
    √(smallest normal) (a union of 2e-22 in float32): the gradient becomes 0/0 = NaN where it is 0.
    """
    q = num / _sg(den)
    q_const = _sg(ops.where(ops.isfinite(q), q, ops.zeros_like(q)))
    return q - q_const * _dlog(den)


def _clip_prob(p: Any, eps: float) -> Any:
    """clip(p, ε, 1 − ε) with ε rounded to p's dtype and 1 − ε computed in that dtype (as Keras does)."""
    e = _const(eps, _dtype(p))
    return _clip(p, e, 1 - e)


def _mean(x: Any, axis: Any = None) -> Any:
    """Mean over ``axis`` (all axes when None), summed in float32 for float16/bfloat16 input (as ``ops.mean``).

    ``ops.mean`` itself is avoided: on the JAX and PyTorch backends Keras 3.15 computes it in float32
    also for float64 input (its dtype promotion maps 64-bit types to 32-bit off TensorFlow).
    """
    dtype = _dtype(x)
    wide = x if dtype in ("float32", "float64") else ops.cast(x, "float32")
    shape = ops.shape(x)
    axes = range(len(shape)) if axis is None else ([axis] if isinstance(axis, int) else axis)
    count = 1
    for a in axes:
        count = count * shape[a]
    return ops.cast(ops.sum(wide, axis=axis) / ops.cast(count, _dtype(wide)), dtype)


# Cephes' atan: x + x·z·P(z)/Q(z), z = x², on |x| ≤ 0.66, accurate to float64 precision.
_ATAN_P = (-8.750608600031904122785e-1, -1.615753718733365076637e1, -7.500855792314704667340e1,
           -1.228866684490136173410e2, -6.485021904942025371773e1)
_ATAN_Q = (2.485846490142306297962e1, 1.650270098316988542046e2, 4.328810604912902668951e2,
           4.853903996359136964868e2, 1.945506571482613964425e2)
_ATAN_MOREBITS = 6.123233995736765886130e-17  # π/2 − fl(π/2) in float64


def _atan_unit(r: Any) -> Any:
    """atan(r) for 0 ≤ r ≤ 1 (value only: callers hold it constant in the gradient)."""
    dtype = _dtype(r)
    big = r > 0.66
    x = ops.where(big, (r - 1) / (r + 1), r)  # atan(r) = π/4 + atan((r − 1)/(r + 1)); |x| ≤ 0.66
    z = x * x
    p = _const(_ATAN_P[0], dtype)
    for c in _ATAN_P[1:]:
        p = p * z + _const(c, dtype)
    q = z + _const(_ATAN_Q[0], dtype)
    for c in _ATAN_Q[1:]:
        q = q * z + _const(c, dtype)
    small = x + x * (z * p / q)
    return ops.where(big, _const(np.pi / 4, dtype) + (small + _const(0.5 * _ATAN_MOREBITS, dtype)), small)


def _atan2(y: Any, x: Any) -> Any:
    """atan2(y, x) to a few ulps in every dtype (y = −0 counts as +0), with the gradient (x, −y)/(x² + y²).

    ``ops.arctan2`` is avoided: on the JAX and PyTorch backends Keras 3.15 evaluates it in float32
    also for float64 input.  The octant is reduced to atan(r), 0 ≤ r ≤ 1, evaluated with Cephes'
    rational approximation; the gradient is formed from (x, y) scaled by max(|x|, |y|), so that
    x² + y² cannot underflow.  (0, 0) gives 0 with gradient 0.
    """
    dtype = _dtype(x)
    ay, ax = ops.abs(y), ops.abs(x)
    steep = ay > ax
    num = ops.where(steep, ax, ay)
    big = ops.where(steep, ay, ax)
    zero = ops.equal(big, 0)
    big = ops.where(zero, ops.ones_like(big), big)
    t = _atan_unit(num / big)
    t = ops.where(steep, _const(np.pi / 2, dtype) - t, t)
    t = ops.where(x < 0, _const(np.pi, dtype) - t, t)
    t = ops.where(y < 0, -t, t)
    m = _sg(big)
    xn, yn = _sg(x / m), _sg(y / m)
    norm = ops.where(zero, ops.ones_like(m), m * (xn * xn + yn * yn))
    return _grad_from(t, (xn * y - yn * x) / _sg(norm))


def _axis(x: Any, axis: int, name: str = "axis") -> int:
    rank = _rank_of(x)
    if rank is None:
        raise ValueError("logits: the rank must be known statically")
    if not -rank <= int(axis) < rank:
        raise ValueError(f"{name}: {axis} is out of range for rank {rank}")
    return int(axis) % rank


# --------------------------------------------------------------------------- nn (docs/contracts.md)


def sigmoid(x: Any) -> Any:
    """σ(x) = 1 / (1 + e^{−x}), as 1/(1 + e^{−|x|}) or e^{−|x|}/(1 + e^{−|x|}) by sign.

    Differentiated through this form, the gradient is e^{−|x|}/(1 + e^{−|x|})² up to a few
    roundings, accurate also for large |x| (σ(x)·(1 − σ(x)) loses it as σ(x) rounds to 1).
    """
    x = _float(x)
    cond = x >= 0
    e = ops.exp(ops.where(cond, -x, x))
    return ops.where(cond, 1 / (1 + e), e / (1 + e))


def softmax(logits: Any, axis: int = -1) -> Any:
    """e^{x_i} / Σ_j e^{x_j} along ``axis``, max-shifted (the shift is a constant in the gradient)."""
    x = _float(logits)
    ax = _axis(x, axis)
    e = ops.exp(x - _sg(ops.max(x, axis=ax, keepdims=True)))
    return e / ops.sum(e, axis=ax, keepdims=True)


def _softplus_pair(x: Any) -> tuple[Any, Any]:
    """(softplus(x), softplus(−x)) = (max(x, 0), max(−x, 0)) + log1p(e^{−|x|}), never overflowing.

    The branches are selected with ``where`` on ``x >= 0``, so the gradients are the exact
    σ(x) and −σ(−x) also at x = 0.
    """
    cond = x >= 0
    zero = ops.zeros_like(x)
    tail = ops.log1p(ops.exp(ops.where(cond, -x, x)))
    return ops.where(cond, x, zero) + tail, ops.where(cond, zero, -x) + tail


def sigmoid_cross_entropy_with_logits(labels: Any = None, logits: Any = None) -> Any:
    """Elementwise max(x, 0) − x·z + log(1 + e^{−|x|}) = −z log σ(x) − (1−z) log(1−σ(x)).

    Evaluated as x·(1 − z) (x ≥ 0) or −x·z (x < 0) plus log1p(e^{−|x|}): for labels in
    [0, 1] both terms are non-negative, so nothing cancels (max(x, 0) − x·z does for z ≈ 1).
    """
    x = _float(logits)
    z = _cast(labels, _dtype(x))
    cond = x >= 0
    linear = ops.where(cond, x * (1 - z), -x * z)
    return linear + ops.log1p(ops.exp(ops.where(cond, -x, x)))


def weighted_cross_entropy_with_logits(labels: Any = None, logits: Any = None, pos_weight: Any = 1.0) -> Any:
    """Elementwise q·z·(−log σ(x)) + (1−z)·(−log(1−σ(x))) = q·z·softplus(−x) + (1−z)·softplus(x).

    Equal to the spec's (1−z)·x + (1+(q−1)z)·(log(1+e^{−|x|}) + max(−x, 0)), which cancels
    for x ≪ 0; this form does not.  The label weight q·z is formed first, behind a ``where``
    (0 where z = 0): a graph optimiser cannot reassociate the product into z·(q·softplus(−x)),
    and q·softplus(−x) overflows float16 (x = −1e4, q = 10) where q·z·softplus(−x) does not.
    """
    x = _float(logits)
    z = _cast(labels, _dtype(x))
    q = _const(pos_weight, _dtype(x))
    sp_pos, sp_neg = _softplus_pair(x)
    weight = ops.where(ops.equal(z, 0), ops.zeros_like(z), q * z)
    return weight * sp_neg + (1 - z) * sp_pos


def _softmax_xent(y: Any, x: Any, ax: int) -> Any:
    """−Σ y·log softmax(x) along ``ax`` (y, x of one shape), with an accurate value and gradient.

    With a the (first) argmax and e_j = x_j − x_a for j ≠ a (0 at a), s = Σ_{j≠a} e^{e_j}:
    log softmax_j = e_j − log1p(s), log softmax_a = −log1p(s), accurate also where the softmax
    is confident; the loss is Σy·log1p(s) − Σ_{j≠a} y_j·e_j, two non-negative terms for y ≥ 0.
    x_a enters only through the differences e_j (gathered at the argmax, so its whole gradient
    goes to that one element, also for ties), and autodiff gives ∂/∂x_a = Σ_{j≠a} (y_j − Σy·p_j):
    for a confident one-hot row −Σ_{j≠a} p_j, to a few ulps (softmax_a − 1 would cancel).
    """
    c = x.shape[ax]
    if c is None:
        raise ValueError("logits: the size of the class axis must be known statically")
    rank = _rank_of(x)
    idx = ops.argmax(x, axis=ax, keepdims=True)
    x_a = ops.take_along_axis(x, idx, axis=ax)
    classes = ops.reshape(ops.arange(c, dtype=_dtype(idx)), [c if i == ax else 1 for i in range(rank)])
    is_max = ops.equal(classes, idx)
    zero = ops.zeros_like(x)
    e = ops.where(is_max, zero, x - x_a)
    rest = ops.sum(ops.where(is_max, zero, ops.exp(e)), axis=ax)
    total = ops.sum(y, axis=ax)
    # 0 · log softmax = 0 even where e overflows to -inf (extreme logits in float16)
    e_safe = ops.where(ops.equal(y, 0) & ops.isinf(e), zero, e)
    return total * ops.log1p(rest) - ops.sum(y * e_safe, axis=ax)


def softmax_cross_entropy_with_logits(labels: Any = None, logits: Any = None, axis: int = -1) -> Any:
    """−Σ_i y_i · log softmax(x)_i over ``axis``."""
    x = _float(logits)
    y = ops.broadcast_to(_cast(labels, _dtype(x)), ops.shape(x))
    return _softmax_xent(y, x, _axis(x, axis))


def sparse_softmax_cross_entropy_with_logits(labels: Any = None, logits: Any = None) -> Any:
    """logsumexp(x) − x_k over the last axis, ``k`` an integer class index in [0, C).

    Labels outside [0, C) give NaN: never a silent finite value.
    """
    x = _float(logits)
    k = _tensor(labels)
    if _dtype(k) in _FLOATS:
        raise ValueError(f"labels: expected integer class indices, got dtype {_dtype(k)}")
    k = ops.cast(k, "int32")
    rx, rk = _rank_of(x), _rank_of(k)
    if rx is not None and rk is not None and rk != rx - 1:
        raise ValueError(f"labels: expected rank {rx - 1} (logits' rank - 1), got rank {rk}")
    ax = _axis(x, -1)
    classes = x.shape[ax]
    if classes is None:
        raise ValueError("logits: the number of classes must be known statically")
    valid = (k >= 0) & (k < classes)
    safe_k = ops.where(valid, k, ops.zeros_like(k))
    y = ops.one_hot(safe_k, classes, axis=-1, dtype=_dtype(x))
    value = _softmax_xent(y, x, ax)
    return ops.where(valid, value, ops.full_like(value, np.nan))


def binary_crossentropy(target: Any, output: Any) -> Any:
    """−(t·log P + (1−t)·log(1−P)), P = clip(p, ε_k, 1−ε_k) (convention "keras-ops")."""
    p = _float(output)
    t = _cast(target, _dtype(p))
    pc = _clip_prob(p, EPSILON_KERAS)
    # log(1 − P) as log1p(−P) (accurate for small P).  As the formula does, t = 1 with P = 1
    # (possible only in float16/bfloat16, where 1 − ε_k rounds to 1: FP16-CLIP)
    # gives 0·log 0 = NaN.  t·log P is differentiated as t / P: no 0·inf = NaN where t = 0
    # and 1/P overflows (float16, P < 2^-16).
    return -(_xlogy(t, pc) + (1 - t) * ops.log1p(-pc))


def categorical_crossentropy(target: Any, output: Any, axis: int = -1) -> Any:
    """−Σ_i t_i · log clip(p_i / Σ_j p_j, ε_k, 1−ε_k) over ``axis`` (convention keras-ops)."""
    p = _float(output)
    t = _cast(target, _dtype(p))
    q = p / ops.sum(p, axis=axis, keepdims=True)
    qc = _clip_prob(q, EPSILON_KERAS)
    return -ops.sum(_xlogy(t, qc), axis=axis)


def entropy(p: Any, axis: int = -1) -> Any:
    """−Σ p·log p over ``axis`` with 0·log 0 = 0."""
    p = _float(p)
    return -ops.sum(_xlogy(p, p), axis=axis)


def _log_ratio(p: Any, q: Any) -> Any:
    """log(p / q) for p > 0, accurate to a few ulps in every regime, differentiated as (g/p, −g/q).

    Near p = q: log1p((p − q)/q) (p − q is exact there); elsewhere log(p/q), unless the
    ratio over- or underflows, then log p − log q (which is then large, so accurate).
    Each branch sees safe inputs (1) where it is not taken.  The gradient is that of
    log p − log q written as divisions: differentiating log(p/q) forms p/q², which
    overflows float16 for q below ~1e-2 even where the gradient itself is small.
    """
    dtype = _dtype(p)
    one = ops.ones_like(p)
    r = p / q
    near = (r >= 0.5) & (r <= 2)
    normal = ~near & (r >= _const(_TINY[dtype], dtype)) & (r <= _const(_MAX[dtype], dtype))
    far = ~near & ~normal
    q_near = ops.where(near, q, one)
    near_val = ops.log1p((ops.where(near, p, one) - q_near) / q_near)
    mid_val = ops.log(ops.where(normal, p, one) / ops.where(normal, q, one))
    far_val = ops.log(ops.where(far, p, one)) - ops.log(ops.where(far, q, one))
    value = ops.where(near, near_val, ops.where(normal, mid_val, far_val))
    return _sg(value) + _dlog(p) - _dlog(q)


def kl_divergence(p: Any, q: Any, axis: int = -1) -> Any:
    """Σ p·log(p/q) over ``axis`` with 0·log(0/q) = 0."""
    p = _float(p)
    q = _cast(q, _dtype(p))
    zeros = ops.zeros_like(p) + ops.zeros_like(q)  # the broadcast shape
    p = p + zeros
    q = q + zeros
    has = ops.not_equal(p, 0)
    one = ops.ones_like(p)
    p_safe = ops.where(has, p, one)
    q_safe = ops.where(has, q, one)
    term = ops.where(has, p_safe * _log_ratio(p_safe, q_safe), ops.zeros_like(p))
    return ops.sum(term, axis=axis)


def smooth_l1(x: Any) -> Any:
    """0.5·x² if |x| ≤ 1 else |x| − 0.5, elementwise."""
    x = _float(x)
    a = ops.abs(x)
    return ops.where(a <= 1, 0.5 * x * x, a - 0.5)


# --------------------------------------------------------------------------- Faster R-CNN (docs/contracts.md)


def _eps_normaliser(m: Any) -> Any:
    """Σ(ε + m) = Σm + ε·numel(m) (FRCNN-EPS-PER-ELEMENT).

    Σm is exact for a 0/1 mask in any summation order, and ε·numel is formed in float32
    (float64 for float64 input) and rounded once, so the normaliser is correctly rounded
    also where a compiler sums sequentially (adding ε into a large running sum element by
    element rounds the same way every time and drifts by tens of ulps).
    """
    dtype = _dtype(m)
    wide = "float64" if dtype == "float64" else "float32"
    eps_n = ops.cast(ops.cast(ops.size(m), wide) * _const(EPSILON, wide), dtype)
    return ops.sum(m) + eps_n


def _masked_smooth_l1_loss(y_true: Any, y_pred: Any, n: int, lam: float) -> Any:
    """λ · Σ m·smooth_l1(t − y_pred) / Σ(ε + m), m = y_true[..., :n], t = y_true[..., n:]."""
    m = y_true[..., :n]
    t = y_true[..., n:]
    num = ops.sum(m * smooth_l1(t - y_pred))
    return _const(lam, _dtype(y_pred)) * num / _eps_normaliser(m)


def rpn_loss_regr(num_anchors: int) -> Callable[[Any, Any], Any]:
    """RPN box regression: λ · Σ m·smooth_l1(t − y_pred) / Σ(ε + m) over (B, H, W, 8A) / (B, H, W, 4A)."""
    a = int(num_anchors)

    def rpn_loss_regr_fixed_num(y_true: Any, y_pred: Any) -> Any:
        y_pred = _float(y_pred)
        y_true = _cast(y_true, _dtype(y_pred))
        _rank(y_true, "y_true", 4)
        _rank(y_pred, "y_pred", 4)
        _last_dim(y_true, "y_true", 8 * a, "8*A")
        _last_dim(y_pred, "y_pred", 4 * a, "4*A")
        return _masked_smooth_l1_loss(y_true, y_pred, 4 * a, LAMBDA_RPN_REGR)

    return rpn_loss_regr_fixed_num


def rpn_loss_cls(num_anchors: int) -> Callable[[Any, Any], Any]:
    """RPN objectness: λ · Σ v·BCE(z, y_pred) / Σ(ε + v), v = y_true[..., :A], z = y_true[..., A:]."""
    a = int(num_anchors)

    def rpn_loss_cls_fixed_num(y_true: Any, y_pred: Any) -> Any:
        y_pred = _float(y_pred)
        y_true = _cast(y_true, _dtype(y_pred))
        _rank(y_true, "y_true", 4)
        _rank(y_pred, "y_pred", 4)
        _last_dim(y_true, "y_true", 2 * a, "2*A")
        _last_dim(y_pred, "y_pred", a, "A")
        v = y_true[..., :a]
        z = y_true[..., a:]
        num = ops.sum(v * binary_crossentropy(z, y_pred))
        return _const(LAMBDA_RPN_CLASS, _dtype(y_pred)) * num / _eps_normaliser(v)

    return rpn_loss_cls_fixed_num


def class_loss_regr(num_classes: int) -> Callable[[Any, Any], Any]:
    """Detector box regression: λ · Σ m·smooth_l1(t − y_pred) / Σ(ε + m) over (B, R, 8C) / (B, R, 4C)."""
    c = int(num_classes)

    def class_loss_regr_fixed_num(y_true: Any, y_pred: Any) -> Any:
        y_pred = _float(y_pred)
        y_true = _cast(y_true, _dtype(y_pred))
        _rank(y_true, "y_true", 3)
        _rank(y_pred, "y_pred", 3)
        _last_dim(y_true, "y_true", 8 * c, "8*C")
        _last_dim(y_pred, "y_pred", 4 * c, "4*C")
        return _masked_smooth_l1_loss(y_true, y_pred, 4 * c, LAMBDA_CLS_REGR)

    return class_loss_regr_fixed_num


def class_loss_cls(y_true: Any, y_pred: Any) -> Any:
    """λ · mean over r of CCE(y_true[0, r, :], y_pred[0, r, :]) (batch element 0 only, as the documents)."""
    y_pred = _float(y_pred)
    y_true = _cast(y_true, _dtype(y_pred))
    _rank(y_true, "y_true", 3)
    _rank(y_pred, "y_pred", 3)
    cce = categorical_crossentropy(y_true[0], y_pred[0], axis=-1)
    return _const(LAMBDA_CLS_CLASS, _dtype(y_pred)) * _mean(cce)


# --------------------------------------------------------------------------- YOLOv3 (docs/contracts.md)


def _anchors(anchors: Any, dtype: str) -> tuple[Any, int]:
    """Anchors as an (A, 2) tensor in ``dtype`` and the static A."""
    t = _const(anchors, dtype)
    _rank(t, "anchors", 2)
    if t.shape[0] is None:
        raise ValueError("anchors: the number of anchors must be known statically")
    _last_dim(t, "anchors", 2, "2")
    return t, int(t.shape[0])


def decode(conv_output: Any, anchors: Any, stride: Any, num_class: int) -> Any:
    """(B, S, S, A·(5+N)) raw output → (B, S, S, A, 5+N) boxes (x, y, w, h) in pixels, conf, class probs."""
    conv = _float(conv_output)
    dtype = _dtype(conv)
    n = int(num_class)
    anc, a = _anchors(anchors, dtype)
    _rank(conv, "conv_output", 4)
    _last_dim(conv, "conv_output", a * (5 + n), "A*(5+num_class)")
    stride_c = _const(stride, dtype)
    _, rows, cols, _ = ops.shape(conv)
    raw = ops.reshape(conv, (-1, rows, cols, a, 5 + n))
    grid_x = ops.reshape(ops.cast(ops.arange(cols), dtype), (1, cols, 1))  # column index
    grid_y = ops.reshape(ops.cast(ops.arange(rows), dtype), (rows, 1, 1))  # row index
    grid_x = ops.broadcast_to(grid_x, (rows, cols, 1))
    grid_y = ops.broadcast_to(grid_y, (rows, cols, 1))
    grid = ops.expand_dims(ops.concatenate([grid_x, grid_y], axis=-1), 2)  # (S, S, 1, 2)
    xy = (sigmoid(raw[..., 0:2]) + grid) * stride_c
    wh = ops.exp(raw[..., 2:4]) * anc * stride_c
    conf = sigmoid(raw[..., 4:5])
    prob = sigmoid(raw[..., 5:])
    return ops.concatenate([xy, wh, conf, prob], axis=-1)


def _box_pair(boxes1: Any, boxes2: Any) -> tuple[Any, Any]:
    b1 = _float(boxes1)
    b2 = _cast(boxes2, _dtype(b1))
    _last_dim(b1, "boxes1", 4, "4")
    _last_dim(b2, "boxes2", 4, "4")
    return b1, b2


def _overlap(c1: Any, w1: Any, c2: Any, w2: Any) -> Any:
    """max(min(right1, right2) − max(left1, left2), 0) along one axis, left/right = c ∓ w/2.

    Evaluated as max(min(w1, w2, s − d, s + d), 0) with d = c1 − c2 and s = (w1 + w2)/2,
    the same value (min(a, b) − max(c, e) = min(a − c, a − e, b − c, b − e)) without
    forming the corners, whose rounding at large coordinates would swamp small extents.
    """
    d = c1 - c2
    s = (w1 + w2) * 0.5
    return _max(_min(_min(w1, w2), _min(s - d, s + d)), ops.zeros_like(d))


def _span(c1: Any, a1: Any, c2: Any, a2: Any) -> Any:
    """max(right1, right2) − min(left1, left2) along one axis: max(a1, a2, (a1 + a2)/2 + |c1 − c2|).

    That is the enclosing extent for sorted extents a ≥ 0, from centre differences.
    """
    return _max(_max(a1, a2), (a1 + a2) * 0.5 + ops.abs(c1 - c2))


def _iou_parts(boxes1: Any, boxes2: Any) -> tuple[Any, Any, Any, Any]:
    """(inter, union, area1, area2) of bbox_iou: areas from the raw w·h."""
    b1, b2 = _box_pair(boxes1, boxes2)
    area1 = b1[..., 2] * b1[..., 3]
    area2 = b2[..., 2] * b2[..., 3]
    inter = (_overlap(b1[..., 0], b1[..., 2], b2[..., 0], b2[..., 2])
             * _overlap(b1[..., 1], b1[..., 3], b2[..., 1], b2[..., 3]))
    return inter, area1 + area2 - inter, area1, area2


def _giou_parts(boxes1: Any, boxes2: Any) -> tuple[Any, Any, Any, Any, Any]:
    """(inter, union, enclose, area1, area2) of bbox_giou: corners re-sorted, i.e. extents |w|, |h|."""
    b1, b2 = _box_pair(boxes1, boxes2)
    w1, h1, w2, h2 = ops.abs(b1[..., 2]), ops.abs(b1[..., 3]), ops.abs(b2[..., 2]), ops.abs(b2[..., 3])
    area1 = w1 * h1
    area2 = w2 * h2
    inter = _overlap(b1[..., 0], w1, b2[..., 0], w2) * _overlap(b1[..., 1], h1, b2[..., 1], h2)
    enclose = _span(b1[..., 0], w1, b2[..., 0], w2) * _span(b1[..., 1], h1, b2[..., 1], h2)
    return inter, area1 + area2 - inter, enclose, area1, area2


def bbox_iou(boxes1: Any, boxes2: Any) -> Any:
    """IoU of (x, y, w, h) boxes, broadcasting over leading axes; areas from the raw w·h (docs/contracts.md)."""
    inter, union, _, _ = _iou_parts(boxes1, boxes2)
    return _ratio(inter, union)


def bbox_giou(boxes1: Any, boxes2: Any) -> Any:
    """Generalised IoU of (x, y, w, h) boxes; corners re-sorted per axis, areas from the sorted corners.

    IoU − (E − union)/E with E the enclosing box's area; NaN only where a 0/0 occurs.  The
    gradient is taken through IoU + union/E (the same up to a constant), which does not cancel
    for distant boxes.
    """
    inter, union, enclose, _, _ = _giou_parts(boxes1, boxes2)
    iou = _ratio(inter, union)
    return _grad_from(iou - (enclose - union) / enclose, iou + _ratio(union, enclose))


def iou_loss(boxes1: Any, boxes2: Any) -> Any:
    """1 − IoU, as ((area1 − inter) + (area2 − inter)) / union: relatively accurate when IoU ≈ 1."""
    inter, union, area1, area2 = _iou_parts(boxes1, boxes2)
    return _grad_from(((area1 - inter) + (area2 - inter)) / union, -_ratio(inter, union))


def giou_loss(boxes1: Any, boxes2: Any) -> Any:
    """1 − GIoU, as (union − inter)/union + (E − union)/E: relatively accurate when GIoU ≈ 1."""
    inter, union, enclose, area1, area2 = _giou_parts(boxes1, boxes2)
    value = ((area1 - inter) + (area2 - inter)) / union + (enclose - union) / enclose
    return _grad_from(value, -(_ratio(inter, union) + _ratio(union, enclose)))


_FOUR_OVER_PI2 = 0.4052847345693511  # 4 / π², correctly rounded in float64


def _distance_ratio(b1: Any, b2: Any) -> Any:
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
    m = _sg(_max(ops.abs(cx), ops.abs(cy)))
    dx, dy, cx, cy = dx / m, dy / m, cx / m, cy / m
    return (dx * dx + dy * dy) / (cx * cx + cy * cy)


def _aspect_angle(w: Any, h: Any) -> Any:
    """atan2(w, h), with (w, h) first divided by max(|w|, |h|) (constant in the gradient; the angle does not
    depend on the scale) so that the gradient's w² + h² cannot overflow float16.  A zero-size box has angle 0
    (atan2(0, 0)) and no gradient through it (the angle is discontinuous there)."""
    m = _sg(_max(ops.abs(w), ops.abs(h)))
    zero = ops.equal(m, 0)
    safe = ops.where(zero, ops.ones_like(m), m)
    return _atan2(ops.where(zero, ops.zeros_like(w), w / safe), ops.where(zero, ops.ones_like(h), h / safe))


def diou_loss(boxes1: Any, boxes2: Any) -> Any:
    """1 − IoU + ρ²/c² (IoU as ``bbox_iou``; c the diagonal of the smallest box enclosing both; w, h ≥ 0)."""
    b1, b2 = _box_pair(boxes1, boxes2)
    return iou_loss(b1, b2) + _distance_ratio(b1, b2)


def ciou_loss(boxes1: Any, boxes2: Any) -> Any:
    """1 − IoU + ρ²/c² + α·v, v = (4/π²)(atan2(w2, h2) − atan2(w1, h1))², α = v/((1 − IoU) + v) (0 where v = 0).

    α is held constant in the gradient (stop-gradient, as in the paper's code); boxes2 is the ground truth.
    """
    b1, b2 = _box_pair(boxes1, boxes2)
    one_minus_iou = iou_loss(b1, b2)
    gap = _aspect_angle(b2[..., 2], b2[..., 3]) - _aspect_angle(b1[..., 2], b1[..., 3])
    v = _const(_FOUR_OVER_PI2, _dtype(b1)) * (gap * gap)
    positive = v > 0
    safe = ops.where(positive, one_minus_iou + v, ops.ones_like(v))
    alpha = _sg(ops.where(positive, v / safe, ops.zeros_like(v)))
    return one_minus_iou + _distance_ratio(b1, b2) + alpha * v


def focal(target: Any, actual: Any, alpha: Any = 1, gamma: Any = 2) -> Any:
    """α·|target − actual|^γ (the YOLOv3 confidence weight; the gradient flows through it)."""
    x = _float(actual)
    dtype = _dtype(x)
    t = _cast(target, dtype)
    return _const(alpha, dtype) * ops.power(ops.abs(t - x), _const(gamma, dtype))


def loss_layer(
    conv: Any,
    pred: Any,
    label: Any,
    bboxes: Any,
    anchors: Any,
    stride: Any,
    num_class: int,
    iou_loss_thresh: Any = 0.5,
) -> tuple[Any, Any, Any]:
    """(giou_loss, conf_loss, prob_loss) of one YOLOv3 scale, each the batch mean of a per-image sum."""
    conv = _float(conv)
    dtype = _dtype(conv)
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

    _, rows, cols, _ = ops.shape(conv)
    raw = ops.reshape(conv, (-1, rows, cols, a, 5 + n))
    raw_conf = raw[..., 4:5]
    raw_prob = raw[..., 5:]
    pred_xywh = pred[..., 0:4]
    pred_conf = pred[..., 4:5]
    label_xywh = label[..., 0:4]
    respond = label[..., 4:5]
    label_prob = label[..., 5:]

    input_size = _const(stride, dtype) * ops.cast(rows, dtype)
    # 2 − w·h / input_size², evaluated as (w / s)·(h / s) so that float16 does not overflow
    scale = 2 - (label_xywh[..., 2:3] / input_size) * (label_xywh[..., 3:4] / input_size)
    giou_term = respond * scale * ops.expand_dims(giou_loss(pred_xywh, label_xywh), -1)

    iou = bbox_iou(ops.expand_dims(pred_xywh, 4), bboxes[:, None, None, None, :, :])
    max_iou = ops.max(iou, axis=-1, keepdims=True)
    below = _sg(ops.cast(max_iou < _const(iou_loss_thresh, dtype), dtype))
    background = (1 - respond) * below

    sce_conf = sigmoid_cross_entropy_with_logits(labels=respond, logits=raw_conf)
    conf_term = focal(respond, pred_conf) * (respond * sce_conf + background * sce_conf)
    prob_term = respond * sigmoid_cross_entropy_with_logits(labels=label_prob, logits=raw_prob)

    def reduce(term: Any) -> Any:
        return _mean(ops.sum(term, axis=(1, 2, 3, 4)))

    return reduce(giou_term), reduce(conf_term), reduce(prob_term)


def compute_loss(
    convs: Sequence[Any],
    labels: Sequence[Any],
    bboxes: Sequence[Any],
    anchors: Any,
    strides: Any,
    num_class: int,
    iou_loss_thresh: Any = 0.5,
) -> tuple[Any, Any, Any]:
    """Sum over the three scales of loss_layer(conv, decode(conv), ...): (giou_loss, conf_loss, prob_loss)."""
    convs, labels, bboxes = list(convs), list(labels), list(bboxes)
    for name, seq in (("convs", convs), ("labels", labels), ("bboxes", bboxes)):
        if len(seq) != 3:
            raise ValueError(f"{name}: expected a sequence of 3 scales, got {len(seq)}")
    anchors = anchors if _is_tensor(anchors) else np.asarray(anchors, dtype=np.float64)
    strides = strides if _is_tensor(strides) else np.asarray(strides, dtype=np.float64)
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


def focal_loss(hm_pred: Any, hm_true: Any) -> Any:
    """CenterNet heatmap focal loss: (pos_loss + neg_loss) / num_pos, or neg_loss when num_pos = 0."""
    p = _float(hm_pred)
    dtype = _dtype(p)
    y = _cast(hm_true, dtype)
    _rank(p, "hm_pred", 4)
    _rank(y, "hm_true", 4)
    eps = _const(EPSILON_CENTERNET, dtype)
    one = ops.ones_like(p)
    pos = ops.cast(ops.equal(y, 1), dtype)
    neg = ops.cast(y < 1, dtype)
    alpha = _const(CENTERNET_ALPHA, dtype)
    beta = _const(CENTERNET_BETA, dtype)

    # Each log is taken only where its mask is set (1 elsewhere), so that a masked-out
    # element cannot put 0·inf = NaN into the gradient; the logs are differentiated as
    # divisions (g / p: 1/p overflows float16 for p < 2^-16).
    is_pos = pos > 0
    is_neg = neg > 0
    pos_log = -_log(ops.where(is_pos, _clip(p, eps, one), one))
    # −log(clip(1 − p, ε_c, 1)): inside the clip −log1p(−p) (exact for small p), outside −log of the bound
    q = 1 - p
    inside = is_neg & (q >= eps) & (q <= 1)
    neg_log = ops.where(
        inside,
        -ops.log1p(-ops.where(inside, p, ops.zeros_like(p))),
        -_log(ops.where(is_neg, _clip(q, eps, one), one)),
    )

    pos_loss = ops.sum(pos_log * ops.power(1 - p, alpha) * pos)
    neg_loss = ops.sum(neg_log * ops.power(p, alpha) * ops.power(1 - y, beta) * neg)
    num_pos = ops.sum(pos)
    has_pos = num_pos > 0
    safe_num = ops.where(has_pos, num_pos, ops.ones_like(num_pos))
    return ops.where(has_pos, (pos_loss + neg_loss) / safe_num, neg_loss)


def reg_l1_loss(y_pred: Any, y_true: Any, indices: Any, mask: Any) -> Any:
    """Σ |y_true·M − g·M| / (Σ M + ε), g = y_pred gathered at the flattened H·W ``indices``.

    Out-of-range indices give NaN: never a silent finite value.
    """
    y_pred = _float(y_pred)
    dtype = _dtype(y_pred)
    y_true = _cast(y_true, dtype)
    mask = _cast(mask, dtype)
    idx = _tensor(indices)
    if _dtype(idx) in _FLOATS:
        raise ValueError(f"indices: expected integers, got dtype {_dtype(idx)}")
    idx = ops.cast(idx, "int32")
    _rank(y_pred, "y_pred", 4)
    _last_dim(y_pred, "y_pred", 2, "2")
    _rank(y_true, "y_true", 3)
    _last_dim(y_true, "y_true", 2, "2")
    _rank(idx, "indices", 2)
    _rank(mask, "mask", 2)

    _, rows, cols, _ = ops.shape(y_pred)
    cells = rows * cols
    valid = (idx >= 0) & (idx < cells)
    in_range = ops.all(valid)
    safe_idx = ops.expand_dims(ops.where(valid, idx, ops.zeros_like(idx)), -1)
    flat = ops.reshape(y_pred, (-1, cells, 2))
    g = ops.take_along_axis(flat, ops.concatenate([safe_idx, safe_idx], axis=-1), axis=1)
    m = ops.expand_dims(mask, -1)
    m = ops.concatenate([m, m], axis=-1)
    total = ops.sum(ops.abs(y_true * m - g * m))
    value = total / (ops.sum(m) + _const(EPSILON, dtype))
    return ops.where(in_range, value, ops.full_like(value, np.nan))


def loss(args: Sequence[Any]) -> Any:
    """CenterNet total: focal_loss + 0.1·reg_l1_loss(wh) + reg_l1_loss(reg)."""
    if len(args) != 8:
        raise ValueError(f"args: expected 8 tensors, got {len(args)}")
    hm_pred, wh_pred, reg_pred, hm_true, wh_true, reg_true, reg_mask, indices = args
    hm = focal_loss(hm_pred, hm_true)
    wh = reg_l1_loss(wh_pred, wh_true, indices, reg_mask)
    reg = reg_l1_loss(reg_pred, reg_true, indices, reg_mask)
    return hm + _const(CENTERNET_WH_WEIGHT, _dtype(wh)) * wh + reg
