"""CenterNet reg_l1_loss gathering with a (B, K, 1) index: only channel 0 is gathered."""

from typing import Any

import torch

from conformance.targets.catalogue import EPSILON
from conformance.targets.reference_torch import *  # noqa: F403
from conformance.targets.reference_torch import REFERENCE as R

TARGETS = ("reg_l1_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = ("torch.gather(flat, 1, indices.unsqueeze(-1)): the index has one channel, so g is (B, K, 1) and "
               "broadcasts channel 0 of y_pred against both channels of y_true")
KIND = "formula"


def reg_l1_loss(y_pred: Any, y_true: Any, indices: Any, mask: Any) -> torch.Tensor:
    y_pred = R.ops.as_float(y_pred)
    y_true = R.ops.cast(y_true, y_pred.dtype)
    mask = R.ops.cast(mask, y_pred.dtype)
    idx = R.ops.cast(indices, "int64")
    flat = y_pred.reshape(y_pred.shape[0], -1, y_pred.shape[-1])
    g = torch.gather(flat, 1, idx.unsqueeze(-1))
    m = mask.unsqueeze(-1).expand(-1, -1, 2)
    return torch.sum(torch.abs(y_true * m - g * m)) / (torch.sum(m) + R.ops.const(EPSILON, y_pred.dtype))
