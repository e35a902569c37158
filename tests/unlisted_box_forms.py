"""Box formulas as two widely used libraries write them, in the literal arithmetic ``d`` of
conformance.numerics.literal (every step rounded to the dtype), step for step: faithful implementations whose
exact order of roundings the running error bounds do not list (tests/test_bounds.py checks them within ``FORM``
times the bound).

- ``yolov5``: Ultralytics YOLOv5's ``bbox_iou(xywh=True)``: corners from the centres, areas from the raw ``w·h``,
  the enclosing box from the corners, ρ² from sums of corners, ``α = v / (v − IoU + 1)``, the loss 1 − (IoU −
  penalty).
- ``torchvision``: torchvision's box losses after ``box_convert(..., "cxcywh", "xyxy")``: areas and (CIoU) the
  extents from the corners, centres recomputed as ``(x₁ + x₂)/2``.

The libraries' ``eps`` guards are left out (0): they change the formula, not its arithmetic.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _corners(d: Any, b: Any) -> tuple[Any, Any, Any, Any]:
    hw, hh = d.f(b[..., 2] * d.c(0.5)), d.f(b[..., 3] * d.c(0.5))
    return d.f(b[..., 0] - hw), d.f(b[..., 0] + hw), d.f(b[..., 1] - hh), d.f(b[..., 1] + hh)


def _clamp0(d: Any, x: Any) -> Any:
    return d.maximum(x, d.c(0.0))


def yolov5(d: Any, name: str, b1: Any, b2: Any) -> Any:
    ax1, ax2, ay1, ay2 = _corners(d, b1)
    bx1, bx2, by1, by2 = _corners(d, b2)
    inter = d.f(_clamp0(d, d.f(d.minimum(ax2, bx2) - d.maximum(ax1, bx1)))
                * _clamp0(d, d.f(d.minimum(ay2, by2) - d.maximum(ay1, by1))))
    union = d.f(d.f(d.f(b1[..., 2] * b1[..., 3]) + d.f(b2[..., 2] * b2[..., 3])) - inter)
    iou = d.f(inter / union)
    if name in ("bbox_iou", "iou_loss"):
        return iou if name == "bbox_iou" else d.f(d.c(1.0) - iou)
    cw = d.f(d.maximum(ax2, bx2) - d.minimum(ax1, bx1))
    ch = d.f(d.maximum(ay2, by2) - d.minimum(ay1, by1))
    if name in ("bbox_giou", "giou_loss"):
        c_area = d.f(cw * ch)
        g = d.f(iou - d.f(d.f(c_area - union) / c_area))
        return g if name == "bbox_giou" else d.f(d.c(1.0) - g)
    c2 = d.f(d.f(cw * cw) + d.f(ch * ch))
    sx, sy = d.f(d.f(d.f(bx1 + bx2) - ax1) - ax2), d.f(d.f(d.f(by1 + by2) - ay1) - ay2)
    rho2 = d.f(d.f(d.f(sx * sx) + d.f(sy * sy)) / d.c(4.0))
    penalty = d.f(rho2 / c2)
    if name == "ciou_loss":
        gap = d.f(d.atan2(b2[..., 2], b2[..., 3]) - d.atan2(b1[..., 2], b1[..., 3]))
        v = d.f(d.c(4.0 / np.pi**2) * d.f(gap * gap))
        with np.errstate(invalid="ignore"):
            alpha = np.where(v == 0, d.c(0.0), d.f(v / d.f(d.f(v - iou) + d.c(1.0))))
        penalty = d.f(penalty + d.f(v * alpha))
    return d.f(d.c(1.0) - d.f(iou - penalty))


def torchvision(d: Any, name: str, b1: Any, b2: Any) -> Any:
    x1, x2, y1, y2 = _corners(d, b1)
    x1g, x2g, y1g, y2g = _corners(d, b2)
    area1, area2 = d.f(d.f(x2 - x1) * d.f(y2 - y1)), d.f(d.f(x2g - x1g) * d.f(y2g - y1g))
    inter = d.f(_clamp0(d, d.f(d.minimum(x2, x2g) - d.maximum(x1, x1g)))
                * _clamp0(d, d.f(d.minimum(y2, y2g) - d.maximum(y1, y1g))))
    union = d.f(d.f(area1 + area2) - inter)
    iou = d.f(inter / union)
    if name in ("bbox_iou", "iou_loss"):
        return iou if name == "bbox_iou" else d.f(d.c(1.0) - iou)
    xc1, yc1 = d.minimum(x1, x1g), d.minimum(y1, y1g)
    xc2, yc2 = d.maximum(x2, x2g), d.maximum(y2, y2g)
    if name in ("bbox_giou", "giou_loss"):
        area_c = d.f(d.f(xc2 - xc1) * d.f(yc2 - yc1))
        g = d.f(iou - d.f(d.f(area_c - union) / area_c))
        return g if name == "bbox_giou" else d.f(d.c(1.0) - g)
    cw, ch = d.f(xc2 - xc1), d.f(yc2 - yc1)
    diag = d.f(d.f(cw * cw) + d.f(ch * ch))
    dx = d.f(d.f(d.f(x2 + x1) / d.c(2.0)) - d.f(d.f(x1g + x2g) / d.c(2.0)))
    dy = d.f(d.f(d.f(y2 + y1) / d.c(2.0)) - d.f(d.f(y1g + y2g) / d.c(2.0)))
    loss = d.f(d.f(d.c(1.0) - iou) + d.f(d.f(d.f(dx * dx) + d.f(dy * dy)) / diag))
    if name == "ciou_loss":
        w, h, wg, hg = d.f(x2 - x1), d.f(y2 - y1), d.f(x2g - x1g), d.f(y2g - y1g)
        gap = d.f(d.atan2(wg, hg) - d.atan2(w, h))
        v = d.f(d.c(4.0 / np.pi**2) * d.f(gap * gap))
        alpha = d.fraction(v, d.f(d.c(1.0) - iou))
        loss = d.f(loss + d.f(alpha * v))
    return loss


FORMS = {"yolov5": yolov5, "torchvision": torchvision}
