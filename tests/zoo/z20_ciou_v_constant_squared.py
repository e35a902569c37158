"""CIoU loss squaring the 4/π² factor of v together with the arctangent difference.

Keras' ``compute_ciou`` computed v = ((4/π²)·(atan(w2/h2) − atan(w1/h1)))²: the constant is
squared too, so v is (4/π²) ≈ 0.405 times too small.
"""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403

from . import _ciou

TARGETS = ("ciou_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "v = ((4/π²)·Δatan)² instead of (4/π²)·Δatan²: the aspect term is 4/π² times too small"
KIND = "formula"
LINK = "https://github.com/keras-team/keras/issues/20780"
SOURCE = "keras-team/keras"


def ciou_loss(boxes1: Any, boxes2: Any) -> tf.Tensor:
    p = _ciou.parts(boxes1, boxes2)
    d = _ciou.FOUR_OVER_PI2 * (tf.atan2(p["w2"], p["h2"]) - tf.atan2(p["w1"], p["h1"]))
    v = d * d
    return p["one_minus_iou"] + p["rho2"] / p["c2"] + _ciou.alpha_term(p, v) * v
