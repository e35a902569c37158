"""CIoU with α differentiated (CIOU-ALPHA-GRAD): same values, different gradients."""

from typing import Any

import jax
import jax.numpy as jnp

from conformance.targets.reference_jax import *  # noqa: F403
from conformance.targets.reference_jax import (
    _FOUR_OVER_PI2,
    _aspect_angle,
    _box_pair,
    _const,
    _distance_ratio,
    iou_loss,
)

TARGETS = ("ciou_loss",)
CATEGORIES = ("gradient",)
DESCRIPTION = "α = v/((1 − IoU) + v) without lax.stop_gradient, as several YOLOv4 ports compute it (CIOU-ALPHA-GRAD)"
KIND = "divergence"


def ciou_loss(boxes1: Any, boxes2: Any) -> jax.Array:
    b1, b2 = _box_pair(boxes1, boxes2)
    one_minus_iou = iou_loss(b1, b2)
    gap = _aspect_angle(b2[..., 2], b2[..., 3]) - _aspect_angle(b1[..., 2], b1[..., 3])
    v = _const(_FOUR_OVER_PI2, b1.dtype) * (gap * gap)
    positive = v > 0
    safe = jnp.where(positive, one_minus_iou + v, jnp.ones_like(v))
    alpha = jnp.where(positive, v / safe, jnp.zeros_like(v))
    return one_minus_iou + _distance_ratio(b1, b2) + alpha * v
