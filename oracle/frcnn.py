"""Faster R-CNN losses: ``rpn_loss_regr``, ``rpn_loss_cls``, ``class_loss_regr``, ``class_loss_cls``.

Contract style follows the Keras code: the first three are closures (the outer
call fixes ``num_anchors`` / ``num_classes``), ``class_loss_cls(y_true, y_pred)``
is called directly.  Everything is float64; only the probability-clipping
constants ε_k and 1 − ε_k are rounded to ``constants_dtype``.

The BCE, CCE and smooth-L1 kernels and their derivatives are those of
:mod:`oracle.nn` (stable float64 forms, TensorFlow's inclusive clip-gradient
convention).  Kinks: y_pred (or the normalised y_pred of ``class_loss_cls``,
whose kink then covers its whole row) on a clip bound once rounded to
``constants_dtype``, as the implementation under test holds it.  The regression
losses have none: smooth L1 is continuously differentiable at |t − y_pred| = 1.

Normalised losses divide by Σ(ε + m) = Σm + ε·numel(m) (ε = 1e-4 per element,
FRCNN-EPS-PER-ELEMENT); with m all zero the value is exactly 0.

Variants (docs/contracts.md divergences and named common mistakes; combinable unless
stated otherwise):

- ``FRCNN-SWAPPED-BCE`` (``rpn_loss_cls``): ``K.binary_crossentropy(y_pred, labels)``,
  i.e. BCE(target=y_pred, output=labels) with the 0/1 labels clipped.  The
  loss is then linear in ``y_pred``.
- ``FRCNN-NORM-AXIS`` (``rpn_loss_cls``): the normaliser sums ε + y_true[:, :A, :, :]
  (the first A rows of the map, every channel, ε per element of that slice).
  With ``data_format="channels_first"`` it is the mirror-image mistake,
  ε + y_true[..., :A] (the first A columns, every channel).
- ``EPS-ONCE`` (the three normalised losses): normaliser Σm + ε (ε once in total).
- ``MEAN-NOT-SUM`` (the three normalised losses): ``tf.reduce_mean(m * kernel)``
  with no normaliser, i.e. Σ m·kernel / numel(m).  Excludes ``EPS-ONCE`` and
  ``FRCNN-NORM-AXIS`` (there is no normaliser left to change).
- ``CLS-ALL-BATCH`` (``class_loss_cls``): the mean CCE over every batch element
  and RoI instead of batch element 0 only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from . import nn as _nn
from ._dtypes import clip_bounds, dtype_name, round_to
from ._spec import OracleSpec
from ._validate import as_float, convention_of, positive_int, same_shape, scalar_cotangent, variants_of, wrt_of

__all__ = ["class_loss_cls", "class_loss_regr", "rpn_loss_cls", "rpn_loss_regr"]

EPSILON = 1e-4  # normaliser epsilon, added once per element
EPSILON_K = 1e-7  # Keras backend epsilon (probability clipping)
LAMBDA_RPN_REGR = 1.0
LAMBDA_RPN_CLASS = 1.0
LAMBDA_CLS_REGR = 1.0
LAMBDA_CLS_CLASS = 1.0

DATA_FORMATS = ("channels_last", "channels_first")
REGR_VARIANTS = ("EPS-ONCE", "MEAN-NOT-SUM")
RPN_CLS_VARIANTS = ("FRCNN-SWAPPED-BCE", "FRCNN-NORM-AXIS", "EPS-ONCE", "MEAN-NOT-SUM")
CLS_VARIANTS = ("CLS-ALL-BATCH",)
_EXCLUSIVE = (("MEAN-NOT-SUM", "EPS-ONCE"), ("MEAN-NOT-SUM", "FRCNN-NORM-AXIS"))


# --------------------------------------------------------------------------- argument handling


def _variants(name: str, variants: Any, allowed: tuple[str, ...]) -> frozenset[str]:
    got = variants_of(name, variants, allowed)
    for a, b in _EXCLUSIVE:
        if a in got and b in got:
            raise ValueError(f"variants: {a!r} and {b!r} cannot be combined ({name})")
    return got


def _data_format(value: Any) -> str:
    if value not in DATA_FORMATS:
        raise ValueError(f"data_format: expected one of {DATA_FORMATS}, got {value!r}")
    return value


def _clip_bounds(constants_dtype: Any) -> tuple[str, float, float]:
    """(dtype name, ε_k, 1 − ε_k) with the constants as the implementation holds them in ``constants_dtype``."""
    dt = dtype_name(constants_dtype, "constants_dtype")
    lo, hi = clip_bounds(EPSILON_K, dt)
    return dt, lo, hi


def _at_bound(x: np.ndarray, constants_dtype: str, lo: float, hi: float) -> np.ndarray:
    """True where ``x`` (as the implementation would hold it) equals a clip bound."""
    r = round_to(constants_dtype, x)
    return (r == lo) | (r == hi)


def _check_channels(name: str, arr: np.ndarray, axis: int, size: int, what: str, fmt: str) -> None:
    if arr.shape[axis] != size:
        where = "last axis" if axis == arr.ndim - 1 else f"axis {axis} ({fmt})"
        raise ValueError(f"{name}: expected {where} of size {what} = {size}, got {arr.shape[axis]} (shape {arr.shape})")


def _prepare(
    count_name: str,
    count: Any,
    y_true: Any,
    y_pred: Any,
    rank: int,
    true_factor: int,
    pred_factor: int,
    fmt: str = "channels_last",
) -> tuple[int, np.ndarray, np.ndarray]:
    """Validate and return (count, y_true, y_pred) with channels moved last."""
    n = positive_int(count_name, count)
    yt = as_float("y_true", y_true, rank=rank)
    yp = as_float("y_pred", y_pred, rank=rank)
    axis = 1 if fmt == "channels_first" else rank - 1
    for name, arr, factor in (("y_true", yt, true_factor), ("y_pred", yp, pred_factor)):
        what = f"{factor}*{count_name}" if factor != 1 else count_name
        _check_channels(name, arr, axis, factor * n, what, fmt)
    lead_t = tuple(d for i, d in enumerate(yt.shape) if i != axis)
    lead_p = tuple(d for i, d in enumerate(yp.shape) if i != axis)
    if lead_t != lead_p:
        raise ValueError(f"y_pred: non-channel dimensions {lead_p} do not match y_true's {lead_t}")
    if fmt == "channels_first":
        yt, yp = np.moveaxis(yt, 1, -1), np.moveaxis(yp, 1, -1)
    return n, yt, yp


def _to_format(grad: np.ndarray, fmt: str) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(grad, -1, 1)) if fmt == "channels_first" else grad


# --------------------------------------------------------------------------- kernels (from oracle.nn)

_NN = {spec.name: spec for spec in _nn.SPECS}


def _smooth_l1(x: np.ndarray) -> np.ndarray:
    return _nn.smooth_l1(x)


def _smooth_l1_grad(x: np.ndarray) -> np.ndarray:
    """Elementwise derivative of smooth L1."""
    return _NN["smooth_l1"].vjp(np.ones_like(x), "x", x=x)


def _bce(t: np.ndarray, p: np.ndarray, convention: str, dt: str) -> np.ndarray:
    """Keras BCE(target=t, output=p) elementwise."""
    return _nn.binary_crossentropy(t, p, convention=convention, constants_dtype=dt)


def _bce_d_output(t: np.ndarray, p: np.ndarray, convention: str, dt: str) -> np.ndarray:
    """d BCE / d output elementwise, zero outside the inclusive clip range."""
    return _NN["binary_crossentropy"].vjp(
        np.ones_like(p), "output", target=t, output=p, convention=convention, constants_dtype=dt
    )


def _bce_d_target(p: np.ndarray, convention: str, dt: str) -> np.ndarray:
    """d BCE / d target = BCE(1, p) − BCE(0, p) (BCE is linear in its target)."""
    with np.errstate(invalid="ignore"):
        return _bce(np.ones_like(p), p, convention, dt) - _bce(np.zeros_like(p), p, convention, dt)


def _normaliser(m: np.ndarray, den: np.ndarray, variants: frozenset[str]) -> float:
    """Denominator of a normalised loss (``den`` is what the code sums, ``m`` the numerator mask)."""
    if "MEAN-NOT-SUM" in variants:
        return float(m.size)
    if "EPS-ONCE" in variants:
        return float(np.sum(den)) + EPSILON
    return float(np.sum(den)) + EPSILON * den.size


def _divide(num: float, den: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.float64(num) / np.float64(den))


# --------------------------------------------------------------------------- regression losses


def _regr_value(m: np.ndarray, t: np.ndarray, y: np.ndarray, variants: frozenset[str], lam: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        num = np.sum(m * _smooth_l1(t - y))
    return _divide(lam * num, _normaliser(m, m, variants))


def _regr_grad(m: np.ndarray, t: np.ndarray, y: np.ndarray, variants: frozenset[str], lam: float, c: float):
    with np.errstate(divide="ignore", invalid="ignore"):
        return -(c * lam) * m * _smooth_l1_grad(t - y) / _normaliser(m, m, variants)


def _regr_kinks(m: np.ndarray, t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """None: smooth L1 is continuously differentiable at |t − y_pred| = 1 (both pieces have slope ±1)."""
    return np.zeros(np.broadcast_shapes(m.shape, t.shape, y.shape), dtype=bool)


def _rpn_regr_parts(num_anchors, y_true, y_pred, data_format, variants):
    fmt = _data_format(data_format)
    vs = _variants("rpn_loss_regr", variants, REGR_VARIANTS)
    a, yt, yp = _prepare("num_anchors", num_anchors, y_true, y_pred, 4, 8, 4, fmt)
    return fmt, vs, yt[..., : 4 * a], yt[..., 4 * a :], yp


def rpn_loss_regr(
    num_anchors: int, *, variants: Iterable[str] = (), data_format: str = "channels_last"
) -> Callable[[Any, Any], np.ndarray]:
    """RPN box regression: λ·Σ m·smooth_l1(t − y_pred) / Σ(ε + m); y_true (B,H,W,8A), y_pred (B,H,W,4A)."""
    positive_int("num_anchors", num_anchors)
    _data_format(data_format)
    _variants("rpn_loss_regr", variants, REGR_VARIANTS)

    def rpn_loss_regr_fixed_num(y_true: Any, y_pred: Any) -> np.ndarray:
        _, vs, m, t, y = _rpn_regr_parts(num_anchors, y_true, y_pred, data_format, variants)
        return _regr_value(m, t, y, vs, LAMBDA_RPN_REGR)

    return rpn_loss_regr_fixed_num


def _rpn_regr_evaluate(*, num_anchors, y_true, y_pred, variants=(), data_format="channels_last"):
    return rpn_loss_regr(num_anchors, variants=variants, data_format=data_format)(y_true, y_pred)


def _rpn_regr_vjp(cotangent, wrt, *, num_anchors, y_true, y_pred, variants=(), data_format="channels_last"):
    wrt_of("rpn_loss_regr", wrt, ("y_pred",))
    c = scalar_cotangent(cotangent)
    fmt, vs, m, t, y = _rpn_regr_parts(num_anchors, y_true, y_pred, data_format, variants)
    return _to_format(_regr_grad(m, t, y, vs, LAMBDA_RPN_REGR, c), fmt)


def _rpn_regr_kinks(wrt, *, num_anchors, y_true, y_pred, variants=(), data_format="channels_last"):
    wrt_of("rpn_loss_regr", wrt, ("y_pred",))
    fmt, _, m, t, y = _rpn_regr_parts(num_anchors, y_true, y_pred, data_format, variants)
    return _to_format(_regr_kinks(m, t, y), fmt)


def _cls_regr_parts(num_classes, y_true, y_pred, variants):
    vs = _variants("class_loss_regr", variants, REGR_VARIANTS)
    c, yt, yp = _prepare("num_classes", num_classes, y_true, y_pred, 3, 8, 4)
    return vs, yt[..., : 4 * c], yt[..., 4 * c :], yp


def class_loss_regr(num_classes: int, *, variants: Iterable[str] = ()) -> Callable[[Any, Any], np.ndarray]:
    """Classifier box regression: λ·Σ m·smooth_l1(t − y_pred) / Σ(ε + m); y_true (B,R,8C), y_pred (B,R,4C)."""
    positive_int("num_classes", num_classes)
    _variants("class_loss_regr", variants, REGR_VARIANTS)

    def class_loss_regr_fixed_num(y_true: Any, y_pred: Any) -> np.ndarray:
        vs, m, t, y = _cls_regr_parts(num_classes, y_true, y_pred, variants)
        return _regr_value(m, t, y, vs, LAMBDA_CLS_REGR)

    return class_loss_regr_fixed_num


def _cls_regr_evaluate(*, num_classes, y_true, y_pred, variants=()):
    return class_loss_regr(num_classes, variants=variants)(y_true, y_pred)


def _cls_regr_vjp(cotangent, wrt, *, num_classes, y_true, y_pred, variants=()):
    wrt_of("class_loss_regr", wrt, ("y_pred",))
    c = scalar_cotangent(cotangent)
    vs, m, t, y = _cls_regr_parts(num_classes, y_true, y_pred, variants)
    return _regr_grad(m, t, y, vs, LAMBDA_CLS_REGR, c)


def _cls_regr_kinks(wrt, *, num_classes, y_true, y_pred, variants=()):
    wrt_of("class_loss_regr", wrt, ("y_pred",))
    _, m, t, y = _cls_regr_parts(num_classes, y_true, y_pred, variants)
    return _regr_kinks(m, t, y)


# --------------------------------------------------------------------------- rpn_loss_cls


def _rpn_cls_parts(num_anchors, y_true, y_pred, convention, constants_dtype, variants, data_format):
    fmt = _data_format(data_format)
    conv = convention_of(convention)
    vs = _variants("rpn_loss_cls", variants, RPN_CLS_VARIANTS)
    dt, lo, hi = _clip_bounds(constants_dtype)
    a, yt, yp = _prepare("num_anchors", num_anchors, y_true, y_pred, 4, 2, 1, fmt)
    v, z = yt[..., :a], yt[..., a:]
    if "FRCNN-NORM-AXIS" in vs:
        # NHWC: y_true[:, :A, :, :]; NCHW mirror: y_true[..., :A] (axis 2 once channels are last).
        den = yt[:, :a, :, :] if fmt == "channels_last" else yt[:, :, :a, :]
    else:
        den = v
    return fmt, conv, vs, (dt, lo, hi), v, z, den, yp


def rpn_loss_cls(
    num_anchors: int,
    *,
    convention: str = "keras-ops",
    constants_dtype: str = "float64",
    variants: Iterable[str] = (),
    data_format: str = "channels_last",
) -> Callable[[Any, Any], np.ndarray]:
    """RPN objectness: λ·Σ v·BCE(target=z, output=y_pred) / Σ(ε + v); y_true (B,H,W,2A), y_pred (B,H,W,A)."""
    positive_int("num_anchors", num_anchors)
    _data_format(data_format)
    convention_of(convention)
    _variants("rpn_loss_cls", variants, RPN_CLS_VARIANTS)
    _clip_bounds(constants_dtype)

    def rpn_loss_cls_fixed_num(y_true: Any, y_pred: Any) -> np.ndarray:
        _, conv, vs, (dt, _, _), v, z, den, yp = _rpn_cls_parts(
            num_anchors, y_true, y_pred, convention, constants_dtype, variants, data_format
        )
        kernel = _bce(yp, z, conv, dt) if "FRCNN-SWAPPED-BCE" in vs else _bce(z, yp, conv, dt)
        with np.errstate(invalid="ignore"):
            num = np.sum(v * kernel)
        return _divide(LAMBDA_RPN_CLASS * num, _normaliser(v, den, vs))

    return rpn_loss_cls_fixed_num


def _rpn_cls_evaluate(
    *,
    num_anchors,
    y_true,
    y_pred,
    convention="keras-ops",
    constants_dtype="float64",
    variants=(),
    data_format="channels_last",
):
    f = rpn_loss_cls(
        num_anchors, convention=convention, constants_dtype=constants_dtype, variants=variants, data_format=data_format
    )
    return f(y_true, y_pred)


def _rpn_cls_vjp(
    cotangent,
    wrt,
    *,
    num_anchors,
    y_true,
    y_pred,
    convention="keras-ops",
    constants_dtype="float64",
    variants=(),
    data_format="channels_last",
):
    wrt_of("rpn_loss_cls", wrt, ("y_pred",))
    c = scalar_cotangent(cotangent)
    fmt, conv, vs, (dt, _, _), v, z, den, yp = _rpn_cls_parts(
        num_anchors, y_true, y_pred, convention, constants_dtype, variants, data_format
    )
    d = _bce_d_target(z, conv, dt) if "FRCNN-SWAPPED-BCE" in vs else _bce_d_output(z, yp, conv, dt)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = (c * LAMBDA_RPN_CLASS) * v * d / _normaliser(v, den, vs)
    return _to_format(g, fmt)


def _rpn_cls_kinks(
    wrt,
    *,
    num_anchors,
    y_true,
    y_pred,
    convention="keras-ops",
    constants_dtype="float64",
    variants=(),
    data_format="channels_last",
):
    wrt_of("rpn_loss_cls", wrt, ("y_pred",))
    fmt, _, vs, (dt, lo, hi), v, _, _, yp = _rpn_cls_parts(
        num_anchors, y_true, y_pred, convention, constants_dtype, variants, data_format
    )
    if "FRCNN-SWAPPED-BCE" in vs:  # linear in y_pred: no kinks
        return _to_format(np.zeros(yp.shape, dtype=bool), fmt)
    return _to_format((v != 0) & _at_bound(yp, dt, lo, hi), fmt)


# --------------------------------------------------------------------------- class_loss_cls


def _cls_cls_parts(y_true, y_pred, convention, constants_dtype, variants):
    conv = convention_of(convention)
    vs = _variants("class_loss_cls", variants, CLS_VARIANTS)
    bounds = _clip_bounds(constants_dtype)
    yt = as_float("y_true", y_true, rank=3)
    yp = as_float("y_pred", y_pred, rank=3)
    same_shape("y_true", yt, "y_pred", yp)
    if yt.shape[0] < 1:
        raise ValueError(f"y_true: expected batch size >= 1 (batch element 0 is used), got shape {yt.shape}")
    k = yt.shape[-1]
    if "CLS-ALL-BATCH" in vs:
        t, p = yt.reshape(-1, k), yp.reshape(-1, k)
    else:
        t, p = yt[0], yp[0]
    return conv, vs, bounds, yp, t, p


def _cce_kw(t: np.ndarray, p: np.ndarray, conv: str, dt: str) -> dict[str, Any]:
    return {"target": t, "output": p, "axis": -1, "convention": conv, "constants_dtype": dt}


def class_loss_cls(
    y_true: Any,
    y_pred: Any,
    *,
    convention: str = "keras-ops",
    constants_dtype: str = "float64",
    variants: Iterable[str] = (),
) -> np.ndarray:
    """Classifier CCE: λ·mean over RoIs of CCE(y_true[0, r], y_pred[0, r]); only batch element 0 counts.

    Keras' probability CCE is the same under both conventions (no ε inside the
    log); ``convention`` is accepted for uniformity.  No RoI gives NaN (an empty mean).
    """
    conv, _, (dt, _, _), _, t, p = _cls_cls_parts(y_true, y_pred, convention, constants_dtype, variants)
    if t.shape[0] == 0:
        return np.asarray(np.nan)
    per_row = _nn.categorical_crossentropy(t, p, -1, convention=conv, constants_dtype=dt)
    return np.asarray(LAMBDA_CLS_CLASS * np.mean(per_row))


def _cls_cls_evaluate(*, y_true, y_pred, convention="keras-ops", constants_dtype="float64", variants=()):
    return class_loss_cls(y_true, y_pred, convention=convention, constants_dtype=constants_dtype, variants=variants)


def _cls_cls_vjp(cotangent, wrt, *, y_true, y_pred, convention="keras-ops", constants_dtype="float64", variants=()):
    wrt_of("class_loss_cls", wrt, ("y_pred",))
    c = scalar_cotangent(cotangent)
    conv, vs, (dt, _, _), yp, t, p = _cls_cls_parts(y_true, y_pred, convention, constants_dtype, variants)
    out = np.zeros_like(yp)
    if t.shape[0] == 0:
        return out
    w = np.full(t.shape[0], c * LAMBDA_CLS_CLASS / t.shape[0])
    g = _NN["categorical_crossentropy"].vjp(w, "output", **_cce_kw(t, p, conv, dt))
    if "CLS-ALL-BATCH" in vs:
        return g.reshape(yp.shape)
    out[0] = g
    return out


def _cls_cls_kinks(wrt, *, y_true, y_pred, convention="keras-ops", constants_dtype="float64", variants=()):
    wrt_of("class_loss_cls", wrt, ("y_pred",))
    conv, vs, (dt, lo, hi), yp, t, p = _cls_cls_parts(y_true, y_pred, convention, constants_dtype, variants)
    out = np.zeros(yp.shape, dtype=bool)
    if t.shape[0] == 0:
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        q = p / np.sum(p, axis=-1, keepdims=True)
    # A normalised value on a bound (where its target weight is non-zero) affects the whole row;
    # also on a bound once rounded to constants_dtype, as the implementation holds it.
    row = np.any((t != 0) & _at_bound(q, dt, lo, hi), axis=-1, keepdims=True)
    mask = np.broadcast_to(row, p.shape) | _NN["categorical_crossentropy"].kinks("output", **_cce_kw(t, p, conv, dt))
    if "CLS-ALL-BATCH" in vs:
        return mask.reshape(yp.shape).copy()
    out[0] = mask
    return out


SPECS: list[OracleSpec] = [
    OracleSpec(
        name="rpn_loss_regr",
        family="frcnn",
        evaluate=_rpn_regr_evaluate,
        vjp=_rpn_regr_vjp,
        kinks=_rpn_regr_kinks,
        diff_args=("y_pred",),
        conventions=False,
        variants=REGR_VARIANTS,
    ),
    OracleSpec(
        name="rpn_loss_cls",
        family="frcnn",
        evaluate=_rpn_cls_evaluate,
        vjp=_rpn_cls_vjp,
        kinks=_rpn_cls_kinks,
        diff_args=("y_pred",),
        conventions=True,
        variants=RPN_CLS_VARIANTS,
    ),
    OracleSpec(
        name="class_loss_regr",
        family="frcnn",
        evaluate=_cls_regr_evaluate,
        vjp=_cls_regr_vjp,
        kinks=_cls_regr_kinks,
        diff_args=("y_pred",),
        conventions=False,
        variants=REGR_VARIANTS,
    ),
    OracleSpec(
        name="class_loss_cls",
        family="frcnn",
        evaluate=_cls_cls_evaluate,
        vjp=_cls_cls_vjp,
        kinks=_cls_cls_kinks,
        diff_args=("y_pred",),
        conventions=True,
        variants=CLS_VARIANTS,
    ),
]
