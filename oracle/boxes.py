"""IoU and GIoU of YOLOv3 boxes (docs/contracts.md): ``bbox_iou``, ``bbox_giou``, ``iou_loss``, ``giou_loss``.

Boxes are ``(x, y, w, h)`` with ``(x, y)`` the centre; box arrays broadcast over their leading axes.  The
forward record :func:`box_pair` with its VJP :func:`box_pair_vjp` and kink mask :func:`box_pair_kinks` is
shared by the DIoU / CIoU losses (:mod:`oracle.diou`), the background screening (:mod:`oracle.maxiou`) and
``loss_layer`` (:mod:`oracle.yolov3`).

Accuracy
    Box corners ``x -+ w/2`` are held (doubled) as exact double-double values (:mod:`oracle.exact`), so
    the overlap and enclosure extents are obtained without the cancellation that
    corners at large coordinates would cause (e.g. centres near 1e6 with extents
    near 1).  Areas and products use exact TwoProduct splits and the sums
    ``union = a1 + a2 - inter``, ``union - inter`` and ``enclose - union`` are
    compensated, so ``iou_loss = (union - inter) / union`` and
    ``giou_loss = (union - inter) / union + (enclose - union) / enclose`` are
    relatively accurate even when they are tiny.  Remaining conditioning:
    ``bbox_giou`` near zero (``iou ~= (enclose - union) / enclose``) is accurate
    to a few ulps of 1, not relatively; each extent is rounded once to float64
    before the products.  The lengths of each axis are rescaled by a power of two
    (exact; ratios of areas are unchanged) so that areas neither overflow nor
    underflow unless two lengths on one axis differ by a factor beyond ~1e290.

Undefined values (YOLO-ZERO-UNION)
    A 0/0 union or enclosing area gives NaN (IoU, GIoU and their losses), and so does the gradient there.

Gradients
    Analytic, following TensorFlow's tie conventions: ``tf.maximum(x, y)`` sends
    the gradient to ``x`` when ``x >= y``, ``tf.minimum(x, y)`` to ``x`` when
    ``x <= y``, ``tf.maximum(d, 0)`` passes when ``d >= 0``; the corner re-sorting
    in ``bbox_giou`` therefore gives ``d|w|/dw = 0`` at ``w = 0``.  ``kinks`` marks the entries whose
    partial derivative is not unique for the exact function: an overlap tie (corner tie or touching
    boxes) along an axis where the other axis overlaps positively, an enclosure
    tie (GIoU) and a zero extent (the ``|w|`` of the GIoU corner sort).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from ._spec import OracleSpec
from ._validate import as_float, broadcastable, cotangent_like, last_dim, unbroadcast, wrt_of
from .exact import binary_exponent, compensated_sum, dd_eq, dd_ge, dd_sub, dd_where, two_prod, two_sum

__all__ = ["bbox_giou", "bbox_iou", "box_pair", "box_pair_kinks", "box_pair_vjp", "doubled_corners", "giou_loss",
           "iou_loss", "two_boxes"]


def box_array(name: str, boxes: Any) -> np.ndarray:
    """A float64 box array ``(..., 4)``."""
    b = as_float(name, boxes, min_rank=1)
    last_dim(name, b, 4, "4 (x, y, w, h)")
    return b


def two_boxes(boxes1: Any, boxes2: Any) -> tuple[np.ndarray, np.ndarray]:
    """``boxes1`` and ``boxes2`` as float64 box arrays whose shapes broadcast."""
    b1 = box_array("boxes1", boxes1)
    b2 = box_array("boxes2", boxes2)
    broadcastable("boxes1", b1, "boxes2", b2)
    return b1, b2


def doubled_corners(c: np.ndarray, w: np.ndarray, sort: bool) -> tuple:
    """Doubled corners ``2x -+ w`` as exact double-doubles, and d corner / d w (d corner / d x is 2).

    Working in doubled units avoids halving ``w`` (inexact for subnormal ``w``); every length below is a
    doubled length, which leaves the ratios of areas unchanged.
    """
    lo = two_sum(2.0 * c, -w)
    hi = two_sum(2.0 * c, w)
    if not sort:
        return lo, hi, -1.0, 1.0
    # tf.minimum(l, r) passes to l when l <= r (w >= 0); tf.maximum(l, r) passes to l when l >= r (w <= 0).
    lo_is_l = w >= 0
    hi_is_r = w > 0
    left = dd_where(lo_is_l, lo, hi)
    right = dd_where(hi_is_r, hi, lo)
    return left, right, np.where(lo_is_l, -1.0, 1.0), np.where(hi_is_r, 1.0, -1.0)


def _axis(c1, w1, c2, w2, sort: bool) -> SimpleNamespace:
    """Overlap (and, when ``sort``, enclosure) extent along one axis, with the branch choices."""
    L1, R1, sl1, sr1 = doubled_corners(c1, w1, sort)
    L2, R2, sl2, sr2 = doubled_corners(c2, w2, sort)
    ax = SimpleNamespace(sl1=sl1, sr1=sr1, sl2=sl2, sr2=sr2)
    ax.l1 = dd_ge(L1, L2)  # max(L1, L2) -> box 1 when L1 >= L2
    ax.r1 = dd_ge(R2, R1)  # min(R1, R2) -> box 1 when R1 <= R2
    left = dd_where(ax.l1, L1, L2)
    right = dd_where(ax.r1, R1, R2)
    ax.ipass = dd_ge(right, left)
    touch = dd_eq(right, left)
    ax.ipos = ax.ipass & ~touch  # exactly positive overlap
    pre = dd_sub(right, left)
    ax.inter = np.where(np.isnan(pre), np.nan, np.where(ax.ipass, np.maximum(pre, 0.0), 0.0))
    corner_tie = dd_eq(L1, L2) | dd_eq(R1, R2)
    # ties of the overlap's max / min and of max(right - left, 0); they matter only where the other
    # axis overlaps positively (see box_pair_kinks)
    ax.itie = (corner_tie | touch) & ax.ipass
    if sort:
        ax.el1 = dd_ge(L2, L1)  # min(L1, L2) -> box 1 when L1 <= L2
        ax.er1 = dd_ge(R1, R2)  # max(R1, R2) -> box 1 when R1 >= R2
        eleft = dd_where(ax.el1, L1, L2)
        eright = dd_where(ax.er1, R1, R2)
        ax.epass = dd_ge(eright, eleft)
        epre = dd_sub(eright, eleft)
        ax.enc = np.where(np.isnan(epre), np.nan, np.where(ax.epass, np.maximum(epre, 0.0), 0.0))
        ax.ext1, ax.ext2 = np.abs(2.0 * w1), np.abs(2.0 * w2)  # hi - lo of the sorted (doubled) corners
        ax.etie = corner_tie  # ties of the enclosure's min / max
        ax.kink_w1, ax.kink_w2 = w1 == 0, w2 == 0
        # each box spans the enclosure along this axis / lies strictly inside the other's span
        ax.full1 = dd_eq(L1, eleft) & dd_eq(R1, eright)
        ax.full2 = dd_eq(L2, eleft) & dd_eq(R2, eright)
        ax.in1 = dd_ge(L1, L2) & ~dd_eq(L1, L2) & dd_ge(R2, R1) & ~dd_eq(R1, R2)
        ax.in2 = dd_ge(L2, L1) & ~dd_eq(L1, L2) & dd_ge(R1, R2) & ~dd_eq(R1, R2)
    else:
        ax.etie = np.zeros(np.shape(c1), dtype=bool)
        ax.kink_w1 = ax.kink_w2 = ax.etie
    return ax


def _axis_back(ax: SimpleNamespace, g_inter, g_enc=None, g_ext1=None, g_ext2=None):
    dpre = np.where(ax.ipass, g_inter, 0.0)
    dL1 = np.where(ax.l1, -dpre, 0.0)
    dL2 = np.where(ax.l1, 0.0, -dpre)
    dR1 = np.where(ax.r1, dpre, 0.0)
    dR2 = np.where(ax.r1, 0.0, dpre)
    if g_enc is not None:
        depre = np.where(ax.epass, g_enc, 0.0)
        dL1 = dL1 + np.where(ax.el1, -depre, 0.0)
        dL2 = dL2 + np.where(ax.el1, 0.0, -depre)
        dR1 = dR1 + np.where(ax.er1, depre, 0.0)
        dR2 = dR2 + np.where(ax.er1, 0.0, depre)
        dL1, dR1 = dL1 - g_ext1, dR1 + g_ext1
        dL2, dR2 = dL2 - g_ext2, dR2 + g_ext2
    return 2.0 * (dL1 + dR1), ax.sl1 * dL1 + ax.sr1 * dR1, 2.0 * (dL2 + dR2), ax.sl2 * dL2 + ax.sr2 * dR2


def box_pair(b1: np.ndarray, b2: np.ndarray, giou: bool) -> SimpleNamespace:
    """IoU (raw areas, unsorted corners) or GIoU (sorted corners) of broadcast box pairs.

    The lengths of each axis are rescaled by a power of two (exact) so that the largest is below 1: the
    area ratios are unchanged and the products can neither overflow nor underflow for any finite boxes
    whose extents along one axis lie within ~1e300 of each other.
    """
    b1, b2 = np.broadcast_arrays(b1, b2)
    p = SimpleNamespace(b1=b1, b2=b2, giou=giou)
    with np.errstate(all="ignore"):
        x = _axis(b1[..., 0], b1[..., 2], b2[..., 0], b2[..., 2], giou)
        y = _axis(b1[..., 1], b1[..., 3], b2[..., 1], b2[..., 3], giou)
        p.x, p.y = x, y
        for ax, k in ((x, 2), (y, 3)):
            w1, w2 = (ax.ext1, ax.ext2) if giou else (2.0 * b1[..., k], 2.0 * b2[..., k])
            ax.k = -binary_exponent(w1, w2, ax.inter, *((ax.enc,) if giou else ()))
            ax.s_inter, ax.s_w1, ax.s_w2 = np.ldexp(ax.inter, ax.k), np.ldexp(w1, ax.k), np.ldexp(w2, ax.k)
            if giou:
                ax.s_enc = np.ldexp(ax.enc, ax.k)
        a1, a2 = two_prod(x.s_w1, y.s_w1), two_prod(x.s_w2, y.s_w2)
        inter = two_prod(x.s_inter, y.s_inter)
        p.inter = inter[0]
        p.union = compensated_sum([a1[0], a2[0], -inter[0], a1[1], a2[1], -inter[1]])
        u_minus_i = compensated_sum([a1[0], a2[0], -inter[0], -inter[0], a1[1], a2[1], -inter[1], -inter[1]])
        p.iou = p.inter / p.union
        p.iou_loss = u_minus_i / p.union
        if giou:
            enc = two_prod(x.s_enc, y.s_enc)
            p.enc = enc[0]
            e_minus_u = compensated_sum([enc[0], -a1[0], -a2[0], inter[0], enc[1], -a1[1], -a2[1], inter[1]])
            ratio = e_minus_u / p.enc
            p.value = p.iou - ratio
            p.loss = p.iou_loss + ratio
        else:
            p.value = p.iou
            p.loss = p.iou_loss
    return p


def box_pair_vjp(p: SimpleNamespace, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """VJP of ``p.value`` with cotangent ``g`` (broadcast shape) -> gradients in the broadcast box shape."""
    x, y = p.x, p.y
    with np.errstate(all="ignore"):
        # gradients wrt the rescaled lengths, then back to the original units (times 2**k)
        d_union = -g * p.iou / p.union
        if p.giou:
            d_enc = -g * (p.union / p.enc) / p.enc
            d_union = d_union + g / p.enc
        d_inter = g / p.union - d_union
        d_ix = np.ldexp(d_inter * y.s_inter, x.k)
        d_iy = np.ldexp(d_inter * x.s_inter, y.k)
        g1 = np.empty(p.b1.shape)
        g2 = np.empty(p.b2.shape)
        if p.giou:
            cx1, wx1, cx2, wx2 = _axis_back(x, d_ix, np.ldexp(d_enc * y.s_enc, x.k),
                                            np.ldexp(d_union * y.s_w1, x.k), np.ldexp(d_union * y.s_w2, x.k))
            cy1, wy1, cy2, wy2 = _axis_back(y, d_iy, np.ldexp(d_enc * x.s_enc, y.k),
                                            np.ldexp(d_union * x.s_w1, y.k), np.ldexp(d_union * x.s_w2, y.k))
        else:
            cx1, wx1, cx2, wx2 = _axis_back(x, d_ix)
            cy1, wy1, cy2, wy2 = _axis_back(y, d_iy)
            # raw areas: the doubled length is 2w, hence 2**(k + 1)
            wx1 = wx1 + np.ldexp(d_union * y.s_w1, x.k + 1)
            wy1 = wy1 + np.ldexp(d_union * x.s_w1, y.k + 1)
            wx2 = wx2 + np.ldexp(d_union * y.s_w2, x.k + 1)
            wy2 = wy2 + np.ldexp(d_union * x.s_w2, y.k + 1)
    g1[..., 0], g1[..., 1], g1[..., 2], g1[..., 3] = cx1, cy1, wx1, wy1
    g2[..., 0], g2[..., 1], g2[..., 2], g2[..., 3] = cx2, cy2, wx2, wy2
    # where the value is undefined (0/0), so is its gradient
    undefined = np.isnan(p.value) & (g != 0)
    g1[undefined] = np.nan
    g2[undefined] = np.nan
    return g1, g2


def box_pair_kinks(p: SimpleNamespace) -> tuple[np.ndarray, np.ndarray]:
    """Per box entry: True where the partial derivative of the exact function is not unique.

    A tie in the overlap along one axis (corner ties, touching boxes) is a kink only where the
    other axis overlaps positively: otherwise the intersection is ``overlap_x * overlap_y`` with a
    zero factor that this axis's entries do not move, so their partial derivatives are 0 from
    every side.  In GIoU the value depends on the intersection through
    ``(a1 + a2) / union**2 - 1 / enclose``, which vanishes exactly when the boxes touch and
    their union fills the enclosing box (side by side, sharing a whole side): touching is then
    no kink.  Enclosure ties (GIoU) are kinks wherever the value is defined (their one-sided
    derivatives have opposite signs).  A zero extent (the ``|w|`` of the GIoU corner sort) is a
    kink unless the box is a point lying strictly inside the other box's span along that axis
    (then nothing depends on ``|w|`` to first order).  Remaining exact cancellations of
    one-sided derivatives at such points (isolated equalities between lengths) are still marked.
    """
    x, y = p.x, p.y
    if p.giou:
        # touching along x with the union filling the enclosure: both boxes span the enclosure in y
        # (or have zero width)
        fill_x = (x.kink_w1 | y.full1) & (x.kink_w2 | y.full2)
        fill_y = (y.kink_w1 | x.full1) & (y.kink_w2 | x.full2)
        kx = x.etie | (x.itie & y.ipos & ~fill_x)
        ky = y.etie | (y.itie & x.ipos & ~fill_y)
        w_kinks = ((x.kink_w1 & ~(y.kink_w1 & x.in1), y.kink_w1 & ~(x.kink_w1 & y.in1)),
                   (x.kink_w2 & ~(y.kink_w2 & x.in2), y.kink_w2 & ~(x.kink_w2 & y.in2)))
    else:
        kx = x.itie & y.ipos
        ky = y.itie & x.ipos
        w_kinks = ((x.kink_w1, y.kink_w1), (x.kink_w2, y.kink_w2))
    k1 = np.zeros(p.b1.shape, dtype=bool)
    k2 = np.zeros(p.b2.shape, dtype=bool)
    for k, (w_kink, h_kink) in zip((k1, k2), w_kinks, strict=True):
        k[..., 0] = k[..., 2] = kx
        k[..., 1] = k[..., 3] = ky
        k[..., 2] |= w_kink
        k[..., 3] |= h_kink
    return k1, k2


def bbox_iou(boxes1: Any, boxes2: Any) -> np.ndarray:
    """IoU with areas from the raw ``w*h`` and unsorted corners (YOLO-IOU-RAW-AREA); 0/0 -> NaN."""
    b1, b2 = two_boxes(boxes1, boxes2)
    return box_pair(b1, b2, giou=False).value


def bbox_giou(boxes1: Any, boxes2: Any) -> np.ndarray:
    """GIoU of re-sorted corners: ``iou - (enclose - union) / enclose``; 0/0 -> NaN."""
    b1, b2 = two_boxes(boxes1, boxes2)
    return box_pair(b1, b2, giou=True).value


def iou_loss(boxes1: Any, boxes2: Any) -> np.ndarray:
    """``1 - bbox_iou``, evaluated as ``(union - inter) / union``."""
    b1, b2 = two_boxes(boxes1, boxes2)
    return box_pair(b1, b2, giou=False).loss


def giou_loss(boxes1: Any, boxes2: Any) -> np.ndarray:
    """``1 - bbox_giou``, evaluated as a sum of two non-negative ratios for positive extents."""
    b1, b2 = two_boxes(boxes1, boxes2)
    return box_pair(b1, b2, giou=True).loss


def _box_vjp(name: str, giou: bool, sign: float):
    def vjp(cotangent: Any, wrt: str, *, boxes1: Any, boxes2: Any) -> np.ndarray:
        wrt_of(name, wrt, ("boxes1", "boxes2"))
        b1, b2 = two_boxes(boxes1, boxes2)
        p = box_pair(b1, b2, giou)
        g = sign * cotangent_like(cotangent, p.value.shape)
        g1, g2 = box_pair_vjp(p, g)
        return unbroadcast(g1, b1.shape) if wrt == "boxes1" else unbroadcast(g2, b2.shape)

    return vjp


def _box_kinks(name: str, giou: bool):
    def kinks(wrt: str, *, boxes1: Any, boxes2: Any) -> np.ndarray:
        wrt_of(name, wrt, ("boxes1", "boxes2"))
        b1, b2 = two_boxes(boxes1, boxes2)
        k1, k2 = box_pair_kinks(box_pair(b1, b2, giou))
        return unbroadcast(k1, b1.shape, np.any) if wrt == "boxes1" else unbroadcast(k2, b2.shape, np.any)

    return kinks


def _box_eval(fn):
    def evaluate(*, boxes1, boxes2):
        return fn(boxes1, boxes2)

    return evaluate


SPECS: list[OracleSpec] = [
    OracleSpec("bbox_iou", "yolov3", _box_eval(bbox_iou), _box_vjp("bbox_iou", False, 1.0),
               _box_kinks("bbox_iou", False), ("boxes1", "boxes2")),
    OracleSpec("bbox_giou", "yolov3", _box_eval(bbox_giou), _box_vjp("bbox_giou", True, 1.0),
               _box_kinks("bbox_giou", True), ("boxes1", "boxes2")),
    OracleSpec("iou_loss", "yolov3", _box_eval(iou_loss), _box_vjp("iou_loss", False, -1.0),
               _box_kinks("iou_loss", False), ("boxes1", "boxes2")),
    OracleSpec("giou_loss", "yolov3", _box_eval(giou_loss), _box_vjp("giou_loss", True, -1.0),
               _box_kinks("giou_loss", True), ("boxes1", "boxes2")),
]
