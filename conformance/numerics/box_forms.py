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


def iou_parts(d: Any, b1: Any, b2: Any, overlaps: str = "documents") -> tuple:
    """(inter, union, area1, area2, the enclosing box's extents, the centres' difference, the two boxes' extents)
    of bbox_iou as written: areas from the raw (w, h), corners unsorted.

    ``overlaps``: ``corners`` computes everything from the corners, as code that converts the boxes to corners
    first does (torchvision): the areas ((x + w/2) − (x − w/2) times the same in y), the centres ((x₁ + x₂)/2) and
    the extents; ``centres`` the overlaps and the enclosing extents from centre differences
    (:func:`centre_overlaps`).  Not the documents' forms: faithful variants the tolerance covers."""
    wh1, wh2 = b1[..., 2:], b2[..., 2:]
    area1 = d.f(b1[..., 2] * b1[..., 3])
    area2 = d.f(b2[..., 2] * b2[..., 3])
    delta = d.f(b1[..., :2] - b2[..., :2])
    if overlaps == "centres":
        sec, enc = centre_overlaps(d, b1, b2, wh1, wh2)
    else:
        lo1, hi1 = corners(d, b1)
        lo2, hi2 = corners(d, b2)
        if overlaps == "corners":
            wh1, wh2 = d.f(hi1 - lo1), d.f(hi2 - lo2)
            area1, area2 = d.f(wh1[..., 0] * wh1[..., 1]), d.f(wh2[..., 0] * wh2[..., 1])
            two = d.c(2.0)
            delta = d.f(d.f(d.f(lo1 + hi1) / two) - d.f(d.f(lo2 + hi2) / two))
        sec = d.maximum(d.f(d.minimum(hi1, hi2) - d.maximum(lo1, lo2)), d.c(0.0))
        enc = d.f(d.maximum(hi1, hi2) - d.minimum(lo1, lo2))
    inter = d.f(sec[..., 0] * sec[..., 1])
    return inter, d.f(d.f(area1 + area2) - inter), area1, area2, enc, delta, wh1, wh2


def giou_parts(d: Any, b1: Any, b2: Any, overlaps: str = "documents") -> tuple:
    """(inter, union, area1, area2, E) of bbox_giou as written: corners re-sorted, areas from the sorted corners,
    E the enclosing box's area.  ``raw_areas``: the areas |w|·|h| instead (YOLOv5); ``centres``: the extents |w|,
    |h|, overlaps and enclosing extents from centre differences."""
    if overlaps == "centres":
        w1, w2 = d.abs(b1[..., 2:]), d.abs(b2[..., 2:])
        s1, s2 = w1, w2
        sec, enc = centre_overlaps(d, b1, b2, w1, w2)
    else:
        (p1, q1), (p2, q2) = corners(d, b1), corners(d, b2)
        lo1, hi1 = d.minimum(p1, q1), d.maximum(p1, q1)
        lo2, hi2 = d.minimum(p2, q2), d.maximum(p2, q2)
        s1, s2 = d.f(hi1 - lo1), d.f(hi2 - lo2)
        if overlaps == "raw_areas":
            s1, s2 = d.abs(b1[..., 2:]), d.abs(b2[..., 2:])
        sec = d.maximum(d.f(d.minimum(hi1, hi2) - d.maximum(lo1, lo2)), d.c(0.0))
        enc = d.maximum(d.f(d.maximum(hi1, hi2) - d.minimum(lo1, lo2)), d.c(0.0))
    area1, area2 = d.f(s1[..., 0] * s1[..., 1]), d.f(s2[..., 0] * s2[..., 1])
    inter = d.f(sec[..., 0] * sec[..., 1])
    return inter, d.f(d.f(area1 + area2) - inter), area1, area2, d.f(enc[..., 0] * enc[..., 1])


def one_minus(d: Any, parts: tuple, assembly: str) -> Any:
    """1 − I/U, or (``complement``) ((a₁ − I) + (a₂ − I))/U, which keeps relative accuracy where IoU ≈ 1 (the
    bundled references' form)."""
    inter, union, area1, area2 = parts[:4]
    if assembly == "complement":
        return d.f(d.f(d.f(area1 - inter) + d.f(area2 - inter)) / union)
    return d.f(d.c(1.0) - d.f(inter / union))


def _giou(d: Any, parts: tuple) -> Any:
    """I/U − (E − U)/E."""
    inter, union, _, _, e_area = parts
    return d.f(d.f(inter / union) - d.f(d.f(e_area - union) / e_area))


def giou(d: Any, b1: Any, b2: Any, variant: tuple = ("documents", "plain")) -> Any:
    """bbox_giou."""
    return _giou(d, giou_parts(d, b1, b2, variant[0]))


