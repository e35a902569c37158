"""The Faster R-CNN objectness loss's form, step by step, for its running error bound
(:mod:`conformance.numerics.form_bounds`; the arithmetic ``d`` as in :mod:`conformance.numerics.crossentropy_forms`).

``rpn_loss_cls`` as the contract reads the documents: λ·Σ v·BCE(target = z, output = y_pred) / Σ(ε + v), with
y_true = [v | z] along the last axis (channels last), BCE in either clipping convention, sums over every element.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.numerics.crossentropy_forms import bce
from oracle.frcnn import EPSILON, LAMBDA_RPN_CLASS


def _rpn_loss_cls(d: Any, y_pred: Any, y_true: Any, num_anchors: Any, legacy: bool) -> Any:
    a, yt = int(num_anchors), np.asarray(y_true, dtype=np.float64)
    v = d.a(yt[..., :a])
    num = d.sum(d.f(v * bce(d, d.a(yt[..., a:]), y_pred, legacy)), None)
    den = d.sum(d.f(d.c(EPSILON) + v), None)
    return d.f(d.f(d.c(LAMBDA_RPN_CLASS) * num) / den)[(0,) * yt.ndim]


FORMS = {"rpn_loss_cls": (("y_pred",), ("y_true", "num_anchors"),
                          [lambda d, p, t, a, lg=lg: _rpn_loss_cls(d, p, t, a, lg) for lg in (False, True)])}
