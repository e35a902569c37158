"""CenterNet reg_l1_loss gathering with batch element 0's indices for every image."""

from typing import Any

from conformance.targets.catalogue import EPSILON

TARGETS = ("reg_l1_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "every image gathered at batch element 0's indices (indices[0] broadcast) instead of its own"
KIND = "batch>1"


def reg_l1_loss(self: Any, y_pred: Any, y_true: Any, indices: Any, mask: Any) -> Any:
    o = self.ops
    y_pred = o.as_float(y_pred)
    dtype = o.dtype(y_pred)
    y_true = o.cast(y_true, dtype)
    mask = o.cast(mask, dtype)
    idx = o.cast(o.tensor(indices), "int32")
    _, rows, cols, _ = o.shape(y_pred)
    flat = o.reshape(y_pred, (-1, rows * cols, 2))
    g = o.gather_rows(flat, o.broadcast_to(idx[0:1], o.shape(idx)))
    m = o.expand_dims(mask, -1)
    m = o.concatenate([m, m], axis=-1)
    return o.sum(o.abs(y_true * m - g * m)) / (o.sum(m) + o.const(EPSILON, dtype))
