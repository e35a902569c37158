"""Binary cross-entropy as torch.nn.functional.binary_cross_entropy (log clamped at −100, no ε_k clip)."""

from typing import Any

import torch

from conformance.targets.reference_torch import *  # noqa: F403
from conformance.targets.reference_torch import REFERENCE as R

TARGETS = ("binary_crossentropy",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = ("F.binary_cross_entropy(p, t, reduction='none'): PyTorch clamps log p and log(1 − p) at −100 "
               "instead of clipping p to [ε_k, 1 − ε_k], so p = 0 with t = 1 gives 100, not −log(1e-7) ≈ 16.12")
KIND = "clip-bound"


def binary_crossentropy(target: Any, output: Any) -> torch.Tensor:
    p = R.ops.as_float(output)
    t = R.ops.cast(target, p.dtype)
    return torch.nn.functional.binary_cross_entropy(p, t, reduction="none")
