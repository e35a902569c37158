"""DIoU and CIoU losses of YOLOv3 boxes (Zheng et al., AAAI 2020; docs/contracts.md): ``diou_loss``, ``ciou_loss``.

Accuracy
    The IoU part is :func:`oracle.boxes.box_pair`'s.  ``diou_loss`` and ``ciou_loss`` add ``rho^2 / c^2``
    (centre differences rounded once, enclosure extents from the double-double
    corners, all rescaled together by a power of two) and ``alpha v`` with the
    aspect-angle gap taken as one ``atan2`` of an exactly summed cross product.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from ._spec import OracleSpec
from ._validate import cotangent_like, unbroadcast, variants_of, wrt_of
from .boxes import box_pair, box_pair_kinks, box_pair_vjp, doubled_corners, two_boxes
from .exact import binary_exponent, compensated_sum, dd_eq, dd_ge, dd_sub, dd_where, two_prod

__all__ = ["CIOU_VARIANTS", "ciou_loss", "diou_loss"]


_FOUR_OVER_PI2 = 0.4052847345693511  # 4 / pi^2 correctly rounded


def _enclosure_axis(c1, w1, c2, w2) -> SimpleNamespace:
    """Signed doubled extent ``max(R1, R2) - min(L1, L2)`` of the enclosing box from the raw corners."""
    L1, R1, _, _ = doubled_corners(c1, w1, False)
    L2, R2, _, _ = doubled_corners(c2, w2, False)
    e = SimpleNamespace()
    e.el1 = dd_ge(L2, L1)  # min(L1, L2) -> box 1 when L1 <= L2
    e.er1 = dd_ge(R1, R2)  # max(R1, R2) -> box 1 when R1 >= R2
    e.ext = dd_sub(dd_where(e.er1, R1, R2), dd_where(e.el1, L1, L2))
    e.tie = dd_eq(L1, L2) | dd_eq(R1, R2)
    return e


def _angle_gap(w1, h1, w2, h2):
    """``atan2(w2, h2) - atan2(w1, h1)`` and the per-box scale exponents.

    For non-negative extents (and no box of zero size) it is ``atan2(w2 h1 - w1 h2, h1 h2 + w1 w2)`` with the
    cross product summed from exact products, so nearly equal aspect ratios do not cancel; each box is
    first rescaled by a power of two (the angle of a box does not depend on its scale) so that the
    products cannot overflow.
    """
    k1, k2 = -binary_exponent(w1, h1), -binary_exponent(w2, h2)
    sw1, sh1, sw2, sh2 = np.ldexp(w1, k1), np.ldexp(h1, k1), np.ldexp(w2, k2), np.ldexp(h2, k2)
    a, b = two_prod(sw2, sh1), two_prod(sw1, sh2)
    cross = compensated_sum([a[0], -b[0], a[1], -b[1]])
    c, d = two_prod(sh1, sh2), two_prod(sw1, sw2)
    dot = compensated_sum([c[0], d[0], c[1], d[1]])
    # the difference formula needs angles in [0, pi/2] and no zero-size box (atan2(0, 0) = 0 by convention)
    ok = (w1 >= 0) & (h1 >= 0) & (w2 >= 0) & (h2 >= 0) & ((w1 != 0) | (h1 != 0)) & ((w2 != 0) | (h2 != 0))
    theta = np.where(ok, np.arctan2(cross, dot), np.arctan2(w2, h2) - np.arctan2(w1, h1))
    return theta, (k1, sw1, sh1), (k2, sw2, sh2)


def _dpair(b1: np.ndarray, b2: np.ndarray, complete: bool) -> SimpleNamespace:
    """DIoU (``complete=False``) or CIoU loss of broadcast box pairs, with what the VJP needs."""
    b1, b2 = np.broadcast_arrays(b1, b2)
    d = SimpleNamespace(iou=box_pair(b1, b2, giou=False), complete=complete)
    with np.errstate(all="ignore"):
        d.ex = _enclosure_axis(b1[..., 0], b1[..., 2], b2[..., 0], b2[..., 2])
        d.ey = _enclosure_axis(b1[..., 1], b1[..., 3], b2[..., 1], b2[..., 3])
        # doubled centre distances (one rounding each) and enclosure extents, rescaled together by 2**k
        rx, ry = 2.0 * (b1[..., 0] - b2[..., 0]), 2.0 * (b1[..., 1] - b2[..., 1])
        d.k = -binary_exponent(rx, ry, d.ex.ext, d.ey.ext)
        d.rx, d.ry = np.ldexp(rx, d.k), np.ldexp(ry, d.k)
        d.cx, d.cy = np.ldexp(d.ex.ext, d.k), np.ldexp(d.ey.ext, d.k)
        d.rho2 = d.rx * d.rx + d.ry * d.ry
        d.c2 = d.cx * d.cx + d.cy * d.cy
        d.dist = d.rho2 / d.c2  # 0/0 (two identical point boxes) -> NaN
        d.loss = d.iou.iou_loss + d.dist
        if complete:
            d.theta, d.s1, d.s2 = _angle_gap(b1[..., 2], b1[..., 3], b2[..., 2], b2[..., 3])
            d.v = _FOUR_OVER_PI2 * (d.theta * d.theta)
            # alpha = v / ((1 - IoU) + v), 0 where v == 0 (also where 1 - IoU == 0 there)
            d.alpha = np.where(d.v == 0, 0.0, d.v / (d.iou.iou_loss + d.v))
            d.loss = d.loss + d.alpha * d.v
    return d


def _dpair_back(d: SimpleNamespace, g: np.ndarray, alpha_grad: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """VJP of ``d.loss`` with cotangent ``g`` -> gradients in the broadcast box shape.

    alpha is held constant, unless ``alpha_grad`` (CIOU-ALPHA-GRAD): then d(alpha v) = alpha (2 - alpha) dv
    - alpha^2 d(1 - IoU), from alpha = v / (L + v) with L = 1 - IoU.
    """
    g_iou = -g
    if d.complete and alpha_grad:
        g_iou = g_iou * (1.0 - d.alpha * d.alpha)
    g1, g2 = box_pair_vjp(d.iou, g_iou)
    with np.errstate(all="ignore"):
        # rho^2 / c^2 = rx'^2 + ry'^2 over cx'^2 + cy'^2 in the rescaled doubled units
        g_r = 2.0 * g / d.c2
        for k, r, c, e in ((0, d.rx, d.cx, d.ex), (1, d.ry, d.cy, d.ey)):
            g_rho = np.ldexp(g_r * r, d.k)  # d/d(doubled centre distance)
            g_c = np.ldexp(-g_r * d.dist * c, d.k)  # d/d(doubled enclosure extent)
            # rho: 2 x1 - 2 x2; extent: max(R1, R2) - min(L1, L2) with R = 2x + w, L = 2x - w
            g1[..., k] += 2.0 * g_rho + 2.0 * g_c * (np.where(e.er1, 1.0, 0.0) - np.where(e.el1, 1.0, 0.0))
            g2[..., k] += -2.0 * g_rho + 2.0 * g_c * (np.where(e.er1, 0.0, 1.0) - np.where(e.el1, 0.0, 1.0))
            g1[..., 2 + k] += g_c * (np.where(e.er1, 1.0, 0.0) + np.where(e.el1, 1.0, 0.0))
            g2[..., 2 + k] += g_c * (np.where(e.er1, 0.0, 1.0) + np.where(e.el1, 0.0, 1.0))
        if d.complete:
            # alpha * dv/dtheta * dtheta; d atan2(w, h) = (h dw - w dh) / (w^2 + h^2), per-box rescaled
            a = d.alpha * (2.0 - d.alpha) if alpha_grad else d.alpha
            g_t = g * a * (2.0 * _FOUR_OVER_PI2) * d.theta
            for gb, (k, sw, sh), sign in ((g1, d.s1, -1.0), (g2, d.s2, 1.0)):
                n = sw * sw + sh * sh
                dw = np.where(g_t == 0, 0.0, np.ldexp(sign * g_t * sh / n, k))
                dh = np.where(g_t == 0, 0.0, np.ldexp(-sign * g_t * sw / n, k))
                gb[..., 2] += dw
                gb[..., 3] += dh
    undefined = np.isnan(d.loss) & (g != 0)
    g1[undefined] = np.nan
    g2[undefined] = np.nan
    return g1, g2


def _dpair_kinks(d: SimpleNamespace) -> tuple[np.ndarray, np.ndarray]:
    """IoU kinks, enclosure ties of c^2 (where the distance term depends on them) and, for CIoU, the
    (w, h) of a box of zero size (atan2 is discontinuous at the origin)."""
    k1, k2 = box_pair_kinks(d.iou)
    # d(rho^2/c^2)/d(extent) = -2 (rho^2/c^2) extent / c^2: no kink where the centres coincide or the extent is 0
    for k, e, c in ((0, d.ex, d.cx), (1, d.ey, d.cy)):
        t = e.tie & (d.rho2 != 0) & (c != 0)
        for kk in (k1, k2):
            kk[..., k] |= t
            kk[..., 2 + k] |= t
    if d.complete:
        for kk, b in ((k1, d.iou.b1), (k2, d.iou.b2)):
            point = (b[..., 2] == 0) & (b[..., 3] == 0)
            kk[..., 2] |= point
            kk[..., 3] |= point
    return k1, k2


def diou_loss(boxes1: Any, boxes2: Any) -> np.ndarray:
    """Distance-IoU loss ``1 - IoU + rho^2 / c^2`` (IoU as in ``bbox_iou``; c: the enclosing box's diagonal).

    NaN where IoU is undefined (YOLO-ZERO-UNION), in particular for two identical point boxes (0/0 in
    ``rho^2 / c^2``).  Intended for ``w, h >= 0``; other extents evaluate the same formulas on the raw corners.
    """
    b1, b2 = two_boxes(boxes1, boxes2)
    return _dpair(b1, b2, complete=False).loss


def ciou_loss(boxes1: Any, boxes2: Any) -> np.ndarray:
    """Complete-IoU loss ``1 - IoU + rho^2 / c^2 + alpha v`` (boxes2 is the ground truth).

    ``v = (4 / pi^2) (atan2(w2, h2) - atan2(w1, h1))^2``, ``alpha = v / ((1 - IoU) + v)`` (0 where v = 0).
    The VJP holds alpha constant (stop-gradient, docs/contracts.md; the divergence CIOU-ALPHA-GRAD differentiates it).
    """
    b1, b2 = two_boxes(boxes1, boxes2)
    return _dpair(b1, b2, complete=True).loss


CIOU_VARIANTS = ("CIOU-ALPHA-GRAD",)


def _dbox_eval(name: str, fn, allowed: tuple[str, ...]):
    def evaluate(*, boxes1, boxes2, variants=()):
        variants_of(name, variants, allowed)  # the variants change only the VJP
        return fn(boxes1, boxes2)

    return evaluate


def _dbox_vjp(name: str, complete: bool, allowed: tuple[str, ...]):
    def vjp(cotangent: Any, wrt: str, *, boxes1: Any, boxes2: Any, variants: Any = ()) -> np.ndarray:
        wrt_of(name, wrt, ("boxes1", "boxes2"))
        vs = variants_of(name, variants, allowed)
        b1, b2 = two_boxes(boxes1, boxes2)
        d = _dpair(b1, b2, complete)
        g1, g2 = _dpair_back(d, cotangent_like(cotangent, d.loss.shape), "CIOU-ALPHA-GRAD" in vs)
        return unbroadcast(g1, b1.shape) if wrt == "boxes1" else unbroadcast(g2, b2.shape)

    return vjp


def _dbox_kinks(name: str, complete: bool, allowed: tuple[str, ...]):
    def kinks(wrt: str, *, boxes1: Any, boxes2: Any, variants: Any = ()) -> np.ndarray:
        wrt_of(name, wrt, ("boxes1", "boxes2"))
        variants_of(name, variants, allowed)
        b1, b2 = two_boxes(boxes1, boxes2)
        k1, k2 = _dpair_kinks(_dpair(b1, b2, complete))
        return unbroadcast(k1, b1.shape, np.any) if wrt == "boxes1" else unbroadcast(k2, b2.shape, np.any)

    return kinks


SPECS: list[OracleSpec] = [
    OracleSpec("diou_loss", "yolov3", _dbox_eval("diou_loss", diou_loss, ()), _dbox_vjp("diou_loss", False, ()),
               _dbox_kinks("diou_loss", False, ()), ("boxes1", "boxes2")),
    OracleSpec("ciou_loss", "yolov3", _dbox_eval("ciou_loss", ciou_loss, CIOU_VARIANTS),
               _dbox_vjp("ciou_loss", True, CIOU_VARIANTS), _dbox_kinks("ciou_loss", True, CIOU_VARIANTS),
               ("boxes1", "boxes2"), variants=CIOU_VARIANTS),
]
