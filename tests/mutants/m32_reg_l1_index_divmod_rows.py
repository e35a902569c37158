"""CenterNet reg_l1_loss converting flat indices to (row, column) by dividing by H instead of W."""

from typing import Any

from conformance.targets.catalogue import EPSILON

TARGETS = ("reg_l1_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = ("row, col = divmod(index, H) for a row-major H·W grid: right on square maps; on non-square ones "
               "the wrong cell or an out-of-range gather")
KIND = "non-square"


def reg_l1_loss(self: Any, y_pred: Any, y_true: Any, indices: Any, mask: Any) -> Any:
    o = self.ops
    y_pred = o.as_float(y_pred)
    dtype = o.dtype(y_pred)
    y_true = o.cast(y_true, dtype)
    mask = o.cast(mask, dtype)
    idx = o.cast(o.tensor(indices), "int32")
    _, rows, cols, _ = o.shape(y_pred)
    flat = o.reshape(y_pred, (-1, rows * cols, 2))
    g = o.gather_rows(flat, (idx // rows) * cols + idx % rows)
    m = o.expand_dims(mask, -1)
    m = o.concatenate([m, m], axis=-1)
    return o.sum(o.abs(y_true * m - g * m)) / (o.sum(m) + o.const(EPSILON, dtype))
