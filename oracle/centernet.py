"""CenterNet losses (docs/contracts.md): ``focal_loss``, ``reg_l1_loss`` and the total ``loss``.

Everything is float64; only the log-clip constant ε_c = 1e-6 is rounded to
``constants_dtype``.  ``reg_l1_loss`` divides by Σ M + ε with ε = 1e-4 added
once (contrast with Faster R-CNN).

VJPs follow TensorFlow: a clip passes the gradient when ε_c ≤ value ≤ 1
(inclusive); ``tf.sign(0) = 0`` at the |·| kink; the gather's gradient is
scattered back with duplicate indices accumulating.  Kinks: for
``focal_loss``, p (positives) or 1 − p (negatives) on ε_c or 1 once rounded to
``constants_dtype``; for ``reg_l1_loss``, y_true = g where M ≠ 0, marked at the
gathered y_pred element.

Variants (named common mistakes):

- ``EPS-PER-ELEMENT`` (``reg_l1_loss``, ``loss``): the normaliser is Σ(M + ε),
  ε once per element of the tiled mask M (B·K·2 elements), as in Faster R-CNN.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ._dtypes import dtype_name, round_to
from ._spec import OracleSpec
from ._validate import as_float, as_index, same_shape, scalar_cotangent, variants_of, wrt_of

__all__ = ["focal_loss", "loss", "reg_l1_loss"]

EPSILON = 1e-4  # reg_l1_loss normaliser epsilon, added once
EPSILON_C = 1e-6  # focal-loss log clip
ALPHA = 2
BETA = 4
WH_WEIGHT = 0.1

REG_VARIANTS = ("EPS-PER-ELEMENT",)
ARG_NAMES = ("hm_pred", "wh_pred", "reg_pred", "hm_true", "wh_true", "reg_true", "reg_mask", "indices")


# --------------------------------------------------------------------------- focal_loss


def _focal_parts(hm_pred: Any, hm_true: Any, constants_dtype: str, names=("hm_pred", "hm_true")):
    eps = float(round_to(dtype_name(constants_dtype, "constants_dtype"), EPSILON_C))
    p = as_float(names[0], hm_pred, rank=4)
    h = as_float(names[1], hm_true, rank=4)
    same_shape(names[0], p, names[1], h)
    pos = h == 1.0
    neg = h < 1.0
    return eps, p, h, pos, neg


def _nlog_q(eps: float, p: np.ndarray) -> np.ndarray:
    """−log clip(1 − p, ε_c, 1), with log1p keeping 1 − p exact."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(1.0 - p < eps, -np.log(eps), np.where(p < 0.0, 0.0, -np.log1p(-np.maximum(p, 0.0))))


def _beta_weight(h: np.ndarray) -> np.ndarray:
    """(1 − h)^β for β = 4, as two squarings."""
    t = 1.0 - h
    t = t * t
    return t * t


