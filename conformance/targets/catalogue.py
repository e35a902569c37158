"""The reference formulas of every contract name, written once over an array layer.

:class:`Catalogue` holds a correct, numerically stable implementation of the whole catalogue
(the Faster R-CNN, YOLOv3 with DIoU and CIoU, CenterNet and RetinaNet losses and the TF/Keras
cross-entropies), following the implementation contract: the formulas exactly as specified
(ε per element in the Faster R-CNN normalisers, batch element 0 only in ``class_loss_cls``,
raw-(w, h) areas in ``bbox_iou``, no gradient through the YOLOv3 background mask, ...),
evaluated stably in the dtype of the input tensors (float16, bfloat16, float32 or float64):
every constant is created in the input's dtype, nothing is hard-coded to float32.

It is written against ``self.ops``, a :class:`conformance.targets.layer.ArrayLayer`: the framework
modules (``reference`` for TensorFlow, ``reference_jax``, ``reference_torch``, ``reference_keras``)
each supply one and export the catalogue's functions.  There is no Python control flow on tensor
values, so everything traces under ``tf.function``, XLA and ``jax.jit``.

Accuracy beyond the textbook forms (same values, fewer roundings): log-softmax via log1p of the
non-maximal terms, σ and the sigmoid cross-entropies without cancellation and with the exact
derivative at logits = 0 (branches selected by ``where``, no relu/abs kinks), box overlaps from
centre differences instead of rounded corners, 1 − IoU and 1 − GIoU without cancellation near a
perfect match, Σ(ε + m) as Σm + ε·numel(m).  Binary and categorical cross-entropy follow
convention keras-ops: P is clipped to [ε_k, 1 − ε_k] with ε_k rounded to the input dtype
and 1 − ε_k computed in it (as Keras does), then log P and log(1 − P).

No custom gradients: every accurate gradient comes from plain autodiff of a stop-gradient form.
``sg(v) + (s − sg(s))`` has the value ``v`` exactly and the gradient of ``s``, and ``x / sg(x) − 1``
is exactly 0 with gradient ``g / x`` (a division: ``g · (1/x)`` overflows float16 where ``g / x``
does not).  Minimum, maximum and clip are written with ``where`` so that ties send the gradient to
the first argument on every framework (as TensorFlow does; JAX and PyTorch split it).
Out-of-range class labels and gather indices give NaN (and raise where the layer can assert).

Every function is a method, so a variant is "the reference with one function replaced":
:meth:`Catalogue.replaced` (the test mutants use it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from conformance.targets.layer import FLOATS, ArrayLayer

# Constants of the catalogue (created in the input's dtype where used).
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
FOUR_OVER_PI2 = 0.4052847345693511  # 4 / π², correctly rounded in float64

# Smallest positive normal and largest finite number of each floating dtype.
TINY = {"float16": 2.0**-14, "bfloat16": 2.0**-126, "float32": 2.0**-126, "float64": 2.0**-1022}
HUGE = {"float16": 65504.0, "bfloat16": (2 - 2.0**-7) * 2.0**127, "float32": (2 - 2.0**-23) * 2.0**127,
        "float64": float(np.finfo(np.float64).max)}


def formula(fn: Callable) -> Callable:
    """Mark a :class:`Catalogue` method as a contract function (exported under its name)."""
    fn.is_formula = True
    return fn


class Catalogue:
    """Every contract name as a method, over the array layer ``ops``."""

    def __init__(self, ops: ArrayLayer) -> None:
        self.ops = ops

    def functions(self) -> dict[str, Callable]:
        """The contract functions by name (what a reference module exports)."""
        return {name: getattr(self, name) for name in NAMES}

    def replaced(self, **methods: Callable) -> dict[str, Callable]:
        """The contract functions of this catalogue with some methods replaced (``name=function(self, ...)``).

        Every formula calls its parts through ``self``, so replacing a part (``yolo_reduce``, ``focal``, ...)
        changes every name built from it; unknown names raise ``AttributeError``.
        """
        for name in methods:
            if not callable(getattr(self, name, None)):
                raise AttributeError(f"{type(self).__name__} has no method {name!r} to replace")
        variant = type(f"{type(self).__name__}Variant", (type(self),), dict(methods))
        return variant(self.ops).functions()

    # --------------------------------------------------------------------------- helpers

    def check_last_dim(self, x: Any, name: str, expected: int, what: str) -> None:
        """Raise ``ValueError`` when the static last dimension of ``x`` is known and wrong."""
        o = self.ops
        dim = x.shape[-1] if o.rank(x) else None
        if dim is not None and dim != expected:
            raise ValueError(f"{name}: expected last axis of size {what} = {expected}, got {dim}")

    def check_rank(self, x: Any, name: str, rank: int) -> None:
        o = self.ops
        r = o.rank(x)
        if r is not None and r != rank:
            raise ValueError(f"{name}: expected rank {rank}, got rank {r} (shape {tuple(x.shape)})")

    def check_same_shape(self, a: Any, b: Any, name: str, other: str) -> None:
        """Raise ``ValueError`` when the static shapes of ``a`` and ``b`` are both known and differ."""
        sa, sb = self.ops.shape(a), self.ops.shape(b)
        if all(isinstance(d, int) for d in (*sa, *sb)) and tuple(sa) != tuple(sb):
            raise ValueError(f"{name}: shape {tuple(sa)} does not match {other}'s shape {tuple(sb)}")

    def maximum(self, a: Any, b: Any) -> Any:
        """max(a, b) with NaN propagated and the gradient of a tie sent to ``a`` (as TensorFlow does)."""
        o = self.ops
        return o.where((a >= b) | o.isnan(a), a, b)

    def minimum(self, a: Any, b: Any) -> Any:
        """min(a, b) with NaN propagated and the gradient of a tie sent to ``a`` (as TensorFlow does)."""
        o = self.ops
        return o.where((a <= b) | o.isnan(a), a, b)

    def clip(self, x: Any, lo: Any, hi: Any) -> Any:
        """clip(x, lo, hi) passing the gradient for lo ≤ x ≤ hi inclusive (TensorFlow's convention); NaN stays NaN."""
        o = self.ops
        return o.where(x < lo, o.zeros_like(x) + lo, o.where(x > hi, o.zeros_like(x) + hi, x))

    def dlog(self, x: Any) -> Any:
        """Exactly 0, with gradient g / x (written as a division: g · (1/x) overflows float16 where g / x does not).

        0 or non-finite x gets gradient 0 (instead of 0/0 = NaN in the value).
        """
        o = self.ops
        bad = o.equal(x, 0) | ~o.isfinite(x)
        xs = o.where(bad, o.ones_like(x), x)
        return xs / o.stop_gradient(xs) - 1

    def log(self, x: Any) -> Any:
        """log x, differentiated as g / x (see :meth:`dlog`)."""
        o = self.ops
        return o.stop_gradient(o.log(x)) + self.dlog(x)

    def xlogy(self, t: Any, p: Any) -> Any:
        """t·log p with 0·log p = 0 (p ≥ 0); gradients log p (0 where t = 0, as TensorFlow's xlogy) and t / p."""
        o = self.ops
        nz = o.not_equal(t, 0)
        ps = o.where(nz, p, o.ones_like(p))
        return t * o.stop_gradient(o.log(ps)) + o.stop_gradient(t) * self.dlog(ps)

    def grad_from(self, value: Any, surrogate: Any) -> Any:
        """``value`` exactly, differentiated as ``surrogate`` (equal to it up to a constant).

        For the box losses the accurate value and a cancellation-free gradient come from
        different algebraic forms of one function.
        """
        o = self.ops
        delta = o.where(o.isfinite(surrogate), surrogate - o.stop_gradient(surrogate), o.zeros_like(surrogate))
        return o.stop_gradient(value) + delta

    def ratio(self, num: Any, den: Any) -> Any:
        """num / den, differentiated as (g / den, −(g / den)·(num / den)): the quotient rule without den².

        Autodiff of a division forms num / den², and den² underflows to 0 for |den| below
        √(smallest normal) (a union of 2e-22 in float32): the gradient becomes 0/0 = NaN where it is 0.
        """
        o = self.ops
        q = num / o.stop_gradient(den)
        q_const = o.stop_gradient(o.where(o.isfinite(q), q, o.zeros_like(q)))
        return q - q_const * self.dlog(den)

    def clip_prob(self, p: Any, eps: float) -> Any:
        """clip(p, ε, 1 − ε) with ε rounded to p's dtype and 1 − ε computed in that dtype (as Keras does)."""
        o = self.ops
        e = o.const(eps, o.dtype(p))
        return self.clip(p, e, 1 - e)

    def mean(self, x: Any, axis: Any = None) -> Any:
        """Mean over ``axis`` (all axes when None), summed in float32 for float16/bfloat16 input.

        A sum divided by the count, not the framework's mean: Keras 3.15's ``ops.mean`` computes in
        float32 also for float64 input on the JAX and PyTorch backends.
        """
        o = self.ops
        dtype = o.dtype(x)
        wide = self.mean_summand(x)
        shape = o.shape(x)
        axes = range(len(shape)) if axis is None else ([axis] if isinstance(axis, int) else axis)
        count = 1
        for a in axes:
            count = count * shape[a]
        return o.cast(o.sum(wide, axis=axis) / o.cast(count, o.dtype(wide)), dtype)

    def mean_summand(self, x: Any) -> Any:
        """What :meth:`mean` sums: ``x`` widened to float32 where it is float16 or bfloat16."""
        o = self.ops
        return x if o.dtype(x) in ("float32", "float64") else o.cast(x, "float32")

    def axis_index(self, x: Any, axis: int, name: str = "axis") -> int:
        o = self.ops
        rank = o.rank(x)
        if rank is None:
            raise ValueError("logits: the rank must be known statically")
        if not -rank <= int(axis) < rank:
            raise ValueError(f"{name}: {axis} is out of range for rank {rank}")
        return int(axis) % rank

    @formula
    def sigmoid(self, x: Any) -> Any:
        """σ(x) = 1 / (1 + e^{−x}), as 1/(1 + e^{−|x|}) or e^{−|x|}/(1 + e^{−|x|}) by sign.

        Differentiated through this form, the gradient is e^{−|x|}/(1 + e^{−|x|})² up to a few
        roundings, accurate also for large |x| (σ(x)·(1 − σ(x)) loses it as σ(x) rounds to 1).
        """
        o = self.ops
        x = o.as_float(x)
        cond = x >= 0
        e = o.exp(o.where(cond, -x, x))
        return o.where(cond, 1 / (1 + e), e / (1 + e))

    @formula
    def softmax(self, logits: Any, axis: int = -1) -> Any:
        """e^{x_i} / Σ_j e^{x_j} along ``axis``, max-shifted (the shift is a constant in the gradient)."""
        o = self.ops
        x = o.as_float(logits)
        ax = self.axis_index(x, axis)
        e = o.exp(x - o.stop_gradient(o.max(x, axis=ax, keepdims=True)))
        return e / o.sum(e, axis=ax, keepdims=True)

    def softplus_pair(self, x: Any) -> tuple[Any, Any]:
        """(softplus(x), softplus(−x)) = (max(x, 0), max(−x, 0)) + log1p(e^{−|x|}), never overflowing.

        The branches are selected with ``where`` on ``x >= 0``, so the gradients are the exact
        σ(x) and −σ(−x) also at x = 0.
        """
        o = self.ops
        cond = x >= 0
        zero = o.zeros_like(x)
        tail = o.log1p(o.exp(o.where(cond, -x, x)))
        return o.where(cond, x, zero) + tail, o.where(cond, zero, -x) + tail

    @formula
    def sigmoid_cross_entropy_with_logits(self, labels: Any = None, logits: Any = None) -> Any:
        """Elementwise max(x, 0) − x·z + log(1 + e^{−|x|}) = −z log σ(x) − (1−z) log(1−σ(x)).

        Evaluated as x·(1 − z) (x ≥ 0) or −x·z (x < 0) plus log1p(e^{−|x|}): for labels in
        [0, 1] both terms are non-negative, so nothing cancels (max(x, 0) − x·z does for z ≈ 1).
        """
        o = self.ops
        x = o.as_float(logits)
        z = o.cast(labels, o.dtype(x))
        self.check_same_shape(z, x, "labels", "logits")
        cond = x >= 0
        linear = o.where(cond, x * (1 - z), -x * z)
        return linear + o.log1p(o.exp(o.where(cond, -x, x)))

    @formula
    def weighted_cross_entropy_with_logits(self, labels: Any = None, logits: Any = None, pos_weight: Any = 1.0) -> Any:
        """Elementwise q·z·(−log σ(x)) + (1−z)·(−log(1−σ(x))) = q·z·softplus(−x) + (1−z)·softplus(x).

        Equal to the textbook (1−z)·x + (1+(q−1)z)·(log(1+e^{−|x|}) + max(−x, 0)), which cancels
        for x ≪ 0; this form does not.  The label weight q·z is formed first, behind a ``where``
        (0 where z = 0): a graph optimiser cannot reassociate the product into z·(q·softplus(−x)),
        and q·softplus(−x) overflows float16 (x = −1e4, q = 10) where q·z·softplus(−x) does not.
        """
        o = self.ops
        x = o.as_float(logits)
        z = o.cast(labels, o.dtype(x))
        self.check_same_shape(z, x, "labels", "logits")
        q = o.const(pos_weight, o.dtype(x))
        sp_pos, sp_neg = self.softplus_pair(x)
        weight = o.where(o.equal(z, 0), o.zeros_like(z), q * z)
        return weight * sp_neg + (1 - z) * sp_pos

    @formula
    def sigmoid_focal_loss(self, labels: Any = None, logits: Any = None, alpha: Any = 0.25, gamma: Any = 2.0) -> Any:
        """RetinaNet's focal loss (Lin et al. 2017), elementwise: α_t·(1 − p_t)^γ·SCE(z, x).

        1 − p_t = z·σ(−x) + (1 − z)·σ(x) (no cancellation), α_t = α·z + (1 − α)·(1 − z) for α ≥ 0 and 1
        for α < 0 (no weighting), as ``torchvision.ops.sigmoid_focal_loss`` and Keras'
        ``BinaryFocalCrossentropy(from_logits=True, apply_class_balancing=True)``; the gradient flows
        through the modulating factor.
        """
        o = self.ops
        x = o.as_float(logits)
        dtype = o.dtype(x)
        z = o.cast(labels, dtype)
        self.check_same_shape(z, x, "labels", "logits")
        a = o.const(alpha, dtype)
        ce = self.sigmoid_cross_entropy_with_logits(labels=z, logits=x)
        s, sc = self.sigmoid(x), self.sigmoid(-x)
        miss = z * sc + (1 - z) * s
        alpha_t = o.where(a >= 0, a * z + (1 - a) * (1 - z), o.ones_like(z))
        if float(gamma) == 0:  # no modulating factor: TensorFlow differentiates x^0 as 0·x^(−1), NaN where the
            return alpha_t * ce  # float16 x^(−1) overflows (1 − p_t < 1.5e-5, logits beyond ±11)
        mod = self.safe_power(miss, o.const(gamma, dtype))
        # Differentiated as α_t·(m^γ·dSCE + SCE·slope·dx): autodiff would form ∂L/∂m = α_t·SCE·γ·m^(γ−1) first,
        # which overflows float16 (logit −10⁴, SCE 10⁴, γ = 5) where dm/dx is 0: inf·0 = NaN for a finite gradient.
        slope = self.modulator_slope(z, s, sc, miss, mod, o.const(gamma, dtype))
        return self.grad_from(alpha_t * mod * ce,
                              alpha_t * (o.stop_gradient(mod) * ce + o.stop_gradient(ce * slope) * x))

    def modulator_slope(self, z: Any, s: Any, sc: Any, miss: Any, mod: Any, gamma: Any) -> Any:
        """d(m^γ)/dx = γ·m^γ·(1 − 2z)·r with r = σ(x)·σ(−x)/m ≤ 1 (0 where m = 0): bounded by γ."""
        o = self.ops
        positive = miss > 0
        r = o.where(positive, s * sc / o.where(positive, miss, o.ones_like(miss)), o.zeros_like(miss))
        return gamma * mod * (1 - 2 * z) * r

    def safe_power(self, base: Any, exponent: Any) -> Any:
        """base^exponent for base ≥ 0, with value 0^γ (1 for γ = 0) and gradient 0 where base = 0.

        Autodiff of a power at base 0 forms γ·0^(γ−1), inf for γ < 1 (0·inf = NaN for γ = 0);
        a base of 0 is reached only where σ underflows, where the exact gradient is negligible.
        """
        o = self.ops
        positive = base > 0
        safe = o.where(positive, base, o.ones_like(base))
        at_zero = o.where(o.equal(exponent, 0), o.ones_like(base), o.zeros_like(base))
        return o.where(positive, o.power(safe, exponent), at_zero)

    def softmax_xent(self, y: Any, x: Any, ax: int) -> Any:
        """−Σ y·log softmax(x) along ``ax`` (y, x of one shape), with an accurate value and gradient.

        With a the (first) argmax and e_j = x_j − x_a for j ≠ a (0 at a), s = Σ_{j≠a} e^{e_j}:
        log softmax_j = e_j − log1p(s), log softmax_a = −log1p(s), accurate also where the softmax
        is confident; the loss is Σy·log1p(s) − Σ_{j≠a} y_j·e_j, two non-negative terms for y ≥ 0.
        x_a enters only through the differences e_j (selected at the argmax, so its whole gradient
        goes to that one element, also for ties), and autodiff gives ∂/∂x_a = Σ_{j≠a} (y_j − Σy·p_j):
        for a confident one-hot row −Σ_{j≠a} p_j, to a few ulps (softmax_a − 1 would cancel).
        """
        o = self.ops
        c = x.shape[ax]
        if c is None:
            raise ValueError("logits: the size of the class axis must be known statically")
        rank = o.rank(x)
        idx = o.argmax(x, axis=ax, keepdims=True)
        classes = o.on_device_of(o.arange(c, dtype=o.dtype(idx)), x)
        classes = o.reshape(classes, [c if i == ax else 1 for i in range(rank)])
        is_max = o.equal(classes, idx)
        zero = o.zeros_like(x)
        x_a = o.sum(o.where(is_max, x, zero), axis=ax, keepdims=True)  # x at the argmax; no gather
        e = o.where(is_max, zero, x - x_a)
        rest = o.sum(o.where(is_max, zero, o.exp(e)), axis=ax)
        total = o.sum(y, axis=ax)
        # 0 · log softmax = 0 even where e overflows to -inf (extreme logits in float16)
        e_safe = o.where(o.equal(y, 0) & o.isinf(e), zero, e)
        return total * o.log1p(rest) - o.sum(y * e_safe, axis=ax)

    @formula
    def softmax_cross_entropy_with_logits(self, labels: Any = None, logits: Any = None, axis: int = -1) -> Any:
        """−Σ_i y_i · log softmax(x)_i over ``axis``."""
        o = self.ops
        x = o.as_float(logits)
        y = o.broadcast_to(o.cast(labels, o.dtype(x)), o.shape(x))
        return self.softmax_xent(y, x, self.axis_index(x, axis))

    @formula
    def sparse_softmax_cross_entropy_with_logits(self, labels: Any = None, logits: Any = None) -> Any:
        """logsumexp(x) − x_k over the last axis, ``k`` an integer class index in [0, C).

        Labels outside [0, C) give NaN (and fail an assertion where the layer has one): never a silent
        finite value.
        """
        o = self.ops
        x = o.as_float(logits)
        k = o.tensor(labels)
        if o.dtype(k) in FLOATS:
            raise ValueError(f"labels: expected integer class indices, got dtype {o.dtype(k)}")
        k = o.cast(k, "int32")
        rx, rk = o.rank(x), o.rank(k)
        if rx is not None and rk is not None and rk != rx - 1:
            raise ValueError(f"labels: expected rank {rx - 1} (logits' rank - 1), got rank {rk}")
        ax = self.axis_index(x, -1)
        classes = x.shape[ax]
        if classes is None:
            raise ValueError("logits: the number of classes must be known statically")
        valid = o.assert_all((k >= 0) & (k < classes), "labels: class index outside [0, C)")
        safe_k = o.where(valid, k, o.zeros_like(k))
        y = o.one_hot(safe_k, classes, axis=-1, dtype=o.dtype(x))
        value = self.softmax_xent(y, x, ax)
        return o.where(valid, value, o.full_like(value, np.nan))

    @formula
    def binary_crossentropy(self, target: Any, output: Any) -> Any:
        """−(t·log P + (1−t)·log(1−P)), P = clip(p, ε_k, 1−ε_k) (convention keras-ops)."""
        o = self.ops
        p = o.as_float(output)
        t = o.cast(target, o.dtype(p))
        pc = self.clip_prob(p, EPSILON_KERAS)
        # log(1 − P) as log1p(−P) (accurate for small P).  As the formula does, t = 1 with P = 1
        # (possible only in float16/bfloat16, where 1 − ε_k rounds to 1: divergence FP16-CLIP)
        # gives 0·log 0 = NaN.  t·log P is differentiated as t / P: no 0·inf = NaN where t = 0
        # and 1/P overflows (float16, P < 2^-16).
        return -(self.xlogy(t, pc) + (1 - t) * o.log1p(-pc))

    @formula
    def categorical_crossentropy(self, target: Any, output: Any, axis: int = -1) -> Any:
        """−Σ_i t_i · log clip(p_i / Σ_j p_j, ε_k, 1−ε_k) over ``axis`` (convention keras-ops)."""
        o = self.ops
        p = o.as_float(output)
        t = o.cast(target, o.dtype(p))
        q = p / o.sum(p, axis=axis, keepdims=True)
        qc = self.clip_prob(q, EPSILON_KERAS)
        return -o.sum(self.xlogy(t, qc), axis=axis)

    @formula
    def entropy(self, p: Any, axis: int = -1) -> Any:
        """−Σ p·log p over ``axis`` with 0·log 0 = 0."""
        o = self.ops
        p = o.as_float(p)
        return -o.sum(self.xlogy(p, p), axis=axis)

    def log_ratio(self, p: Any, q: Any) -> Any:
        """log(p / q) for p > 0, accurate to a few ulps in every regime, differentiated as (g/p, −g/q).

        Near p = q: log1p((p − q)/q) (p − q is exact there); elsewhere log(p/q), unless the
        ratio over- or underflows, then log p − log q (which is then large, so accurate).
        Each branch sees safe inputs (1) where it is not taken.  The gradient is that of
        log p − log q written as divisions: differentiating log(p/q) forms p/q², which
        overflows float16 for q below ~1e-2 even where the gradient itself is small.
        """
        o = self.ops
        dtype = o.dtype(p)
        one = o.ones_like(p)
        r = p / q
        near = (r >= 0.5) & (r <= 2)
        normal = ~near & (r >= o.const(TINY[dtype], dtype)) & (r <= o.const(HUGE[dtype], dtype))
        far = ~near & ~normal
        q_near = o.where(near, q, one)
        near_val = o.log1p((o.where(near, p, one) - q_near) / q_near)
        mid_val = o.log(o.where(normal, p, one) / o.where(normal, q, one))
        far_val = o.log(o.where(far, p, one)) - o.log(o.where(far, q, one))
        value = o.where(near, near_val, o.where(normal, mid_val, far_val))
        return o.stop_gradient(value) + self.dlog(p) - self.dlog(q)

    @formula
    def kl_divergence(self, p: Any, q: Any, axis: int = -1) -> Any:
        """Σ p·log(p/q) over ``axis`` with 0·log(0/q) = 0."""
        o = self.ops
        p = o.as_float(p)
        q = o.cast(q, o.dtype(p))
        zeros = o.zeros_like(p) + o.zeros_like(q)  # the broadcast shape
        p = p + zeros
        q = q + zeros
        has = o.not_equal(p, 0)
        one = o.ones_like(p)
        p_safe = o.where(has, p, one)
        q_safe = o.where(has, q, one)
        term = o.where(has, p_safe * self.log_ratio(p_safe, q_safe), o.zeros_like(p))
        return o.sum(term, axis=axis)

    @formula
    def smooth_l1(self, x: Any) -> Any:
        """0.5·x² if |x| ≤ 1 else |x| − 0.5, elementwise."""
        o = self.ops
        x = o.as_float(x)
        a = o.abs(x)
        return o.where(a <= 1, 0.5 * x * x, a - 0.5)

    def eps_normaliser(self, m: Any) -> Any:
        """Σ(ε + m) = Σm + ε·numel(m) (divergence FRCNN-EPS-PER-ELEMENT).

        Σm is exact for a 0/1 mask in any summation order, and ε·numel is formed in float32
        (float64 for float64 input) and rounded once, so the normaliser is correctly rounded
        also where a compiler sums sequentially (adding ε into a large running sum element by
        element rounds the same way every time and drifts by tens of ulps).
        """
        o = self.ops
        dtype = o.dtype(m)
        wide = "float64" if dtype == "float64" else "float32"
        eps_n = o.cast(o.cast(o.size(m), wide) * o.const(EPSILON, wide), dtype)
        return o.sum(m) + eps_n

    def masked_smooth_l1_loss(self, y_true: Any, y_pred: Any, n: int, lam: float) -> Any:
        """λ · Σ m·smooth_l1(t − y_pred) / Σ(ε + m), m = y_true[..., :n], t = y_true[..., n:]."""
        o = self.ops
        m = y_true[..., :n]
        t = y_true[..., n:]
        self.check_same_shape(y_pred, t, "y_pred", "the targets in y_true")
        num = o.sum(m * self.smooth_l1(t - y_pred))
        return o.const(lam, o.dtype(y_pred)) * num / self.eps_normaliser(m)

    def frcnn_pair(self, y_true: Any, y_pred: Any, rank: int, true_last: tuple[int, str] | None = None,
                   pred_last: tuple[int, str] | None = None) -> tuple[Any, Any]:
        """(y_true, y_pred) of a Faster R-CNN loss in y_pred's float dtype, ranks and last axes checked."""
        o = self.ops
        y_pred = o.as_float(y_pred)
        y_true = o.cast(y_true, o.dtype(y_pred))
        for name, x, last in (("y_true", y_true, true_last), ("y_pred", y_pred, pred_last)):
            self.check_rank(x, name, rank)
            if last is not None:
                self.check_last_dim(x, name, *last)
        return y_true, y_pred

    def box_regression(self, n: int, rank: int, what: str, lam: float) -> Callable[[Any, Any], Any]:
        """The Faster R-CNN box regression closure over ``n`` anchors or classes (``what``: "A" or "C")."""

        def fixed_num(y_true: Any, y_pred: Any) -> Any:
            y_true, y_pred = self.frcnn_pair(y_true, y_pred, rank, (8 * n, f"8*{what}"), (4 * n, f"4*{what}"))
            return self.masked_smooth_l1_loss(y_true, y_pred, 4 * n, lam)

        return fixed_num

    @formula
    def rpn_loss_regr(self, num_anchors: int) -> Callable[[Any, Any], Any]:
        """RPN box regression: λ · Σ m·smooth_l1(t − y_pred) / Σ(ε + m) over (B, H, W, 8A) / (B, H, W, 4A)."""
        return self.box_regression(int(num_anchors), 4, "A", LAMBDA_RPN_REGR)

    @formula
    def rpn_loss_cls(self, num_anchors: int) -> Callable[[Any, Any], Any]:
        """RPN objectness: λ · Σ v·BCE(z, y_pred) / Σ(ε + v), v = y_true[..., :A], z = y_true[..., A:]."""
        o = self.ops
        a = int(num_anchors)

        def rpn_loss_cls_fixed_num(y_true: Any, y_pred: Any) -> Any:
            y_true, y_pred = self.frcnn_pair(y_true, y_pred, 4, (2 * a, "2*A"), (a, "A"))
            v = y_true[..., :a]
            z = y_true[..., a:]
            num = o.sum(v * self.binary_crossentropy(z, y_pred))
            return o.const(LAMBDA_RPN_CLASS, o.dtype(y_pred)) * num / self.eps_normaliser(v)

        return rpn_loss_cls_fixed_num

    @formula
    def class_loss_regr(self, num_classes: int) -> Callable[[Any, Any], Any]:
        """Detector box regression: λ · Σ m·smooth_l1(t − y_pred) / Σ(ε + m) over (B, R, 8C) / (B, R, 4C)."""
        return self.box_regression(int(num_classes), 3, "C", LAMBDA_CLS_REGR)

    @formula
    def class_loss_cls(self, y_true: Any, y_pred: Any) -> Any:
        """λ · mean over r of CCE(y_true[0, r, :], y_pred[0, r, :]) (batch element 0 only, as the documents)."""
        y_true, y_pred = self.frcnn_pair(y_true, y_pred, 3)
        cce = self.categorical_crossentropy(y_true[0], y_pred[0], axis=-1)
        return self.ops.const(LAMBDA_CLS_CLASS, self.ops.dtype(y_pred)) * self.mean(cce)

    def anchor_table(self, anchors: Any, dtype: str) -> tuple[Any, int]:
        """Anchors as an (A, 2) tensor in ``dtype`` and the static A."""
        o = self.ops
        t = o.const(anchors, dtype)
        self.check_rank(t, "anchors", 2)
        if t.shape[0] is None:
            raise ValueError("anchors: the number of anchors must be known statically")
        self.check_last_dim(t, "anchors", 2, "2")
        return t, int(t.shape[0])

    @formula
    def decode(self, conv_output: Any, anchors: Any, stride: Any, num_class: int) -> Any:
        """(B, S, S, A·(5+N)) raw output → (B, S, S, A, 5+N) boxes (x, y, w, h) in pixels, conf, class probs."""
        o = self.ops
        conv = o.as_float(conv_output)
        dtype = o.dtype(conv)
        n = int(num_class)
        anc, a = self.anchor_table(anchors, dtype)
        anc = o.on_device_of(anc, conv)
        self.check_rank(conv, "conv_output", 4)
        self.check_last_dim(conv, "conv_output", a * (5 + n), "A*(5+num_class)")
        stride_c = o.const(stride, dtype)
        _, rows, cols, _ = o.shape(conv)
        raw = o.reshape(conv, (-1, rows, cols, a, 5 + n))
        xy = (self.sigmoid(raw[..., 0:2]) + self.cell_offsets(conv, rows, cols, dtype)) * stride_c
        wh = self.box_size(raw[..., 2:4], anc, stride_c)
        conf = self.sigmoid(raw[..., 4:5])
        prob = self.sigmoid(raw[..., 5:])
        return o.concatenate([xy, wh, conf, prob], axis=-1)

    def cell_offsets(self, like: Any, rows: Any, cols: Any, dtype: str) -> Any:
        """decode's (rows, cols, 1, 2) grid of cell offsets (column index, row index), on ``like``'s device."""
        o = self.ops
        grid_x = o.reshape(o.cast(o.on_device_of(o.arange(cols), like), dtype), (1, cols, 1))  # column index
        grid_y = o.reshape(o.cast(o.on_device_of(o.arange(rows), like), dtype), (rows, 1, 1))  # row index
        grid_x = o.broadcast_to(grid_x, (rows, cols, 1))
        grid_y = o.broadcast_to(grid_y, (rows, cols, 1))
        return o.expand_dims(o.concatenate([grid_x, grid_y], axis=-1), 2)

    def box_size(self, raw_wh: Any, anchors: Any, stride: Any) -> Any:
        """decode's box size in pixels: e^raw · anchor (in grid units) · stride."""
        return self.ops.exp(raw_wh) * anchors * stride

    def box_pair(self, boxes1: Any, boxes2: Any) -> tuple[Any, Any]:
        o = self.ops
        b1 = o.as_float(boxes1)
        b2 = o.cast(boxes2, o.dtype(b1))
        self.check_last_dim(b1, "boxes1", 4, "4")
        self.check_last_dim(b2, "boxes2", 4, "4")
        return b1, b2

    def overlap(self, c1: Any, w1: Any, c2: Any, w2: Any) -> Any:
        """max(min(right1, right2) − max(left1, left2), 0) along one axis, left/right = c ∓ w/2.

        Evaluated as max(min(w1, w2, s − d, s + d), 0) with d = c1 − c2 and s = (w1 + w2)/2,
        the same value (min(a, b) − max(c, e) = min(a − c, a − e, b − c, b − e)) without
        forming the corners, whose rounding at large coordinates would swamp small extents.
        """
        o = self.ops
        d = c1 - c2
        s = (w1 + w2) * 0.5
        return self.maximum(self.minimum(self.minimum(w1, w2), self.minimum(s - d, s + d)), o.zeros_like(d))

    def span(self, c1: Any, a1: Any, c2: Any, a2: Any) -> Any:
        """max(right1, right2) − min(left1, left2) along one axis: max(a1, a2, (a1 + a2)/2 + |c1 − c2|).

        That is the enclosing extent for sorted extents a ≥ 0, from centre differences.
        """
        o = self.ops
        return self.maximum(self.maximum(a1, a2), (a1 + a2) * 0.5 + o.abs(c1 - c2))

    def iou_parts(self, boxes1: Any, boxes2: Any) -> tuple[Any, Any, Any, Any]:
        """(inter, union, area1, area2) of bbox_iou: areas from the raw w·h."""
        b1, b2 = self.box_pair(boxes1, boxes2)
        area1 = b1[..., 2] * b1[..., 3]
        area2 = b2[..., 2] * b2[..., 3]
        inter = (self.overlap(b1[..., 0], b1[..., 2], b2[..., 0], b2[..., 2])
                 * self.overlap(b1[..., 1], b1[..., 3], b2[..., 1], b2[..., 3]))
        return inter, area1 + area2 - inter, area1, area2

    def giou_parts(self, boxes1: Any, boxes2: Any) -> tuple[Any, Any, Any, Any, Any]:
        """(inter, union, enclose, area1, area2) of bbox_giou: corners re-sorted, i.e. extents |w|, |h|."""
        o = self.ops
        b1, b2 = self.box_pair(boxes1, boxes2)
        w1, h1, w2, h2 = o.abs(b1[..., 2]), o.abs(b1[..., 3]), o.abs(b2[..., 2]), o.abs(b2[..., 3])
        area1 = w1 * h1
        area2 = w2 * h2
        inter = self.overlap(b1[..., 0], w1, b2[..., 0], w2) * self.overlap(b1[..., 1], h1, b2[..., 1], h2)
        enclose = self.span(b1[..., 0], w1, b2[..., 0], w2) * self.span(b1[..., 1], h1, b2[..., 1], h2)
        return inter, area1 + area2 - inter, enclose, area1, area2

    @formula
    def bbox_iou(self, boxes1: Any, boxes2: Any) -> Any:
        """IoU of (x, y, w, h) boxes, broadcasting over leading axes; areas from the raw w·h."""
        inter, union, _, _ = self.iou_parts(boxes1, boxes2)
        return self.ratio(inter, union)

    @formula
    def bbox_giou(self, boxes1: Any, boxes2: Any) -> Any:
        """Generalised IoU of (x, y, w, h) boxes; corners re-sorted per axis, areas from the sorted corners.

        IoU − (E − union)/E with E the enclosing box's area; NaN only where a 0/0 occurs.  The
        gradient is taken through IoU + union/E (the same up to a constant), which does not cancel
        for distant boxes.
        """
        inter, union, enclose, _, _ = self.giou_parts(boxes1, boxes2)
        iou = self.ratio(inter, union)
        return self.grad_from(iou - (enclose - union) / enclose, iou + self.ratio(union, enclose))

    @formula
    def iou_loss(self, boxes1: Any, boxes2: Any) -> Any:
        """1 − IoU, as ((area1 − inter) + (area2 − inter)) / union: relatively accurate when IoU ≈ 1."""
        inter, union, area1, area2 = self.iou_parts(boxes1, boxes2)
        return self.grad_from(((area1 - inter) + (area2 - inter)) / union, -self.ratio(inter, union))

    @formula
    def giou_loss(self, boxes1: Any, boxes2: Any) -> Any:
        """1 − GIoU, as (union − inter)/union + (E − union)/E: relatively accurate when GIoU ≈ 1."""
        inter, union, enclose, area1, area2 = self.giou_parts(boxes1, boxes2)
        value = ((area1 - inter) + (area2 - inter)) / union + (enclose - union) / enclose
        return self.grad_from(value, -(self.ratio(inter, union) + self.ratio(union, enclose)))

    def distance_ratio(self, b1: Any, b2: Any) -> Any:
        """ρ²/c²: squared centre distance over the squared diagonal of the enclosing box.

        The enclosing extents come from centre differences (``span``; max(R1, R2) − min(L1, L2) equals
        max(w1, w2, (w1 + w2)/2 + |c1 − c2|) for any extents), and every length is divided by the larger
        enclosing extent (held constant in the gradient: the ratio does not depend on it), so the squares
        neither overflow float16 nor underflow.  Two identical point boxes give 0/0 = NaN.
        """
        o = self.ops
        dx = b1[..., 0] - b2[..., 0]
        dy = b1[..., 1] - b2[..., 1]
        cx = self.span(b1[..., 0], b1[..., 2], b2[..., 0], b2[..., 2])
        cy = self.span(b1[..., 1], b1[..., 3], b2[..., 1], b2[..., 3])
        m = o.stop_gradient(self.maximum(o.abs(cx), o.abs(cy)))
        dx, dy, cx, cy = dx / m, dy / m, cx / m, cy / m
        return (dx * dx + dy * dy) / (cx * cx + cy * cy)

    def aspect_angle(self, w: Any, h: Any) -> Any:
        """atan2(w, h), with (w, h) first divided by max(|w|, |h|) (constant in the gradient; the angle does not
        depend on the scale) so that the gradient's w² + h² cannot overflow float16.  A zero-size box has angle 0
        (atan2(0, 0)) and no gradient through it (the angle is discontinuous there)."""
        o = self.ops
        m = o.stop_gradient(self.maximum(o.abs(w), o.abs(h)))
        zero = o.equal(m, 0)
        safe = o.where(zero, o.ones_like(m), m)
        return o.atan2(o.where(zero, o.zeros_like(w), w / safe), o.where(zero, o.ones_like(h), h / safe))

    @formula
    def diou_loss(self, boxes1: Any, boxes2: Any) -> Any:
        """1 − IoU + ρ²/c² (IoU as ``bbox_iou``; c the diagonal of the smallest box enclosing both; w, h ≥ 0)."""
        b1, b2 = self.box_pair(boxes1, boxes2)
        return self.iou_loss(b1, b2) + self.distance_ratio(b1, b2)

    @formula
    def ciou_loss(self, boxes1: Any, boxes2: Any) -> Any:
        """1 − IoU + ρ²/c² + α·v, v = (4/π²)(atan2(w2, h2) − atan2(w1, h1))², α = v/((1 − IoU) + v) (0 where v = 0).

        α is held constant in the gradient (stop-gradient, as in the paper's code); boxes2 is the ground truth.
        """
        o = self.ops
        b1, b2 = self.box_pair(boxes1, boxes2)
        one_minus_iou = self.iou_loss(b1, b2)
        gap = self.aspect_angle(b2[..., 2], b2[..., 3]) - self.aspect_angle(b1[..., 2], b1[..., 3])
        v = o.const(FOUR_OVER_PI2, o.dtype(b1)) * (gap * gap)
        positive = v > 0
        safe = o.where(positive, one_minus_iou + v, o.ones_like(v))
        alpha = o.stop_gradient(o.where(positive, v / safe, o.zeros_like(v)))
        return one_minus_iou + self.distance_ratio(b1, b2) + alpha * v

    @formula
    def focal(self, target: Any, actual: Any, alpha: Any = 1, gamma: Any = 2) -> Any:
        """α·|target − actual|^γ (the YOLOv3 confidence weight; the gradient flows through it)."""
        o = self.ops
        x = o.as_float(actual)
        dtype = o.dtype(x)
        t = o.cast(target, dtype)
        return o.const(alpha, dtype) * o.power(o.abs(t - x), o.const(gamma, dtype))

    @formula
    def loss_layer(
        self,
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
        o = self.ops
        conv = o.as_float(conv)
        dtype = o.dtype(conv)
        pred = o.cast(pred, dtype)
        label = o.cast(label, dtype)
        bboxes = o.cast(bboxes, dtype)
        n = int(num_class)
        _, a = self.anchor_table(anchors, dtype)
        self.check_rank(conv, "conv", 4)
        self.check_last_dim(conv, "conv", a * (5 + n), "A*(5+num_class)")
        self.check_rank(pred, "pred", 5)
        self.check_last_dim(pred, "pred", 5 + n, "5+num_class")
        self.check_rank(label, "label", 5)
        self.check_last_dim(label, "label", 5 + n, "5+num_class")
        self.check_same_shape(label, pred, "label", "pred")
        self.check_rank(bboxes, "bboxes", 3)
        self.check_last_dim(bboxes, "bboxes", 4, "4")

        _, rows, cols, _ = o.shape(conv)
        raw = o.reshape(conv, (-1, rows, cols, a, 5 + n))
        raw_conf = raw[..., 4:5]
        raw_prob = raw[..., 5:]
        pred_xywh = pred[..., 0:4]
        pred_conf = pred[..., 4:5]
        label_xywh = label[..., 0:4]
        respond = label[..., 4:5]
        label_prob = label[..., 5:]

        input_size = o.const(stride, dtype) * o.cast(rows, dtype)
        # 2 − w·h / input_size², evaluated as (w / s)·(h / s) so that float16 does not overflow
        scale = 2 - (label_xywh[..., 2:3] / input_size) * (label_xywh[..., 3:4] / input_size)
        giou_term = respond * scale * o.expand_dims(self.giou_loss(pred_xywh, label_xywh), -1)

        iou = self.bbox_iou(o.expand_dims(pred_xywh, 4), bboxes[:, None, None, None, :, :])
        max_iou = o.max(iou, axis=-1, keepdims=True)
        below = o.stop_gradient(o.cast(max_iou < o.const(iou_loss_thresh, dtype), dtype))
        background = (1 - respond) * below

        sce_conf = self.sigmoid_cross_entropy_with_logits(labels=respond, logits=raw_conf)
        conf_term = self.focal(respond, pred_conf) * (respond * sce_conf + background * sce_conf)
        prob_term = respond * self.yolo_class_loss(label_prob, raw_prob, pred[..., 5:])
        return self.yolo_reduce(giou_term), self.yolo_reduce(conf_term), self.yolo_reduce(prob_term)

    def yolo_class_loss(self, label_prob: Any, raw_prob: Any, pred_prob: Any) -> Any:
        """The per-class loss of loss_layer: SCE of the raw class logits (``pred_prob`` is their sigmoid)."""
        return self.sigmoid_cross_entropy_with_logits(labels=label_prob, logits=raw_prob)

    def yolo_reduce(self, term: Any) -> Any:
        """loss_layer's reduction of a (B, S, S, A, k) term: the batch mean of per-image sums."""
        return self.mean(self.ops.sum(term, axis=(1, 2, 3, 4)))

    @formula
    def compute_loss(
        self,
        convs: Sequence[Any],
        labels: Sequence[Any],
        bboxes: Sequence[Any],
        anchors: Any,
        strides: Any,
        num_class: int,
        iou_loss_thresh: Any = 0.5,
    ) -> tuple[Any, Any, Any]:
        """Sum over the three scales of loss_layer(conv, decode(conv), ...): (giou_loss, conf_loss, prob_loss)."""
        o = self.ops
        convs, labels, bboxes = list(convs), list(labels), list(bboxes)
        for name, seq in (("convs", convs), ("labels", labels), ("bboxes", bboxes)):
            if len(seq) != 3:
                raise ValueError(f"{name}: expected a sequence of 3 scales, got {len(seq)}")
        anchors = anchors if o.is_tensor(anchors) else np.asarray(anchors, dtype=np.float64)
        strides = strides if o.is_tensor(strides) else np.asarray(strides, dtype=np.float64)
        if len(anchors.shape) != 3 or anchors.shape[0] != 3:
            raise ValueError(f"anchors: expected shape (3, A, 2), got {tuple(anchors.shape)}")
        if tuple(strides.shape) != (3,):
            raise ValueError(f"strides: expected shape (3,), got {tuple(strides.shape)}")
        totals = None
        for i in range(3):
            pred = self.decode(convs[i], anchors[i], strides[i], num_class)
            parts = self.loss_layer(convs[i], pred, labels[i], bboxes[i], anchors[i], strides[i], num_class,
                                    iou_loss_thresh)
            totals = parts if totals is None else tuple(t + p for t, p in zip(totals, parts, strict=True))
        return totals

    @formula
    def focal_loss(self, hm_pred: Any, hm_true: Any) -> Any:
        """CenterNet heatmap focal loss: (pos_loss + neg_loss) / num_pos, or neg_loss when num_pos = 0."""
        o = self.ops
        p = o.as_float(hm_pred)
        dtype = o.dtype(p)
        y = o.cast(hm_true, dtype)
        self.check_rank(p, "hm_pred", 4)
        self.check_rank(y, "hm_true", 4)
        self.check_same_shape(y, p, "hm_true", "hm_pred")
        eps = o.const(EPSILON_CENTERNET, dtype)
        one = o.ones_like(p)
        pos = o.cast(o.equal(y, 1), dtype)
        neg = o.cast(y < 1, dtype)
        alpha = o.const(CENTERNET_ALPHA, dtype)
        beta = o.const(CENTERNET_BETA, dtype)

        # Each log is taken only where its mask is set (1 elsewhere), so that a masked-out
        # element cannot put 0·inf = NaN into the gradient; the logs are differentiated as
        # divisions (g / p: 1/p overflows float16 for p < 2^-16).
        is_pos = pos > 0
        is_neg = neg > 0
        pos_log = -self.log(o.where(is_pos, self.clip(p, eps, one), one))
        # −log(clip(1 − p, ε_c, 1)): inside the clip −log1p(−p) (exact for small p), outside −log of the bound
        q = 1 - p
        inside = is_neg & (q >= eps) & (q <= 1)
        neg_log = o.where(
            inside,
            -o.log1p(-o.where(inside, p, o.zeros_like(p))),
            -self.log(o.where(is_neg, self.clip(q, eps, one), one)),
        )

        miss, hit, far = self.focal_modulators(p, y, alpha, beta)
        pos_loss = o.sum(pos_log * miss * pos)
        neg_loss = o.sum(neg_log * hit * far * neg)
        return self.focal_total(pos_loss, neg_loss, o.sum(pos))

    def focal_modulators(self, p: Any, y: Any, alpha: Any, beta: Any) -> tuple[Any, Any, Any]:
        """focal_loss's factors (1 − p)^α (positives), p^α and (1 − y)^β (negatives), differentiated."""
        o = self.ops
        return o.power(1 - p, alpha), o.power(p, alpha), o.power(1 - y, beta)

    def focal_total(self, pos_loss: Any, neg_loss: Any, num_pos: Any) -> Any:
        """(pos_loss + neg_loss) / num_pos, or neg_loss where there is no positive."""
        o = self.ops
        has_pos = num_pos > 0
        safe_num = o.where(has_pos, num_pos, o.ones_like(num_pos))
        return o.where(has_pos, (pos_loss + neg_loss) / safe_num, neg_loss)

    @formula
    def reg_l1_loss(self, y_pred: Any, y_true: Any, indices: Any, mask: Any) -> Any:
        """Σ |y_true·M − g·M| / (Σ M + ε), g = y_pred gathered at the flattened H·W ``indices``.

        Out-of-range indices give NaN (and fail an assertion where the layer has one): never a silent
        finite value.
        """
        o = self.ops
        y_pred = o.as_float(y_pred)
        dtype = o.dtype(y_pred)
        y_true = o.cast(y_true, dtype)
        mask = o.cast(mask, dtype)
        idx = o.tensor(indices)
        if o.dtype(idx) in FLOATS:
            raise ValueError(f"indices: expected integers, got dtype {o.dtype(idx)}")
        idx = o.cast(idx, "int32")
        self.check_rank(y_pred, "y_pred", 4)
        self.check_last_dim(y_pred, "y_pred", 2, "2")
        self.check_rank(y_true, "y_true", 3)
        self.check_last_dim(y_true, "y_true", 2, "2")
        self.check_rank(idx, "indices", 2)
        self.check_rank(mask, "mask", 2)

        self.check_same_shape(mask, idx, "mask", "indices")
        shapes = o.shape(y_pred), o.shape(y_true), o.shape(idx)
        if all(isinstance(d, int) for s in shapes for d in s):
            if tuple(shapes[1][:2]) != tuple(shapes[2]):
                raise ValueError(f"y_true: shape {tuple(shapes[1])} does not match indices' {tuple(shapes[2])} + (2,)")
            if shapes[2][0] != shapes[0][0]:
                raise ValueError(f"indices: batch size {shapes[2][0]} does not match y_pred's {shapes[0][0]}")

        _, rows, cols, _ = o.shape(y_pred)
        cells = rows * cols
        valid = o.assert_all((idx >= 0) & (idx < cells), "indices: index outside [0, H*W)")
        in_range = o.all(valid)
        flat = o.reshape(y_pred, (-1, cells, 2))
        g = self.gather_cells(flat, o.where(valid, idx, o.zeros_like(idx)), rows, cols)
        m = o.expand_dims(mask, -1)
        m = o.concatenate([m, m], axis=-1)
        total = o.sum(o.abs(y_true * m - g * m))
        value = total / self.l1_normaliser(m)
        return o.where(in_range, value, o.full_like(value, np.nan))

    def gather_cells(self, flat: Any, idx: Any, rows: Any, cols: Any) -> Any:
        """reg_l1_loss's gather: ``flat[b, idx[b, k], :]`` of the (B, rows·cols, C) map at row-major indices."""
        return self.ops.gather_rows(flat, idx)

    def l1_normaliser(self, m: Any) -> Any:
        """reg_l1_loss's normaliser Σm + ε (ε once in total)."""
        o = self.ops
        return o.sum(m) + o.const(EPSILON, o.dtype(m))

    @formula
    def loss(self, args: Sequence[Any]) -> Any:
        """CenterNet total: focal_loss + 0.1·reg_l1_loss(wh) + reg_l1_loss(reg)."""
        o = self.ops
        if len(args) != 8:
            raise ValueError(f"args: expected 8 tensors, got {len(args)}")
        hm_pred, wh_pred, reg_pred, hm_true, wh_true, reg_true, reg_mask, indices = args
        hm = self.focal_loss(hm_pred, hm_true)
        wh = self.reg_l1_loss(wh_pred, wh_true, indices, reg_mask)
        reg = self.reg_l1_loss(reg_pred, reg_true, indices, reg_mask)
        return hm + o.const(CENTERNET_WH_WEIGHT, o.dtype(wh)) * wh + reg


NAMES: tuple[str, ...] = tuple(name for name, fn in vars(Catalogue).items() if getattr(fn, "is_formula", False))
