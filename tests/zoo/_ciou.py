"""The correct parts of the CIoU loss (docs/contracts.md), shared by the zoo's CIoU entries.

Each CIoU entry assembles ``ciou_loss`` from these parts with its one bug; the parts follow
the reference's accurate forms (1 − IoU without cancellation, enclosing extents from centre
differences).
"""

from __future__ import annotations

import math
from typing import Any

import tensorflow as tf

from conformance.targets.reference import REFERENCE as R
from conformance.targets.reference import iou_loss

FOUR_OVER_PI2 = 4 / math.pi**2


def parts(boxes1: Any, boxes2: Any) -> dict[str, tf.Tensor]:
    """1 − IoU, ρ², c² and the extents of two (x, y, w, h) box tensors (boxes2 the ground truth)."""
    b1, b2 = R.box_pair(boxes1, boxes2)
    dx = b1[..., 0] - b2[..., 0]
    dy = b1[..., 1] - b2[..., 1]
    cw = R.span(b1[..., 0], b1[..., 2], b2[..., 0], b2[..., 2])
    ch = R.span(b1[..., 1], b1[..., 3], b2[..., 1], b2[..., 3])
    return {"one_minus_iou": iou_loss(b1, b2), "rho2": dx * dx + dy * dy, "c2": cw * cw + ch * ch,
            "w1": b1[..., 2], "h1": b1[..., 3], "w2": b2[..., 2], "h2": b2[..., 3]}


def v_term(p: dict[str, tf.Tensor]) -> tf.Tensor:
    """v = (4/π²)·(atan2(w2, h2) − atan2(w1, h1))²."""
    d = tf.atan2(p["w2"], p["h2"]) - tf.atan2(p["w1"], p["h1"])
    return FOUR_OVER_PI2 * d * d


def alpha_term(p: dict[str, tf.Tensor], v: tf.Tensor) -> tf.Tensor:
    """α = v / ((1 − IoU) + v), 0 where v = 0, held constant in the gradient."""
    has = v > 0
    den = tf.where(has, p["one_minus_iou"] + v, tf.ones_like(v))
    return tf.stop_gradient(tf.where(has, v / den, tf.zeros_like(v)))
