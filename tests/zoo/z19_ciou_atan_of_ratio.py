"""CIoU loss with v from atan(w / h): 0/0 at a zero-size box and NaN gradients at h = 0.

TensorFlow-2.x-YOLOv3's ``bbox_ciou`` formed ``ar_gt = w / h`` and ``ar_pred = w / h`` before
the arctangent; zero-height boxes (padding labels) turned the loss NaN (the suggested fix adds
1e-6 to h).  atan(w/0) = π/2 is right for w > 0, but w = h = 0 gives atan(NaN), and the
gradient through w / h at h = 0 is 0·inf = NaN.  The contract uses atan2(w, h).
"""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403

from . import _ciou

TARGETS = ("ciou_loss",)
CATEGORIES = ("value", "gradient", "stability")
DESCRIPTION = "v from atan(w/h) − atan(w/h): a box with h = 0 gives a NaN gradient, w = h = 0 a NaN value"
KIND = "division-by-zero"
LINK = "https://github.com/pythonlessons/TensorFlow-2.x-YOLOv3/issues/144"
SOURCE = "pythonlessons/TensorFlow-2.x-YOLOv3"


def ciou_loss(boxes1: Any, boxes2: Any) -> tf.Tensor:
    p = _ciou.parts(boxes1, boxes2)
    d = tf.atan(p["w2"] / p["h2"]) - tf.atan(p["w1"] / p["h1"])
    v = _ciou.FOUR_OVER_PI2 * d * d
    return p["one_minus_iou"] + p["rho2"] / p["c2"] + _ciou.alpha_term(p, v) * v
