"""Float64 NumPy reference oracle for the loss catalogue (the contract (docs/contracts.md)).

Every contract name is a module-level function with the contract's argument
names and calling style (the Faster R-CNN names are closures)::

    >>> import oracle
    >>> float(oracle.sigmoid_cross_entropy_with_logits(labels=1.0, logits=0.0))
    0.6931471805599453
    >>> float(oracle.rpn_loss_regr(num_anchors=1)([[[[1, 1, 1, 1, 0, 0, 0, 0]]]], [[[[0, 0, 0, 0]]]]))
    0.0

The uniform entry points used by the conformance checks take keyword
arguments only (``num_anchors`` / ``num_classes`` travel with them)::

    >>> oracle.evaluate("smooth_l1", x=[0.5, 2.0]).tolist()
    [0.125, 1.5]
    >>> oracle.vjp("smooth_l1", [1.0, 1.0], "x", x=[0.5, 2.0]).tolist()
    [0.5, 1.0]

This package never imports TensorFlow.
"""

from __future__ import annotations

from typing import Any

from . import centernet, frcnn, nn, yolov3
from ._spec import CONVENTIONS, OracleSpec
from .centernet import *  # noqa: F403  (each family lists its contract names in __all__)
from .frcnn import *  # noqa: F403
from .nn import *  # noqa: F403
from .yolov3 import *  # noqa: F403

__version__ = "0.1.0"

SPECS: dict[str, OracleSpec] = {s.name: s for m in (nn, frcnn, yolov3, centernet) for s in m.SPECS}
NAMES: tuple[str, ...] = tuple(SPECS)


def spec(name: str) -> OracleSpec:
    """The :class:`OracleSpec` for contract ``name`` (``ValueError`` if unknown)."""
    try:
        return SPECS[name]
    except KeyError:
        raise ValueError(f"name: unknown contract name {name!r}; known: {', '.join(NAMES)}") from None


def register(entry: OracleSpec) -> OracleSpec:
    """Add a user entry (see :mod:`oracle.custom`); a catalogue name cannot be replaced."""
    if entry.name in SPECS and SPECS[entry.name] is not entry:
        raise ValueError(f"entry: the name {entry.name!r} is already in the oracle")
    SPECS[entry.name] = entry
    return entry


def evaluate(name: str, **kwargs: Any) -> Any:
    """Evaluate contract ``name`` in float64 from keyword arguments."""
    return spec(name).evaluate(**kwargs)


def vjp(name: str, cotangent: Any, wrt: str, **kwargs: Any) -> Any:
    """Vector-Jacobian product of ``name``'s output with respect to argument ``wrt``."""
    return spec(name).vjp(cotangent, wrt, **kwargs)


def kinks(name: str, wrt: str, **kwargs: Any) -> Any:
    """Boolean mask shaped like argument ``wrt``: True on kinks and clip boundaries."""
    return spec(name).kinks(wrt, **kwargs)


__all__ = [  # noqa: F405
    "CONVENTIONS", "NAMES", "SPECS", "OracleSpec", "evaluate", "kinks", "register", "spec", "vjp",
    "binary_crossentropy", "categorical_crossentropy", "entropy", "kl_divergence", "sigmoid",
    "sigmoid_cross_entropy_with_logits", "smooth_l1", "softmax", "softmax_cross_entropy_with_logits",
    "sparse_softmax_cross_entropy_with_logits", "weighted_cross_entropy_with_logits", "sigmoid_focal_loss",
    "class_loss_cls", "class_loss_regr", "rpn_loss_cls", "rpn_loss_regr",
    "bbox_giou", "bbox_iou", "ciou_loss", "compute_loss", "decode", "diou_loss", "focal", "giou_loss", "iou_loss",
    "loss_layer",
    "focal_loss", "loss", "reg_l1_loss",
]
