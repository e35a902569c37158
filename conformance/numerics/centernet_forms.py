"""The CenterNet heatmap focal loss's form, step by step, for its running error bound
(:mod:`conformance.numerics.form_bounds`; the arithmetic ``d`` as in :mod:`conformance.numerics.crossentropy_forms`).

The documents' form: pos = [y = 1], neg = [y < 1] (decided on the exact inputs), the masks applied by selection
(a product with 0 or 1 is exact in every form), sums over every element.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from oracle.centernet import EPSILON_C as EPS_C  # the clip of the heatmap focal loss's logs


def _focal_loss(d: Any, p: Any, y: Any) -> Any:
    """(Σ_pos −log clip(p)·(1 − p)² + Σ_neg −log clip(1 − p)·p²·(1 − y)⁴) / num_pos, or the negatives' sum alone
    where no element is positive."""
    exact_y = np.asarray(getattr(y, "mid", y), dtype=np.float64)
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


FORMS = {"focal_loss": (("hm_pred", "hm_true"), (), [_focal_loss])}