def giou_loss(d: Any, b1: Any, b2: Any, variant: tuple = ("documents", "plain")) -> Any:
    """1 − GIoU, or (complement) (1 − IoU as :func:`one_minus`) + (E − U)/E."""
    parts = giou_parts(d, b1, b2, variant[0])
    if variant[1] != "complement":
        return d.f(d.c(1.0) - _giou(d, parts))
    return d.f(one_minus(d, parts, "complement") + d.f(d.f(parts[4] - parts[1]) / parts[4]))


def _penalty(d: Any, parts: tuple, overlaps: str) -> Any:
    """ρ²/c², c² the enclosing box's squared diagonal (``centres``: from centre differences, every length divided
    by the larger enclosing extent first, as the bundled references keep the squares in range)."""
    enc, dc = parts[4], parts[5]
    if overlaps == "centres":
        m = d.maximum(d.abs(enc[..., 0:1]), d.abs(enc[..., 1:2]))
        dc, enc = d.f(dc / m), d.f(enc / m)
    rho2 = d.f(d.f(dc[..., 0] * dc[..., 0]) + d.f(dc[..., 1] * dc[..., 1]))
    c2 = d.f(d.f(enc[..., 0] * enc[..., 0]) + d.f(enc[..., 1] * enc[..., 1]))
    return d.f(rho2 / c2)


def _assembled(d: Any, parts: tuple, penalty: Any, assembly: str) -> Any:
    """The loss from IoU's parts and the penalty: (1 − IoU) + penalty, the 1 − IoU of :func:`one_minus`; or
    (``grouped``) 1 − (IoU − penalty), as the DIoU and CIoU of YOLOv5 and mmdetection are written."""
    if assembly == "grouped":
        return d.f(d.c(1.0) - d.f(d.f(parts[0] / parts[1]) - penalty))
    return d.f(one_minus(d, parts, assembly) + penalty)


def diou(d: Any, b1: Any, b2: Any, variant: tuple = ("documents", "plain")) -> Any:
    """1 − IoU + ρ²/c² (IoU as bbox_iou)."""
    parts = iou_parts(d, b1, b2, variant[0])
    return _assembled(d, parts, _penalty(d, parts, variant[0]), variant[1])


def ciou(d: Any, b1: Any, b2: Any, variant: tuple = ("documents", "plain")) -> Any:
    """DIoU plus α·v, v = 4/π²·(atan(w₂/h₂) − atan(w₁/h₁))², α = v / (1 − IoU + v) (0 where v is 0); ``corners``:
    w, h from the corners."""
    parts = iou_parts(d, b1, b2, variant[0])
    wh1, wh2 = parts[6], parts[7]
    gap = d.f(d.atan2(wh2[..., 0], wh2[..., 1]) - d.atan2(wh1[..., 0], wh1[..., 1]))
    v = d.f(d.c(4.0 / np.pi**2) * d.f(gap * gap))
    alpha = d.fraction(v, one_minus(d, parts, "complement" if variant[1] == "complement" else "plain"))
    penalty = _penalty(d, parts, variant[0])
    if variant[1] == "grouped":
        return _assembled(d, parts, d.f(penalty + d.f(v * alpha)), "grouped")
    return d.f(_assembled(d, parts, penalty, variant[1]) + d.f(alpha * v))


# name -> form(arithmetic, boxes1, boxes2, (overlaps, assembly))
BOX_FORMS = {"bbox_iou": lambda d, b1, b2, v: (lambda p: d.f(p[0] / p[1]))(iou_parts(d, b1, b2, v[0])),
             "iou_loss": lambda d, b1, b2, v: one_minus(d, iou_parts(d, b1, b2, v[0]), v[1]),
             "bbox_giou": giou,
             "giou_loss": giou_loss,
             "diou_loss": diou,
             "ciou_loss": ciou}
_OVERLAPS = {name: ("documents", "raw_areas" if "giou" in name else "corners", "centres") for name in BOX_FORMS}
_ASSEMBLIES = {"bbox_iou": ("plain",), "bbox_giou": ("plain",), "iou_loss": ("plain", "complement"),
               "giou_loss": ("plain", "complement"), "diou_loss": ("plain", "complement", "grouped"),
               "ciou_loss": ("plain", "complement", "grouped")}
VARIANTS = {name: [(o, a) for o in _OVERLAPS[name] for a in _ASSEMBLIES[name]] for name in BOX_FORMS}


FORMS = {name: (("boxes1", "boxes2"), (), [(lambda d, b1, b2, n=name, v=v: BOX_FORMS[n](d, b1, b2, v))
                                            for v in VARIANTS[name]])
         for name in BOX_FORMS}
