"""CenterNet reg_l1_loss normalised by Σ(M + ε) (Faster R-CNN style) instead of ΣM + ε."""

from typing import Any

from conformance.targets.catalogue import EPSILON

TARGETS = ("reg_l1_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "Σ(m + ε): ε added once per element, the contract adds it once in total"
KIND = "formula"


def reg_l1_loss(self: Any, y_pred: Any, y_true: Any, indices: Any, mask: Any) -> Any:
    o = self.ops
    y_pred = o.as_float(y_pred)
    dtype = o.dtype(y_pred)
    y_true = o.cast(y_true, dtype)
    mask = o.cast(mask, dtype)
    idx = o.cast(o.tensor(indices), "int32")
    _, rows, cols, _ = o.shape(y_pred)
    flat = o.reshape(y_pred, (-1, rows * cols, 2))
    g = o.gather_rows(flat, idx)
    m = o.expand_dims(mask, -1)
    m = o.concatenate([m, m], axis=-1)
    return o.sum(o.abs(y_true * m - g * m)) / o.sum(m + o.const(EPSILON, dtype))
