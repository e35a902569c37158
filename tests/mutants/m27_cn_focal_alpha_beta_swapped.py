"""CenterNet focal loss with α and β swapped (α = 4, β = 2)."""

from typing import Any

from conformance.targets.catalogue import EPSILON_CENTERNET

TARGETS = ("focal_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "(1−p)^4, p^4 and (1−y)^2 instead of (1−p)^2, p^2 and (1−y)^4"
KIND = "formula"


def focal_loss(self: Any, hm_pred: Any, hm_true: Any) -> Any:
    o = self.ops
    p = o.as_float(hm_pred)
    dtype = o.dtype(p)
    y = o.cast(hm_true, dtype)
    eps, one = o.const(EPSILON_CENTERNET, dtype), o.ones_like(p)
    alpha, beta = o.const(4.0, dtype), o.const(2.0, dtype)
    pos = o.cast(o.equal(y, 1), dtype)
    neg = o.cast(y < 1, dtype)
    pos_log = -o.log(self.clip(p, eps, one))
    neg_log = -o.log(self.clip(1 - p, eps, one))
    pos_loss = o.sum(pos_log * (o.power(1 - p, alpha)) * pos)
    neg_loss = o.sum(neg_log * (o.power(p, alpha)) * o.power(1 - y, beta) * neg)
    num_pos = o.sum(pos)
    return o.where(num_pos > 0, (pos_loss + neg_loss) / self.maximum(num_pos, o.ones_like(num_pos)), neg_loss)
