"""An adapter exposing ``torch.nn.functional`` under the contract's names and signatures (docs/contracts.md).

Run it with ``pytest --pyargs conformance --impl=examples/torch/torch_functional_adapter.py --framework=torch``.
Only the names defined here are checked; the others are reported "not provided".  PyTorch takes
the class axis as ``dim`` and labels as ``target``; the adapter renames, and asks for elementwise
losses (``reduction="none"``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(x)


def softmax(logits: torch.Tensor, axis: int = -1) -> torch.Tensor:
    return F.softmax(logits, dim=axis)


def softmax_cross_entropy_with_logits(labels: torch.Tensor = None, logits: torch.Tensor = None,
                                      axis: int = -1) -> torch.Tensor:
    return -(labels * F.log_softmax(logits, dim=axis)).sum(dim=axis)


def sigmoid_cross_entropy_with_logits(labels: torch.Tensor = None, logits: torch.Tensor = None) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, labels, reduction="none")


def smooth_l1(x: torch.Tensor) -> torch.Tensor:
    return F.smooth_l1_loss(x, torch.zeros_like(x), reduction="none", beta=1.0)
