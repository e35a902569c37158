"""bbox_giou using the corners x ∓ w/2 as they come, without re-sorting them per axis."""

from typing import Any

TARGETS = ("bbox_giou",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "no min/max re-sort of the corners: negative w or h give signed areas and spans"
KIND = "negative-extent"


def bbox_giou(self: Any, boxes1: Any, boxes2: Any) -> Any:
    o = self.ops
    b1, b2 = self.box_pair(boxes1, boxes2)
    lt1, rb1 = b1[..., :2] - b1[..., 2:] * 0.5, b1[..., :2] + b1[..., 2:] * 0.5
    lt2, rb2 = b2[..., :2] - b2[..., 2:] * 0.5, b2[..., :2] + b2[..., 2:] * 0.5
    area1 = (rb1[..., 0] - lt1[..., 0]) * (rb1[..., 1] - lt1[..., 1])
    area2 = (rb2[..., 0] - lt2[..., 0]) * (rb2[..., 1] - lt2[..., 1])
    zero = o.zeros_like(lt1 + lt2)
    side = self.maximum(self.minimum(rb1, rb2) - self.maximum(lt1, lt2), zero)
    inter = side[..., 0] * side[..., 1]
    union = area1 + area2 - inter
    span = self.maximum(self.maximum(rb1, rb2) - self.minimum(lt1, lt2), zero)
    enclose = span[..., 0] * span[..., 1]
    return inter / union - (enclose - union) / enclose
