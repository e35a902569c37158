"""YOLOv3 decode with torch.meshgrid's default "ij" indexing read as (x, y)."""

from typing import Any

import torch

from conformance.targets.reference_torch import *  # noqa: F403
from conformance.targets.reference_torch import REFERENCE as R
from conformance.targets.reference_torch import sigmoid

TARGETS = ("decode",)
CATEGORIES = ("value",)
DESCRIPTION = ("grid_x, grid_y = torch.meshgrid(arange(cols), arange(rows)): the default indexing is 'ij', so "
               "grid_x holds the row index and grid_y the column index (transposed cell offsets)")
KIND = "formula"


def decode(conv_output: Any, anchors: Any, stride: Any, num_class: int) -> torch.Tensor:
    conv = R.ops.as_float(conv_output)
    n = int(num_class)
    anc, a = R.anchor_table(anchors, conv.dtype)
    stride_c = R.ops.const(stride, conv.dtype)
    batch, rows, cols = conv.shape[0], conv.shape[1], conv.shape[2]
    raw = conv.reshape(batch, rows, cols, a, 5 + n)
    grid_x, grid_y = torch.meshgrid(torch.arange(cols), torch.arange(rows))  # square grid: shapes agree
    grid = torch.stack([grid_x, grid_y], dim=-1).to(conv.dtype)[:, :, None, :]
    xy = (sigmoid(raw[..., 0:2]) + grid) * stride_c
    wh = torch.exp(raw[..., 2:4]) * anc * stride_c
    return torch.cat([xy, wh, sigmoid(raw[..., 4:5]), sigmoid(raw[..., 5:])], dim=-1)
