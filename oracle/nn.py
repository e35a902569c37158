"""Family ``nn`` (docs/contracts.md): the elementary functions (:mod:`oracle.elementary`: sigmoid, softmax, entropy,
KL divergence, smooth L1), the cross-entropies (:mod:`oracle.crossentropy`) and RetinaNet's sigmoid focal loss
(:mod:`oracle.sigmoid_focal`), with their records in the
catalogue's order.  The module docstrings there say how each is evaluated without overflow or cancellation.
"""

from __future__ import annotations

from . import crossentropy, elementary, sigmoid_focal
from ._spec import OracleSpec
from .crossentropy import (
    binary_crossentropy,
    categorical_crossentropy,
    sigmoid_cross_entropy_with_logits,
    softmax_cross_entropy_with_logits,
    sparse_softmax_cross_entropy_with_logits,
    weighted_cross_entropy_with_logits,
)
from .elementary import entropy, kl_divergence, sigmoid, smooth_l1, softmax
from .sigmoid_focal import sigmoid_focal_loss

__all__ = [
    "sigmoid",
    "softmax",
    "sigmoid_cross_entropy_with_logits",
    "weighted_cross_entropy_with_logits",
    "sigmoid_focal_loss",
    "softmax_cross_entropy_with_logits",
    "sparse_softmax_cross_entropy_with_logits",
    "binary_crossentropy",
    "categorical_crossentropy",
    "entropy",
    "kl_divergence",
    "smooth_l1",
]

_BY_NAME = {s.name: s for s in (*elementary.SPECS, *crossentropy.SPECS, *sigmoid_focal.SPECS)}
SPECS: list[OracleSpec] = [_BY_NAME[name] for name in __all__]
