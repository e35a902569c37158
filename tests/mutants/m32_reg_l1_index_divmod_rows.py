"""CenterNet reg_l1_loss converting flat indices to (row, column) by dividing by H instead of W."""

from typing import Any

TARGETS = ("reg_l1_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = ("row, col = divmod(index, H) for a row-major H·W grid: right on square maps; on non-square ones "
               "the wrong cell or an out-of-range gather")
KIND = "non-square"


def gather_cells(self: Any, flat: Any, idx: Any, rows: Any, cols: Any) -> Any:
    return self.ops.gather_rows(flat, (idx // rows) * cols + idx % rows)
