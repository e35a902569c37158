"""The CenterNet losses' forms, step by step, for their running error bounds (:mod:`conformance.numerics.form_bounds`;
the arithmetic ``d`` as in :mod:`conformance.numerics.crossentropy_forms`).

The documents' forms: the heatmap focal loss with pos = [y = 1], neg = [y < 1] (decided on the exact inputs), the
masks applied by selection (a product with 0 or 1 is exact in every form), sums over every element; the L1 loss of
the gathered predictions, |y_true·M − gather(y_pred)·M| summed over (Σ M + ε); the total, focal + 0.1·L1(wh) + L1(reg).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.numerics.bounds import exact
from oracle.centernet import EPSILON, WH_WEIGHT
from oracle.centernet import EPSILON_C as EPS_C  # the clip of the heatmap focal loss's logs


def _focal_loss(d: Any, p: Any, y: Any) -> Any:
    """(Σ_pos −log clip(p)·(1 − p)² + Σ_neg −log clip(1 − p)·p²·(1 − y)⁴) / num_pos, or the negatives' sum alone
    where no element is positive."""
    exact_y = exact(y)
    pos, neg = exact_y == 1.0, exact_y < 1.0
    one, eps = d.c(1.0), d.c(EPS_C)
    rest = d.f(one - p)
    pos_terms = -d.f(d.log(d.minimum(d.maximum(p, eps), one)) * d.pow(rest, 2.0))
    weight = d.pow(d.f(one - y), 4.0)
    neg_terms = -d.f(d.f(d.log(d.minimum(d.maximum(rest, eps), one)) * d.pow(p, 2.0)) * weight)
    zero = d.c(0.0)
    total_pos, total_neg = d.sum(d.where(pos, pos_terms, zero), None), d.sum(d.where(neg, neg_terms, zero), None)
    n = float(np.sum(pos))
    out = d.f(d.f(total_pos + total_neg) / d.c(n)) if n > 0 else total_neg
    return out[(0,) * exact_y.ndim]  # the scalar


def _reg_l1(d: Any, y_pred: Any, y_true: Any, indices: Any, mask: Any) -> Any:
    """Σ |y_true·M − gather(y_pred, indices)·M| / (Σ M + ε), M the mask repeated over the channels."""
    yp = np.asarray(y_pred, dtype=np.float64)
    b, c = yp.shape[0], yp.shape[-1]
    flat = yp.reshape(b, -1, c)
    idx = np.clip(np.asarray(indices, dtype=np.int64), 0, flat.shape[1] - 1)  # out of range: not drawn
    gathered = d.take(d.a(flat), np.broadcast_to(idx[..., None], idx.shape + (c,)), 1)
    m = np.broadcast_to(np.asarray(mask, dtype=np.float64)[..., None], idx.shape + (c,))
    big_m = d.c(m)
    total = d.sum(d.abs(d.f(d.f(d.a(y_true) * big_m) - d.f(gathered * big_m))), None)
    return d.f(total / d.f(d.sum(big_m, None) + d.c(EPSILON)))[0, 0, 0]


def _loss(d: Any, hm_pred: Any, wh_pred: Any, reg_pred: Any, hm_true: Any, wh_true: Any, reg_true: Any,
          reg_mask: Any, indices: Any) -> Any:
    focal = _focal_loss(d, d.a(hm_pred), d.a(hm_true))
    wh = d.f(d.c(WH_WEIGHT) * _reg_l1(d, wh_pred, wh_true, indices, reg_mask))
    return d.f(d.f(focal + wh) + _reg_l1(d, reg_pred, reg_true, indices, reg_mask))


FORMS = {"focal_loss": (("hm_pred", "hm_true"), (), [_focal_loss]),
         "reg_l1_loss": ((), ("y_pred", "y_true", "indices", "mask"), [_reg_l1]),
         "loss": ((), ("hm_pred", "wh_pred", "reg_pred", "hm_true", "wh_true", "reg_true", "reg_mask", "indices"),
                  [_loss])}
