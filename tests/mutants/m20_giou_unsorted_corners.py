"""bbox_giou using the corners x ∓ w/2 as they come, without re-sorting them per axis."""

from typing import Any

import tensorflow as tf

from conformance.targets.reference import *  # noqa: F403
from conformance.targets.reference import REFERENCE as R

TARGETS = ("bbox_giou",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "no tf.minimum/tf.maximum re-sort of the corners: negative w or h give signed areas and spans"
KIND = "negative-extent"


def bbox_giou(boxes1: Any, boxes2: Any) -> tf.Tensor:
    b1, b2 = R.box_pair(boxes1, boxes2)
    lt1, rb1 = b1[..., :2] - b1[..., 2:] * 0.5, b1[..., :2] + b1[..., 2:] * 0.5
    lt2, rb2 = b2[..., :2] - b2[..., 2:] * 0.5, b2[..., :2] + b2[..., 2:] * 0.5
    area1 = (rb1[..., 0] - lt1[..., 0]) * (rb1[..., 1] - lt1[..., 1])
    area2 = (rb2[..., 0] - lt2[..., 0]) * (rb2[..., 1] - lt2[..., 1])
    side = tf.maximum(tf.minimum(rb1, rb2) - tf.maximum(lt1, lt2), 0)
    inter = side[..., 0] * side[..., 1]
    union = area1 + area2 - inter
    iou = inter / union
    span = tf.maximum(tf.maximum(rb1, rb2) - tf.minimum(lt1, lt2), 0)
    enclose = span[..., 0] * span[..., 1]
    return iou - (enclose - union) / enclose
