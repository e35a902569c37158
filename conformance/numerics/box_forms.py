"""The box names' forms, step by step (the documents' and the faithful variants), written once and read two ways:
by the literal evaluator (:mod:`conformance.numerics.literal`: arithmetic in the dtype) and as running error bounds
(:mod:`conformance.numerics.form_bounds`: :class:`~conformance.numerics.bounds.Bounded`).  ``d`` is the arithmetic.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def corners(d: Any, b: Any) -> tuple[Any, Any]:
    """(x − w·0.5, y − h·0.5), (x + w·0.5, y + h·0.5), as the documents' ``tf.concat`` of the two halves."""
    half = d.f(b[..., 2:] * d.c(0.5))
    return d.f(b[..., :2] - half), d.f(b[..., :2] + half)


def centre_overlaps(d: Any, b1: Any, b2: Any, w1: Any, w2: Any) -> tuple[Any, Any]:
    """Per axis, (overlap, enclosing extent) from centre differences, without corners: max(min(w₁, w₂, s − δ,
    s + δ), 0) and max(w₁, w₂, s + |δ|) with δ = c₁ − c₂, s = (w₁ + w₂)·0.5, as code that never forms the corners
    computes them (the bundled references); the same values as the corners' min − max and max − min."""
    delta = d.f(b1[..., :2] - b2[..., :2])
    s = d.f(d.f(w1 + w2) * d.c(0.5))
    sec = d.maximum(d.minimum(d.minimum(w1, w2), d.minimum(d.f(s - delta), d.f(s + delta))), d.c(0.0))
    return sec, d.maximum(d.maximum(w1, w2), d.f(s + d.abs(delta)))


def iou(d: Any, b1: Any, b2: Any, variant: str = "documents") -> tuple:
    """(bbox_iou, the enclosing box's extents) as written: areas from the raw (w, h), corners unsorted.

    ``variant``: ``corner_areas`` takes the areas from the corners instead ((x + w/2) − (x − w/2) times the same in
    y), as code that converts to corners first computes them; ``centres`` the overlaps and the enclosing extents
    from centre differences (:func:`centre_overlaps`).  Not the documents' forms: faithful variants the tolerance
    covers."""
    area1 = d.f(b1[..., 2] * b1[..., 3])
    area2 = d.f(b2[..., 2] * b2[..., 3])
    if variant == "centres":
        sec, enc = centre_overlaps(d, b1, b2, b1[..., 2:], b2[..., 2:])
    else:
        lo1, hi1 = corners(d, b1)
        lo2, hi2 = corners(d, b2)
        if variant == "corner_areas":
            s1, s2 = d.f(hi1 - lo1), d.f(hi2 - lo2)
            area1, area2 = d.f(s1[..., 0] * s1[..., 1]), d.f(s2[..., 0] * s2[..., 1])
        sec = d.maximum(d.f(d.minimum(hi1, hi2) - d.maximum(lo1, lo2)), d.c(0.0))
        enc = d.f(d.maximum(hi1, hi2) - d.minimum(lo1, lo2))
    inter = d.f(sec[..., 0] * sec[..., 1])
    union = d.f(d.f(area1 + area2) - inter)
    return d.f(inter / union), enc


def giou(d: Any, b1: Any, b2: Any, variant: str = "documents") -> Any:
    """bbox_giou as written: corners re-sorted, areas from the sorted corners, E the enclosing box (``centres``:
    the extents |w|, |h|, overlaps and enclosing extents from centre differences)."""
    if variant == "centres":
        w1, w2 = d.abs(b1[..., 2:]), d.abs(b2[..., 2:])
        s1, s2 = w1, w2
        sec, enc = centre_overlaps(d, b1, b2, w1, w2)
    else:
        (p1, q1), (p2, q2) = corners(d, b1), corners(d, b2)
        lo1, hi1 = d.minimum(p1, q1), d.maximum(p1, q1)
        lo2, hi2 = d.minimum(p2, q2), d.maximum(p2, q2)
        s1, s2 = d.f(hi1 - lo1), d.f(hi2 - lo2)
        sec = d.maximum(d.f(d.minimum(hi1, hi2) - d.maximum(lo1, lo2)), d.c(0.0))
        enc = d.maximum(d.f(d.maximum(hi1, hi2) - d.minimum(lo1, lo2)), d.c(0.0))
    area1, area2 = d.f(s1[..., 0] * s1[..., 1]), d.f(s2[..., 0] * s2[..., 1])
    inter = d.f(sec[..., 0] * sec[..., 1])
    union = d.f(d.f(area1 + area2) - inter)
    ratio = d.f(inter / union)
    e_area = d.f(enc[..., 0] * enc[..., 1])
    return d.f(ratio - d.f(d.f(e_area - union) / e_area))


def diou(d: Any, b1: Any, b2: Any, variant: str = "documents") -> tuple:
    """(1 − IoU + ρ²/c², IoU): IoU as bbox_iou, c² the enclosing box's squared diagonal (from the corners, or the
    centre differences in the ``centres`` variant)."""
    ratio, enc = iou(d, b1, b2, variant)
    dc = d.f(b1[..., :2] - b2[..., :2])
    rho2 = d.f(d.f(dc[..., 0] * dc[..., 0]) + d.f(dc[..., 1] * dc[..., 1]))
    c2 = d.f(d.f(enc[..., 0] * enc[..., 0]) + d.f(enc[..., 1] * enc[..., 1]))
    return d.f(d.f(d.c(1.0) - ratio) + d.f(rho2 / c2)), ratio


def ciou(d: Any, b1: Any, b2: Any, variant: str = "documents") -> Any:
    """DIoU plus α·v, v = 4/π²·(atan(w₂/h₂) − atan(w₁/h₁))², α = v / (1 − IoU + v) (0 where v is 0)."""
    dl, ratio = diou(d, b1, b2, variant)
    gap = d.f(d.atan2(b2[..., 2], b2[..., 3]) - d.atan2(b1[..., 2], b1[..., 3]))
    v = d.f(d.c(4.0 / np.pi**2) * d.f(gap * gap))
    alpha = d.fraction(v, d.f(d.c(1.0) - ratio))
    return d.f(dl + d.f(alpha * v))


# name -> form(arithmetic, boxes1, boxes2, variant); the GIoU pair takes its areas from the corners anyway
BOX_FORMS = {"bbox_iou": lambda d, b1, b2, v: iou(d, b1, b2, v)[0],
             "iou_loss": lambda d, b1, b2, v: d.f(d.c(1.0) - iou(d, b1, b2, v)[0]),
             "bbox_giou": giou,
             "giou_loss": lambda d, b1, b2, v: d.f(d.c(1.0) - giou(d, b1, b2, v)),
             "diou_loss": lambda d, b1, b2, v: diou(d, b1, b2, v)[0],
             "ciou_loss": ciou}
VARIANTS = {name: ("documents", "centres") if "giou" in name else ("documents", "corner_areas", "centres")
            for name in BOX_FORMS}


FORMS = {name: (("boxes1", "boxes2"), (), [(lambda d, b1, b2, n=name, v=v: BOX_FORMS[n](d, b1, b2, v))
                                            for v in VARIANTS[name]])
         for name in BOX_FORMS}
