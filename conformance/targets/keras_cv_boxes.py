"""Contract names over KerasCV's box and heatmap losses (``keras_cv.losses``, ``keras_cv.bounding_box``).

    pytest --pyargs conformance --impl=conformance.targets.keras_cv_boxes

Adapts KerasCV 0.9.0 (the last release; it runs on Keras 3, here 3.15 with the TensorFlow
backend) to the contract (the contract (docs/contracts.md)).

Conversions:

- Box format: the contract's centre (x, y, w, h) is KerasCV's ``"center_xywh"``, turned
  into corners as x ∓ w/2, y ∓ h/2 as the contract does.  KerasCV's losses take
  ``(y_true, y_pred)``: boxes2 (the ground truth in the contract) is passed as ``y_true``.
- Broadcasting: the contract broadcasts boxes1 against boxes2; KerasCV requires equal box
  counts, so both are broadcast to the common shape first.
- ``compute_iou``, ``IoULoss`` and ``GIoULoss`` compute the full pairwise (N, N) matrix and
  keep its diagonal.  Their ``ops.diagonal`` takes axes 0 and 1, which is right only for
  unbatched (N, 4) boxes, so the adapter flattens every pair into one unbatched (K, 4)
  array and reshapes the K results back (each pair is still computed on its own).
- Reductions: the box losses are built with ``axis="no_reduction"`` (per-box values; the
  warning KerasCV prints for it is silenced) and every loss with ``reduction="none"``.
- ``smooth_l1(x)``: ``SmoothL1Loss`` on (y_true, y_pred) = (x, 0) over an appended axis
  of length 1 (it averages over the last axis; the mean of one element is the element).
- ``focal_loss`` (CenterNet heatmap loss): ``BinaryPenaltyReducedFocalCrossEntropy``
  (α = 2, β = 4) gives the per-pixel term only; the adapter adds the contract's reduction,
  Σ / num_pos with num_pos = Σ[hm_true = 1] (Σ alone when num_pos = 0).  The per-pixel
  term is KerasCV's: it clips p to [1e-4, 0.9999] (not [ε_c, 1]), clips hm_true to
  [0, 1] and counts hm_true > 0.99 as positive (not = 1).

Kept as the library has it (for the suite to judge): ε_k in the IoU, GIoU and CIoU
denominators, no re-sorting of inverted corners in GIoU, atan(w/h) with ε_k added to h
and α differentiated in CIoU.  KerasCV's losses cast to the Keras float dtype policy
(float32): only float32 runs are meaningful.

Not provided: ``bbox_giou`` (only the loss is public), ``diou_loss`` (no KerasCV function),
and the YOLOv3 ``focal`` weight (``keras_cv.losses.FocalLoss`` is Lin et al.'s focal loss,
a different function).
"""

from __future__ import annotations

import warnings
from typing import Any

import keras
import keras_cv
import numpy as np

__all__ = ["bbox_iou", "iou_loss", "giou_loss", "ciou_loss", "smooth_l1", "focal_loss"]

FORMAT = "center_xywh"

_IOU_LOSS = keras_cv.losses.IoULoss(FORMAT, mode="linear", axis="no_reduction", reduction="none")
_GIOU_LOSS = keras_cv.losses.GIoULoss(FORMAT, axis="no_reduction", reduction="none")
_CIOU_LOSS = keras_cv.losses.CIoULoss(FORMAT, reduction="none")
_SMOOTH_L1 = keras_cv.losses.SmoothL1Loss(l1_cutoff=1.0, reduction="none")
_HEATMAP = keras_cv.losses.BinaryPenaltyReducedFocalCrossEntropy(alpha=2.0, beta=4.0, reduction="none")


def _pairs(boxes1: Any, boxes2: Any) -> tuple[tuple[int, ...], Any, Any]:
    """Broadcast both box arrays and flatten them to unbatched (K, 4) arrays."""
    lead = np.broadcast_shapes(tuple(boxes1.shape), tuple(boxes2.shape))[:-1]
    flat = [keras.ops.reshape(keras.ops.broadcast_to(b, (*lead, 4)), (-1, 4)) for b in (boxes1, boxes2)]
    return lead, flat[0], flat[1]


def _diagonal_loss(loss: keras.losses.Loss, boxes1: Any, boxes2: Any) -> Any:
    lead, b1, b2 = _pairs(boxes1, boxes2)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*no_reduction.*")
        return keras.ops.reshape(loss(b2, b1), lead)


def bbox_iou(boxes1: Any, boxes2: Any) -> Any:
    lead, b1, b2 = _pairs(boxes1, boxes2)
    return keras.ops.reshape(keras.ops.diagonal(keras_cv.bounding_box.compute_iou(b1, b2, FORMAT)), lead)


def iou_loss(boxes1: Any, boxes2: Any) -> Any:
    return _diagonal_loss(_IOU_LOSS, boxes1, boxes2)


def giou_loss(boxes1: Any, boxes2: Any) -> Any:
    return _diagonal_loss(_GIOU_LOSS, boxes1, boxes2)


def ciou_loss(boxes1: Any, boxes2: Any) -> Any:
    lead, b1, b2 = _pairs(boxes1, boxes2)
    return keras.ops.reshape(_CIOU_LOSS(b2, b1), lead)


def smooth_l1(x: Any) -> Any:
    x = keras.ops.expand_dims(x, -1)
    return _SMOOTH_L1(x, keras.ops.zeros_like(x))


def focal_loss(hm_pred: Any, hm_true: Any) -> Any:
    total = keras.ops.sum(_HEATMAP(hm_true, hm_pred))
    num_pos = keras.ops.sum(keras.ops.cast(keras.ops.equal(hm_true, 1), total.dtype))
    return keras.ops.where(num_pos > 0, total / keras.ops.maximum(num_pos, 1), total)
