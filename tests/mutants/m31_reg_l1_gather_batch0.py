"""CenterNet reg_l1_loss gathering with batch element 0's indices for every image."""

from typing import Any

TARGETS = ("reg_l1_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "every image gathered at batch element 0's indices (indices[0] broadcast) instead of its own"
KIND = "batch>1"


def gather_cells(self: Any, flat: Any, idx: Any, rows: Any, cols: Any) -> Any:
    o = self.ops
    return o.gather_rows(flat, o.broadcast_to(idx[0:1], o.shape(idx)))
