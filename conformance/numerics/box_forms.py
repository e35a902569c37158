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


def iou(d: Any, b1: Any, b2: Any, corner_areas: bool = False) -> tuple:
    """bbox_iou as written: areas from the raw (w, h), corners unsorted; also returns the corners.

    ``corner_areas``: the areas from the corners instead ((x + w/2) − (x − w/2) times the same in y), as code that
    converts to corners first computes them; not the documents' form, a faithful variant the tolerance covers."""
    lo1, hi1 = corners(d, b1)
    lo2, hi2 = corners(d, b2)
    if corner_areas:
        s1, s2 = d.f(hi1 - lo1), d.f(hi2 - lo2)
        area1, area2 = d.f(s1[..., 0] * s1[..., 1]), d.f(s2[..., 0] * s2[..., 1])
    else:
        area1 = d.f(b1[..., 2] * b1[..., 3])
        area2 = d.f(b2[..., 2] * b2[..., 3])
    sec = d.maximum(d.f(d.minimum(hi1, hi2) - d.maximum(lo1, lo2)), d.c(0.0))
    inter = d.f(sec[..., 0] * sec[..., 1])
    union = d.f(d.f(area1 + area2) - inter)
    return d.f(inter / union), lo1, hi1, lo2, hi2


def giou(d: Any, b1: Any, b2: Any) -> Any:
    """bbox_giou as written: corners re-sorted, areas from the sorted corners, E the enclosing box."""
    (p1, q1), (p2, q2) = corners(d, b1), corners(d, b2)
    lo1, hi1 = d.minimum(p1, q1), d.maximum(p1, q1)
    lo2, hi2 = d.minimum(p2, q2), d.maximum(p2, q2)
    s1, s2 = d.f(hi1 - lo1), d.f(hi2 - lo2)
    area1, area2 = d.f(s1[..., 0] * s1[..., 1]), d.f(s2[..., 0] * s2[..., 1])
    sec = d.maximum(d.f(d.minimum(hi1, hi2) - d.maximum(lo1, lo2)), d.c(0.0))
    inter = d.f(sec[..., 0] * sec[..., 1])
    union = d.f(d.f(area1 + area2) - inter)
    ratio = d.f(inter / union)
    enc = d.maximum(d.f(d.maximum(hi1, hi2) - d.minimum(lo1, lo2)), d.c(0.0))
    e_area = d.f(enc[..., 0] * enc[..., 1])
    return d.f(ratio - d.f(d.f(e_area - union) / e_area))


def diou(d: Any, b1: Any, b2: Any, corner_areas: bool = False) -> tuple:
    """(1 − IoU + ρ²/c², IoU): IoU as bbox_iou, c² the enclosing box's squared diagonal from the corners."""
    ratio, lo1, hi1, lo2, hi2 = iou(d, b1, b2, corner_areas)
    dc = d.f(b1[..., :2] - b2[..., :2])
    rho2 = d.f(d.f(dc[..., 0] * dc[..., 0]) + d.f(dc[..., 1] * dc[..., 1]))
    enc = d.f(d.maximum(hi1, hi2) - d.minimum(lo1, lo2))
    c2 = d.f(d.f(enc[..., 0] * enc[..., 0]) + d.f(enc[..., 1] * enc[..., 1]))
    return d.f(d.f(d.c(1.0) - ratio) + d.f(rho2 / c2)), ratio


def ciou(d: Any, b1: Any, b2: Any, corner_areas: bool = False) -> Any:
    """DIoU plus α·v, v = 4/π²·(atan(w₂/h₂) − atan(w₁/h₁))², α = v / (1 − IoU + v) (0 where v is 0)."""
    dl, ratio = diou(d, b1, b2, corner_areas)
    gap = d.f(d.atan2(b2[..., 2], b2[..., 3]) - d.atan2(b1[..., 2], b1[..., 3]))
    v = d.f(d.c(4.0 / np.pi**2) * d.f(gap * gap))
    alpha = d.fraction(v, d.f(d.c(1.0) - ratio))
    return d.f(dl + d.f(alpha * v))


# name -> form(arithmetic, boxes1, boxes2, corner_areas); the GIoU pair takes its areas from the corners anyway
BOX_FORMS = {"bbox_iou": lambda d, b1, b2, ca: iou(d, b1, b2, ca)[0],
             "iou_loss": lambda d, b1, b2, ca: d.f(d.c(1.0) - iou(d, b1, b2, ca)[0]),
             "bbox_giou": lambda d, b1, b2, ca: giou(d, b1, b2),
             "giou_loss": lambda d, b1, b2, ca: d.f(d.c(1.0) - giou(d, b1, b2)),
             "diou_loss": lambda d, b1, b2, ca: diou(d, b1, b2, ca)[0],
             "ciou_loss": ciou}


FORMS = {name: (("boxes1", "boxes2"), (), [(lambda d, b1, b2, n=name, ca=ca: BOX_FORMS[n](d, b1, b2, ca))
                                            for ca in ((False,) if "giou" in name else (False, True))])
         for name in BOX_FORMS}
