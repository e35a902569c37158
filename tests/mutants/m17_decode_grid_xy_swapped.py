"""YOLOv3 decode adding (row, column) instead of (column, row) to the cell offsets."""

from typing import Any

from conformance.targets.catalogue import Catalogue

TARGETS = ("decode",)
CATEGORIES = ("value",)
DESCRIPTION = "grid built as concat([grid_y, grid_x]): x gets the row index and y the column index"
KIND = "formula"


def cell_offsets(self: Any, like: Any, rows: Any, cols: Any, dtype: str) -> Any:
    grid = Catalogue.cell_offsets(self, like, rows, cols, dtype)  # (column, row)
    return self.ops.concatenate([grid[..., 1:2], grid[..., 0:1]], axis=-1)