def _focal_value(eps: float, p, h, pos, neg) -> np.ndarray:
    """Each term is evaluated only on its own elements (positives, negatives); the others contribute 0."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        pp = p[pos]
        one_m_p = 1.0 - pp
        # −log clip(p, ε_c, 1) · (1 − p)^α
        pos_loss = np.sum(-np.log(np.clip(pp, eps, 1.0)) * (one_m_p * one_m_p))
        pn = p[neg]
        neg_loss = np.sum(_nlog_q(eps, pn) * (pn * pn) * _beta_weight(h[neg]))
        num_pos = np.count_nonzero(pos)
    return np.asarray((pos_loss + neg_loss) / num_pos if num_pos > 0 else neg_loss, dtype=np.float64)


def _focal_grad(eps: float, p, h, pos, neg, c: float) -> np.ndarray:
    g = np.zeros(p.shape)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        pp = p[pos]
        one_m_p = 1.0 - pp
        P = np.clip(pp, eps, 1.0)
        # d/dp [−log P·(1−p)²] = −[pass]·(1−p)²/P + 2(1−p)·log P
        g[pos] = np.where((pp >= eps) & (pp <= 1.0), -(one_m_p**2) / P, 0.0) + 2.0 * one_m_p * np.log(P)
        pn = p[neg]
        one_m_p = 1.0 - pn
        pass_q = (one_m_p >= eps) & (pn >= 0.0)  # ε_c ≤ 1 − p ≤ 1
        Q = np.clip(one_m_p, eps, 1.0)
        # d/dp [−log Q·p²·w] = ([pass]/Q·p² + 2p·(−log Q))·w, w = (1−h)^4
        g[neg] = (np.where(pass_q, pn * pn / Q, 0.0) + 2.0 * pn * _nlog_q(eps, pn)) * _beta_weight(h[neg])
        num_pos = np.count_nonzero(pos)
        scale = c / num_pos if num_pos > 0 else c
        return scale * g


def _focal_kinks(eps: float, constants_dtype: str, p, pos, neg) -> np.ndarray:
    rp = round_to(constants_dtype, p)
    rq = round_to(constants_dtype, 1.0 - p)
    on_p = (rp == eps) | (rp == 1.0)
    on_q = (rq == eps) | (rq == 1.0)
    return (pos & on_p) | (neg & on_q)


def focal_loss(hm_pred: Any, hm_true: Any, *, constants_dtype: str = "float64") -> np.ndarray:
    """Heatmap focal loss: (pos_loss + neg_loss) / num_pos, or neg_loss when there is no positive.

    pos = [hm_true = 1], neg = [hm_true < 1] (values above 1 are neither), p clipped to [ε_c, 1]
    inside the logs, α = 2, β = 4.
    """
    return _focal_value(*_focal_parts(hm_pred, hm_true, constants_dtype))


def _focal_evaluate(*, hm_pred, hm_true, constants_dtype="float64"):
    return focal_loss(hm_pred, hm_true, constants_dtype=constants_dtype)


def _focal_vjp(cotangent, wrt, *, hm_pred, hm_true, constants_dtype="float64"):
    wrt_of("focal_loss", wrt, ("hm_pred",))
    c = scalar_cotangent(cotangent)
    return _focal_grad(*_focal_parts(hm_pred, hm_true, constants_dtype), c)


def _focal_kinks_u(wrt, *, hm_pred, hm_true, constants_dtype="float64"):
    wrt_of("focal_loss", wrt, ("hm_pred",))
    eps, p, _, pos, neg = _focal_parts(hm_pred, hm_true, constants_dtype)
    return _focal_kinks(eps, constants_dtype, p, pos, neg)


# --------------------------------------------------------------------------- reg_l1_loss


def _reg_parts(y_pred, y_true, indices, mask, variants, names=("y_pred", "y_true", "indices", "mask"), who=None):
    n_pred, n_true, n_idx, n_mask = names
    vs = variants_of(who or "reg_l1_loss", variants, REG_VARIANTS)
    yp = as_float(n_pred, y_pred, rank=4)
    if yp.shape[-1] != 2:
        raise ValueError(
            f"{n_pred}: expected last axis of size 2 (the mask is tiled over exactly 2 channels), "
            f"got {yp.shape[-1]} (shape {yp.shape})"
        )
    b, hgt, wid, _ = yp.shape
    yt = as_float(n_true, y_true, rank=3)
    if yt.shape[0] != b or yt.shape[-1] != 2:
        raise ValueError(f"{n_true}: expected shape (B, K, 2) with B = {b} from {n_pred}, got {yt.shape}")
    k = yt.shape[1]
    idx_arr = np.asarray(indices)
    if idx_arr.shape != (b, k):
        raise ValueError(f"{n_idx}: expected shape (B, K) = {(b, k)}, got {idx_arr.shape}")
    idx = as_index(n_idx, idx_arr, 0, hgt * wid)
    m = as_float(n_mask, mask)
    if m.shape != (b, k):
        raise ValueError(f"{n_mask}: expected shape (B, K) = {(b, k)}, got {m.shape}")
    g = yp.reshape(b, hgt * wid, 2)[np.arange(b)[:, None], idx]  # (B, K, 2)
    M = np.repeat(m[..., None], 2, axis=-1)
    den = (np.sum(M) + EPSILON * M.size) if "EPS-PER-ELEMENT" in vs else (np.sum(M) + EPSILON)
    return yp, yt, idx, M, g, float(den)


def _reg_value(yp, yt, idx, M, g, den) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        # |y_true·M − g·M| = |M|·|y_true − g| (no cancellation in the products)
        return np.asarray(np.sum(np.abs(M) * np.abs(yt - g)) / den, dtype=np.float64)


def _reg_grad(yp, yt, idx, M, g, den, c: float) -> np.ndarray:
    b, hgt, wid, _ = yp.shape
    with np.errstate(invalid="ignore", divide="ignore"):
        dg = -c * np.abs(M) * np.sign(yt - g) / den  # sign(0) = 0, as tf.sign
    out = np.zeros((b, hgt * wid, 2))
    np.add.at(out, (np.arange(b)[:, None], idx), dg)  # duplicate indices accumulate
    return out.reshape(yp.shape)


def _reg_kinks(yp, yt, idx, M, g) -> np.ndarray:
    b, hgt, wid, _ = yp.shape
    kink = (M != 0) & ((yt == g) | (yt * M == g * M))
    out = np.zeros((b, hgt * wid, 2), dtype=bool)
    np.logical_or.at(out, (np.arange(b)[:, None], idx), kink)
    return out.reshape(yp.shape)


def reg_l1_loss(y_pred: Any, y_true: Any, indices: Any, mask: Any, *, variants: Iterable[str] = ()) -> np.ndarray:
    """Masked L1 at gathered centres: Σ|y_true·M − g·M| / (Σ M + ε), g = y_pred (B,H·W,2) gathered at indices."""
    return _reg_value(*_reg_parts(y_pred, y_true, indices, mask, variants))


def _reg_evaluate(*, y_pred, y_true, indices, mask, variants=()):
    return reg_l1_loss(y_pred, y_true, indices, mask, variants=variants)


def _reg_vjp(cotangent, wrt, *, y_pred, y_true, indices, mask, variants=()):
    wrt_of("reg_l1_loss", wrt, ("y_pred",))
    c = scalar_cotangent(cotangent)
    return _reg_grad(*_reg_parts(y_pred, y_true, indices, mask, variants), c)


def _reg_kinks_u(wrt, *, y_pred, y_true, indices, mask, variants=()):
    wrt_of("reg_l1_loss", wrt, ("y_pred",))
    return _reg_kinks(*_reg_parts(y_pred, y_true, indices, mask, variants)[:5])


# --------------------------------------------------------------------------- total loss


def _unpack(args: Any) -> Sequence[Any]:
    if isinstance(args, (str, bytes)) or not isinstance(args, (Sequence, np.ndarray)) or len(args) != 8:
        got = len(args) if isinstance(args, (Sequence, np.ndarray)) else type(args).__name__
        raise ValueError(f"args: expected a list of 8 tensors [{', '.join(ARG_NAMES)}], got {got}")
    return args


def _loss_parts(args, constants_dtype, variants):
    hm_pred, wh_pred, reg_pred, hm_true, wh_true, reg_true, reg_mask, indices = _unpack(args)
    focal = _focal_parts(hm_pred, hm_true, constants_dtype)
    wh = _reg_parts(
        wh_pred, wh_true, indices, reg_mask, variants, ("wh_pred", "wh_true", "indices", "reg_mask"), "loss"
    )
    reg = _reg_parts(
        reg_pred, reg_true, indices, reg_mask, variants, ("reg_pred", "reg_true", "indices", "reg_mask"), "loss"
    )
    return focal, wh, reg


def loss(args: Sequence[Any], *, constants_dtype: str = "float64", variants: Iterable[str] = ()) -> np.ndarray:
    """Total: focal_loss(hm) + 0.1·reg_l1_loss(wh) + reg_l1_loss(reg).

    ``args = [hm_pred, wh_pred, reg_pred, hm_true, wh_true, reg_true, reg_mask, indices]``.
    """
    focal, wh, reg = _loss_parts(args, constants_dtype, variants)
    return np.asarray(_focal_value(*focal) + WH_WEIGHT * _reg_value(*wh) + _reg_value(*reg), dtype=np.float64)


def _loss_evaluate(*, args, constants_dtype="float64", variants=()):
    return loss(args, constants_dtype=constants_dtype, variants=variants)


_LOSS_WRT = ("hm_pred", "wh_pred", "reg_pred")


def _loss_vjp(cotangent, wrt, *, args, constants_dtype="float64", variants=()):
    wrt_of("loss", wrt, _LOSS_WRT)
    c = scalar_cotangent(cotangent)
    focal, wh, reg = _loss_parts(args, constants_dtype, variants)
    if wrt == "hm_pred":
        return _focal_grad(*focal, c)
    if wrt == "wh_pred":
        return _reg_grad(*wh, WH_WEIGHT * c)
    return _reg_grad(*reg, c)


def _loss_kinks(wrt, *, args, constants_dtype="float64", variants=()):
    wrt_of("loss", wrt, _LOSS_WRT)
    focal, wh, reg = _loss_parts(args, constants_dtype, variants)
    if wrt == "hm_pred":
        eps, p, _, pos, neg = focal
        return _focal_kinks(eps, constants_dtype, p, pos, neg)
    return _reg_kinks(*(wh if wrt == "wh_pred" else reg)[:5])


SPECS: list[OracleSpec] = [
    OracleSpec(
        name="focal_loss",
        family="centernet",
        evaluate=_focal_evaluate,
        vjp=_focal_vjp,
        kinks=_focal_kinks_u,
        diff_args=("hm_pred",),
        conventions=False,
    ),
    OracleSpec(
        name="reg_l1_loss",
        family="centernet",
        evaluate=_reg_evaluate,
        vjp=_reg_vjp,
        kinks=_reg_kinks_u,
        diff_args=("y_pred",),
        conventions=False,
        variants=REG_VARIANTS,
    ),
    OracleSpec(
        name="loss",
        family="centernet",
        evaluate=_loss_evaluate,
        vjp=_loss_vjp,
        kinks=_loss_kinks,
        diff_args=_LOSS_WRT,
        conventions=False,
        variants=REG_VARIANTS,
    ),
]
