"""Contract names over the TF Model Garden YOLO box functions (``official.projects.yolo.ops.box_ops``).

    pytest --pyargs conformance --impl=conformance.targets.tf_models_boxes

Adapts ``compute_iou``, ``compute_giou``, ``compute_diou`` and ``compute_ciou`` of
tf-models-official 2.20.0 (the functions the Model Garden YOLO losses call) to the
``yolov3`` box names of the contract (the contract (docs/contracts.md)).  tf-models-official
2.20.0 pins ``tensorflow~=2.20.0``; it is used here installed with ``--no-deps`` next to
TensorFlow 2.21 (this module needs only ``tensorflow`` and ``tf_keras``), see
docs/real-world.md.

Conversions:

- Box format: none.  With ``yxyx=False`` (the default) the functions take centre
  (x, y, w, h) boxes, the contract's format, and they broadcast elementwise like the
  contract.  ``compute_iou`` takes the areas from the raw (w, h), as ``bbox_iou`` does;
  the others from the corners x ∓ w/2, y ∓ h/2, without re-sorting inverted corners.
- Argument order: the Model Garden YOLO loss calls ``compute_*(true_box, pred_box)``, so
  the contract's boxes2 (the ground truth) is passed first.  IoU, GIoU, DIoU and CIoU are
  symmetric in their two boxes, so this changes no value.
- Each ``compute_*`` except ``compute_iou`` returns ``(iou, xiou)``; the second is used.
  The losses are 1 − that value, as the Model Garden YOLO loss computes them.
- ``compute_diou(beta=1.0)`` (ρ²/c² unexponentiated) and ``compute_ciou(darknet=False)``
  (the plain CIoU, α under stop-gradient as the contract specifies).

Kept as the library has it (for the suite to judge): every division is a / (b + 1e-9)
(``math_ops.divide_no_nan``, not a NaN-safe divide), so 0/0 gives 0 instead of NaN and
small unions are biased; atan(w/(h + 1e-9)) in CIoU.

Not provided: the CenterNet focal loss of the Model Garden
(``PenaltyReducedLogisticFocalLoss``) takes logits, the contract's ``focal_loss`` takes
probabilities; passing logit(p) would add a conversion of our own (NaN gradients at
p = 0 and 1), so it is not adapted.  The YOLO losses themselves (``yolo_loss``) need the
whole Model Garden dependency set and a model configuration object, not the contract's
arguments.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
from official.projects.yolo.ops import box_ops

__all__ = ["bbox_iou", "bbox_giou", "iou_loss", "giou_loss", "diou_loss", "ciou_loss"]


def bbox_iou(boxes1: Any, boxes2: Any) -> tf.Tensor:
    return box_ops.compute_iou(boxes2, boxes1)


def bbox_giou(boxes1: Any, boxes2: Any) -> tf.Tensor:
    return box_ops.compute_giou(boxes2, boxes1)[1]


def iou_loss(boxes1: Any, boxes2: Any) -> tf.Tensor:
    return 1 - bbox_iou(boxes1, boxes2)


def giou_loss(boxes1: Any, boxes2: Any) -> tf.Tensor:
    return 1 - bbox_giou(boxes1, boxes2)


def diou_loss(boxes1: Any, boxes2: Any) -> tf.Tensor:
    return 1 - box_ops.compute_diou(boxes2, boxes1, beta=1.0)[1]


def ciou_loss(boxes1: Any, boxes2: Any) -> tf.Tensor:
    return 1 - box_ops.compute_ciou(boxes2, boxes1, darknet=False)[1]
