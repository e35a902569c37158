"""CIoU with α differentiated (CIOU-ALPHA-GRAD): same values, different gradients."""

from typing import Any

import jax
import jax.numpy as jnp

from conformance.targets.catalogue import FOUR_OVER_PI2
from conformance.targets.reference_jax import *  # noqa: F403
from conformance.targets.reference_jax import REFERENCE as R
from conformance.targets.reference_jax import iou_loss

TARGETS = ("ciou_loss",)
CATEGORIES = ("gradient",)
DESCRIPTION = "α = v/((1 − IoU) + v) without lax.stop_gradient, as several YOLOv4 ports compute it (CIOU-ALPHA-GRAD)"
KIND = "divergence"


def ciou_loss(boxes1: Any, boxes2: Any) -> jax.Array:
    b1, b2 = R.box_pair(boxes1, boxes2)
    one_minus_iou = iou_loss(b1, b2)
    gap = R.aspect_angle(b2[..., 2], b2[..., 3]) - R.aspect_angle(b1[..., 2], b1[..., 3])
    v = R.ops.const(FOUR_OVER_PI2, b1.dtype) * (gap * gap)
    positive = v > 0
    safe = jnp.where(positive, one_minus_iou + v, jnp.ones_like(v))
    alpha = jnp.where(positive, v / safe, jnp.zeros_like(v))
    return one_minus_iou + R.distance_ratio(b1, b2) + alpha * v
