"""YOLOv3 compute_loss decoding and scoring every scale with the first scale's stride."""

from collections.abc import Sequence
from typing import Any

import numpy as np

TARGETS = ("compute_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "stride = strides[0] hoisted out of the loop over the three scales"
KIND = "formula"


def compute_loss(self: Any, convs: Sequence[Any], labels: Sequence[Any], bboxes: Sequence[Any], anchors: Any,
                 strides: Any, num_class: int, iou_loss_thresh: Any = 0.5) -> tuple[Any, Any, Any]:
    o = self.ops
    anchors = anchors if o.is_tensor(anchors) else np.asarray(anchors, dtype=np.float64)
    stride = strides[0] if o.is_tensor(strides) else np.asarray(strides, dtype=np.float64)[0]
    totals = None
    for i in range(3):
        pred = self.decode(convs[i], anchors[i], stride, num_class)
        parts = self.loss_layer(convs[i], pred, labels[i], bboxes[i], anchors[i], stride, num_class, iou_loss_thresh)
        totals = parts if totals is None else tuple(t + p for t, p in zip(totals, parts, strict=True))
    return totals
