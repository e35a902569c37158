"""Weighted sigmoid cross-entropy written with torch.relu and torch.abs (TF-WCE-GRAD-AT-ZERO)."""

from typing import Any

import torch

from conformance.targets.reference_torch import *  # noqa: F403
from conformance.targets.reference_torch import REFERENCE as R

TARGETS = ("weighted_cross_entropy_with_logits",)
CATEGORIES = ("gradient",)
DESCRIPTION = ("(1−z)·x + (1+(q−1)z)·(log1p(e^{−|x|}) + relu(−x)): relu'(0) = abs'(0) = 0 in PyTorch, so the "
               "gradient at logits == 0 is 1 − z instead of (1 − z) − (1 + (q − 1)z)/2")
KIND = "divergence"


def weighted_cross_entropy_with_logits(labels: Any = None, logits: Any = None, pos_weight: Any = 1.0) -> torch.Tensor:
    x = R.ops.as_float(logits)
    z = R.ops.cast(labels, x.dtype)
    q = R.ops.const(pos_weight, x.dtype)
    return (1 - z) * x + (1 + (q - 1) * z) * (torch.log1p(torch.exp(-torch.abs(x))) + torch.relu(-x))
