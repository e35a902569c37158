"""YOLOv3 family (spec §4): ``decode``, IoU / GIoU / DIoU / CIoU, ``focal``, ``loss_layer``, ``compute_loss``.

Everything is float64 NumPy and vectorised (the only Python loop runs over the
three scales of ``compute_loss``).  Boxes are ``(x, y, w, h)`` with ``(x, y)``
the centre; box arrays broadcast over their leading axes.

Accuracy
    Box corners ``x -+ w/2`` are held (doubled) as exact double-double values, so
    the overlap and enclosure extents are obtained without the cancellation that
    corners at large coordinates would cause (e.g. centres near 1e6 with extents
    near 1).  Areas and products use exact TwoProduct splits and the sums
    ``union = a1 + a2 - inter``, ``union - inter`` and ``enclose - union`` are
    compensated, so ``iou_loss = (union - inter) / union`` and
    ``giou_loss = (union - inter) / union + (enclose - union) / enclose`` are
    relatively accurate even when they are tiny.  Remaining conditioning:
    ``bbox_giou`` near zero (``iou ~= (enclose - union) / enclose``) is accurate
    to a few ulps of 1, not relatively; each extent is rounded once to float64
    before the products.  ``diou_loss`` and ``ciou_loss`` add ``rho^2 / c^2``
    (centre differences rounded once, enclosure extents from the double-double
    corners, all rescaled together by a power of two) and ``alpha v`` with the
    aspect-angle gap taken as one ``atan2`` of an exactly summed cross product.
    The lengths of each axis are rescaled by a power of two
    (exact; ratios of areas are unchanged) so that areas neither overflow nor
    underflow unless two lengths on one axis differ by a factor beyond ~1e290.
    In ``loss_layer`` with ``pred=None`` the decoded boxes are rounded to float64
    once (relative error ~1e-16 in the box centre), so for a near-perfect
    prediction each responsible cell's ``1 - GIoU`` is accurate to a few ulps of
    ``|x| / w`` rather than relatively; the focal weight uses
    ``r - sigmoid(raw_conf)`` evaluated from the logit without cancellation.

Speed
    The background mask needs ``max_iou`` over every prediction x true-box pair
    (12.8 M pairs for YOLOv3 416, batch 8, 150 boxes).  It is screened in
    plain float64 with rigorous error bounds (pairs certainly apart have IoU
    exactly 0); only the pairs that may be the maximum of their row within
    rounding distance, or whose plain evaluation is unreliable, go through the
    error-free arithmetic, so the maximum is bit for bit the error-free one
    (``_max_iou_exact``).  The class term ``r * SCE`` is evaluated only on the
    cells where it can be non-zero (``r != 0``) or NaN (non-finite input).

Undefined values (spec YOLO-ZERO-UNION)
    A 0/0 union or enclosing area gives NaN (IoU, GIoU and their losses).  In
    ``loss_layer`` a NaN GIoU multiplied by a zero mask ``r`` stays NaN, as the
    documents' code computes (the exact value is undefined there).  ``max_iou``
    is a NaN-propagating maximum over the M true boxes (``-inf`` when M = 0,
    TensorFlow's ``reduce_max`` identity) and ``NaN < iou_loss_thresh`` is False,
    so such a cell is not background.

Gradients
    Analytic, following TensorFlow's tie conventions: ``tf.maximum(x, y)`` sends
    the gradient to ``x`` when ``x >= y``, ``tf.minimum(x, y)`` to ``x`` when
    ``x <= y``, ``tf.maximum(d, 0)`` passes when ``d >= 0``; the corner re-sorting
    in ``bbox_giou`` therefore gives ``d|w|/dw = 0`` at ``w = 0``.  No gradient
    flows through the background comparison.  ``focal`` at ``target == actual``
    uses the subgradient 0.  ``kinks`` marks the entries whose partial derivative
    is not unique for the exact function: an overlap tie (corner tie or touching
    boxes) along an axis where the other axis overlaps positively, an enclosure
    tie (GIoU), a zero extent (the ``|w|`` of the GIoU corner sort), a ``focal``
    cusp (``0 < gamma <= 1``, or the pole of ``gamma < 0``) and, in
    ``loss_layer``, a background cell with ``max_iou == iou_loss_thresh`` exactly
    (a jump of the value, not only a kink).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from ._spec import OracleSpec, no_kinks
from ._validate import as_float, last_dim, positive_int, variants_of, wrt_of

__all__ = [
    "bbox_giou", "bbox_iou", "ciou_loss", "compute_loss", "decode", "diou_loss", "focal", "giou_loss", "iou_loss",
    "loss_layer", "max_iou", "threshold_margin",
]

_LN2_HI = 6.93147180369123816490e-01  # fdlibm split of log(2): k * _LN2_HI is exact for |k| < 2**20
_LN2_LO = 1.90821492927058770002e-10
_SPLIT = 134217729.0  # 2**27 + 1, Dekker's splitter


# ----------------------------------------------------------------------------------------------------------------
# Elementary pieces
# ----------------------------------------------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _dsigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return e / ((1.0 + e) * (1.0 + e))


def _sce(z: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Sigmoid cross-entropy with logits: max(x,0) - x z + log(1 + e^-|x|), without cancellation."""
    return np.where(x >= 0, x * (1.0 - z), -x * z) + np.log1p(np.exp(-np.abs(x)))


def _dsce(z: np.ndarray, x: np.ndarray) -> np.ndarray:
    """d SCE / d x = sigmoid(x) - z, written as (1 - z) - sigmoid(-x) for x >= 0."""
    return np.where(x >= 0, (1.0 - z) - _sigmoid(-x), _sigmoid(x) - z)


def _exp_mul(r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """e^r * c, also where e^r alone over- or underflows but the product is representable."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        out = np.exp(r) * c
        redo = np.isfinite(r) & np.isfinite(c) & (c != 0) & ((r > 709.0) | (r < -708.0))
        if np.any(redo):
            rr = np.where(redo, r, 0.0)
            k = np.clip(np.rint(rr / _LN2_HI), -5000, 5000)
            f = (rr - k * _LN2_HI) - k * _LN2_LO
            alt = np.ldexp(np.exp(f) * c, k.astype(np.int64))
            out = np.where(redo, alt, out)
    return out


# Error-free transformations (vectorised).


def _two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    return s, np.where(np.isfinite(s), e, 0.0)


def _two_prod(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = a * b
    ca, cb = _SPLIT * a, _SPLIT * b
    ah = ca - (ca - a)
    al = a - ah
    bh = cb - (cb - b)
    bl = b - bh
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    ok = np.isfinite(e) & np.isfinite(p) & (np.abs(p) > 1e-290)
    return p, np.where(ok, e, 0.0)


def _sum2(terms: Sequence[np.ndarray]) -> np.ndarray:
    """Compensated sum (as if in twice the working precision)."""
    s = terms[0]
    c = np.zeros_like(s)
    for t in terms[1:]:
        s, e = _two_sum(s, t)
        c = c + e
    return np.where(np.isfinite(s), s + c, s)


def _dd_ge(a: tuple, b: tuple) -> np.ndarray:
    """Exact ``a >= b`` for normalised double-double values."""
    return (a[0] > b[0]) | ((a[0] == b[0]) & (a[1] >= b[1]))


def _dd_eq(a: tuple, b: tuple) -> np.ndarray:
    return (a[0] == b[0]) & (a[1] == b[1])


def _dd_where(m: np.ndarray, a: tuple, b: tuple) -> tuple:
    return np.where(m, a[0], b[0]), np.where(m, a[1], b[1])


def _dd_sub(a: tuple, b: tuple) -> np.ndarray:
    s, e = _two_sum(a[0], -b[0])
    return np.where(np.isfinite(s), s + (e + (a[1] - b[1])), s)


# ----------------------------------------------------------------------------------------------------------------
# Validation helpers
# ----------------------------------------------------------------------------------------------------------------


def _scalar(name: str, value: Any, positive: bool = False) -> float:
    arr = as_float(name, value)
    if arr.ndim != 0:
        raise ValueError(f"{name}: expected a scalar, got shape {arr.shape}")
    v = float(arr)
    if positive and not (np.isfinite(v) and v > 0):
        raise ValueError(f"{name}: expected a positive finite number, got {v!r}")
    if not positive and np.isinf(v):
        raise ValueError(f"{name}: expected a finite number, got {v!r}")
    return v


def _anchors(name: str, anchors: Any) -> np.ndarray:
    a = as_float(name, anchors, rank=2)
    last_dim(name, a, 2, "2 (w, h)")
    if a.shape[0] < 1:
        raise ValueError(f"{name}: expected at least one anchor, got shape {a.shape}")
    return a


def _conv(name: str, conv: Any, n_anchors: int, n_class: int) -> np.ndarray:
    c = as_float(name, conv, rank=4)
    if c.shape[1] != c.shape[2]:
        raise ValueError(f"{name}: expected a square S x S grid, got {c.shape[1]} x {c.shape[2]} (shape {c.shape})")
    last_dim(name, c, n_anchors * (5 + n_class), f"A*(5+N) = {n_anchors}*(5+{n_class})")
    return c


def _box_array(name: str, boxes: Any) -> np.ndarray:
    b = as_float(name, boxes, min_rank=1)
    last_dim(name, b, 4, "4 (x, y, w, h)")
    return b


def _two_boxes(boxes1: Any, boxes2: Any) -> tuple[np.ndarray, np.ndarray]:
    b1 = _box_array("boxes1", boxes1)
    b2 = _box_array("boxes2", boxes2)
    try:
        np.broadcast_shapes(b1.shape, b2.shape)
    except ValueError:
        raise ValueError(f"boxes2: shape {b2.shape} does not broadcast with boxes1 shape {b1.shape}") from None
    return b1, b2


def _cotangent(cotangent: Any, shape: tuple[int, ...]) -> np.ndarray:
    c = as_float("cotangent", cotangent)
    try:
        return np.broadcast_to(c, shape)
    except ValueError:
        raise ValueError(f"cotangent: shape {c.shape} does not match the output shape {shape}") from None


def _cotangent3(cotangent: Any) -> tuple[float, float, float]:
    try:
        parts = list(cotangent)
    except TypeError:
        raise ValueError("cotangent: expected a tuple of three scalars") from None
    if len(parts) != 3:
        raise ValueError(f"cotangent: expected a tuple of three scalars, got {len(parts)} entries")
    return tuple(_scalar("cotangent", p) for p in parts)  # type: ignore[return-value]


def _unbroadcast(g: np.ndarray, shape: tuple[int, ...], reduce=np.sum) -> np.ndarray:
    while g.ndim > len(shape):
        g = reduce(g, axis=0)
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = reduce(g, axis=axes, keepdims=True)
    return np.ascontiguousarray(g)


# ----------------------------------------------------------------------------------------------------------------
# decode
# ----------------------------------------------------------------------------------------------------------------


def _decode_args(conv_output: Any, anchors: Any, stride: Any, num_class: Any, names: dict | None = None):
    names = names or {}
    n = positive_int("num_class", num_class)
    a = _anchors(names.get("anchors", "anchors"), anchors)
    c = _conv(names.get("conv", "conv_output"), conv_output, a.shape[0], n)
    s = _scalar(names.get("stride", "stride"), stride, positive=True)
    return c.reshape(c.shape[:3] + (a.shape[0], 5 + n)), a, s


def _decode_raw(raw: np.ndarray, anchors: np.ndarray, stride: float) -> np.ndarray:
    size = raw.shape[1]
    grid = np.zeros((1, size, size, 1, 2))
    grid[..., 0] = np.arange(size)[None, None, :, None]  # column index
    grid[..., 1] = np.arange(size)[None, :, None, None]  # row index
    xy = (_sigmoid(raw[..., 0:2]) + grid) * stride
    wh = _exp_mul(raw[..., 2:4], anchors * stride)
    return np.concatenate([xy, wh, _sigmoid(raw[..., 4:])], axis=-1)


def _decode_vjp_raw(g: np.ndarray, raw: np.ndarray, anchors: np.ndarray, stride: float) -> np.ndarray:
    out = np.empty_like(raw)
    out[..., 0:2] = g[..., 0:2] * (stride * _dsigmoid(raw[..., 0:2]))
    out[..., 2:4] = g[..., 2:4] * _exp_mul(raw[..., 2:4], anchors * stride)
    out[..., 4:] = g[..., 4:] * _dsigmoid(raw[..., 4:])
    return out


def decode(conv_output: Any, anchors: Any, stride: Any, num_class: Any) -> np.ndarray:
    """Decode raw (B, S, S, A*(5+N)) output into (B, S, S, A, 5+N) boxes ``(x, y, w, h, conf, prob...)``."""
    raw, a, s = _decode_args(conv_output, anchors, stride, num_class)
    return _decode_raw(raw, a, s)


def _decode_vjp(cotangent: Any, wrt: str, *, conv_output: Any, anchors: Any, stride: Any, num_class: Any):
    wrt_of("decode", wrt, ("conv_output",))
    raw, a, s = _decode_args(conv_output, anchors, stride, num_class)
    g = _cotangent(cotangent, raw.shape)
    return _decode_vjp_raw(g, raw, a, s).reshape(raw.shape[:3] + (-1,))


# ----------------------------------------------------------------------------------------------------------------
# IoU / GIoU
# ----------------------------------------------------------------------------------------------------------------


def _corners(c: np.ndarray, w: np.ndarray, sort: bool):
    """Doubled corners ``2x -+ w`` as exact double-doubles, and d corner / d w (d corner / d x is 2).

    Working in doubled units avoids halving ``w`` (inexact for subnormal ``w``); every length below is a
    doubled length, which leaves the ratios of areas unchanged.
    """
    lo = _two_sum(2.0 * c, -w)
    hi = _two_sum(2.0 * c, w)
    if not sort:
        return lo, hi, -1.0, 1.0
    # tf.minimum(l, r) passes to l when l <= r (w >= 0); tf.maximum(l, r) passes to l when l >= r (w <= 0).
    lo_is_l = w >= 0
    hi_is_r = w > 0
    left = _dd_where(lo_is_l, lo, hi)
    right = _dd_where(hi_is_r, hi, lo)
    return left, right, np.where(lo_is_l, -1.0, 1.0), np.where(hi_is_r, 1.0, -1.0)


def _axis(c1, w1, c2, w2, sort: bool) -> SimpleNamespace:
    """Overlap (and, when ``sort``, enclosure) extent along one axis, with the branch choices."""
    L1, R1, sl1, sr1 = _corners(c1, w1, sort)
    L2, R2, sl2, sr2 = _corners(c2, w2, sort)
    ax = SimpleNamespace(sl1=sl1, sr1=sr1, sl2=sl2, sr2=sr2)
    ax.l1 = _dd_ge(L1, L2)  # max(L1, L2) -> box 1 when L1 >= L2
    ax.r1 = _dd_ge(R2, R1)  # min(R1, R2) -> box 1 when R1 <= R2
    left = _dd_where(ax.l1, L1, L2)
    right = _dd_where(ax.r1, R1, R2)
    ax.ipass = _dd_ge(right, left)
    touch = _dd_eq(right, left)
    ax.ipos = ax.ipass & ~touch  # exactly positive overlap
    pre = _dd_sub(right, left)
    ax.inter = np.where(np.isnan(pre), np.nan, np.where(ax.ipass, np.maximum(pre, 0.0), 0.0))
    corner_tie = _dd_eq(L1, L2) | _dd_eq(R1, R2)
    # ties of the overlap's max / min and of max(right - left, 0); they matter only where the other
    # axis overlaps positively (see _pair_kinks)
    ax.itie = (corner_tie | touch) & ax.ipass
    if sort:
        ax.el1 = _dd_ge(L2, L1)  # min(L1, L2) -> box 1 when L1 <= L2
        ax.er1 = _dd_ge(R1, R2)  # max(R1, R2) -> box 1 when R1 >= R2
        eleft = _dd_where(ax.el1, L1, L2)
        eright = _dd_where(ax.er1, R1, R2)
        ax.epass = _dd_ge(eright, eleft)
        epre = _dd_sub(eright, eleft)
        ax.enc = np.where(np.isnan(epre), np.nan, np.where(ax.epass, np.maximum(epre, 0.0), 0.0))
        ax.ext1, ax.ext2 = np.abs(2.0 * w1), np.abs(2.0 * w2)  # hi - lo of the sorted (doubled) corners
        ax.etie = corner_tie  # ties of the enclosure's min / max
        ax.kink_w1, ax.kink_w2 = w1 == 0, w2 == 0
        # each box spans the enclosure along this axis / lies strictly inside the other's span
        ax.full1 = _dd_eq(L1, eleft) & _dd_eq(R1, eright)
        ax.full2 = _dd_eq(L2, eleft) & _dd_eq(R2, eright)
        ax.in1 = _dd_ge(L1, L2) & ~_dd_eq(L1, L2) & _dd_ge(R2, R1) & ~_dd_eq(R1, R2)
        ax.in2 = _dd_ge(L2, L1) & ~_dd_eq(L1, L2) & _dd_ge(R1, R2) & ~_dd_eq(R1, R2)
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


def _exponent(*lengths: np.ndarray) -> np.ndarray:
    """Binary exponent k with max |length| in [2**(k-1), 2**k) (0 where all are 0 or not finite)."""
    m = np.zeros(np.shape(lengths[0]))
    for v in lengths:
        m = np.fmax(m, np.where(np.isfinite(v), np.abs(v), 0.0))
    return np.frexp(m)[1]


def _pair(b1: np.ndarray, b2: np.ndarray, giou: bool) -> SimpleNamespace:
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
            ax.k = -_exponent(w1, w2, ax.inter, *((ax.enc,) if giou else ()))
            ax.s_inter, ax.s_w1, ax.s_w2 = np.ldexp(ax.inter, ax.k), np.ldexp(w1, ax.k), np.ldexp(w2, ax.k)
            if giou:
                ax.s_enc = np.ldexp(ax.enc, ax.k)
        a1, a2 = _two_prod(x.s_w1, y.s_w1), _two_prod(x.s_w2, y.s_w2)
        inter = _two_prod(x.s_inter, y.s_inter)
        p.inter = inter[0]
        p.union = _sum2([a1[0], a2[0], -inter[0], a1[1], a2[1], -inter[1]])
        u_minus_i = _sum2([a1[0], a2[0], -inter[0], -inter[0], a1[1], a2[1], -inter[1], -inter[1]])
        p.iou = p.inter / p.union
        p.iou_loss = u_minus_i / p.union
        if giou:
            enc = _two_prod(x.s_enc, y.s_enc)
            p.enc = enc[0]
            e_minus_u = _sum2([enc[0], -a1[0], -a2[0], inter[0], enc[1], -a1[1], -a2[1], inter[1]])
            ratio = e_minus_u / p.enc
            p.value = p.iou - ratio
            p.loss = p.iou_loss + ratio
        else:
            p.value = p.iou
            p.loss = p.iou_loss
    return p


def _pair_back(p: SimpleNamespace, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def _pair_kinks(p: SimpleNamespace) -> tuple[np.ndarray, np.ndarray]:
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
    """IoU with areas from the raw ``w*h`` and unsorted corners (spec YOLO-IOU-RAW-AREA); 0/0 -> NaN."""
    b1, b2 = _two_boxes(boxes1, boxes2)
    return _pair(b1, b2, giou=False).value


def bbox_giou(boxes1: Any, boxes2: Any) -> np.ndarray:
    """GIoU of re-sorted corners: ``iou - (enclose - union) / enclose``; 0/0 -> NaN."""
    b1, b2 = _two_boxes(boxes1, boxes2)
    return _pair(b1, b2, giou=True).value


def iou_loss(boxes1: Any, boxes2: Any) -> np.ndarray:
    """``1 - bbox_iou``, evaluated as ``(union - inter) / union``."""
    b1, b2 = _two_boxes(boxes1, boxes2)
    return _pair(b1, b2, giou=False).loss


def giou_loss(boxes1: Any, boxes2: Any) -> np.ndarray:
    """``1 - bbox_giou``, evaluated as a sum of two non-negative ratios for positive extents."""
    b1, b2 = _two_boxes(boxes1, boxes2)
    return _pair(b1, b2, giou=True).loss


def _box_vjp(name: str, giou: bool, sign: float):
    def vjp(cotangent: Any, wrt: str, *, boxes1: Any, boxes2: Any) -> np.ndarray:
        wrt_of(name, wrt, ("boxes1", "boxes2"))
        b1, b2 = _two_boxes(boxes1, boxes2)
        p = _pair(b1, b2, giou)
        g = sign * _cotangent(cotangent, p.value.shape)
        g1, g2 = _pair_back(p, g)
        return _unbroadcast(g1, b1.shape) if wrt == "boxes1" else _unbroadcast(g2, b2.shape)

    return vjp


def _box_kinks(name: str, giou: bool):
    def kinks(wrt: str, *, boxes1: Any, boxes2: Any) -> np.ndarray:
        wrt_of(name, wrt, ("boxes1", "boxes2"))
        b1, b2 = _two_boxes(boxes1, boxes2)
        k1, k2 = _pair_kinks(_pair(b1, b2, giou))
        return _unbroadcast(k1, b1.shape, np.any) if wrt == "boxes1" else _unbroadcast(k2, b2.shape, np.any)

    return kinks


# ----------------------------------------------------------------------------------------------------------------
# DIoU / CIoU (Zheng et al., AAAI 2020; spec §4)
# ----------------------------------------------------------------------------------------------------------------

_FOUR_OVER_PI2 = 0.4052847345693511  # 4 / pi^2 correctly rounded


def _enclosure_axis(c1, w1, c2, w2) -> SimpleNamespace:
    """Signed doubled extent ``max(R1, R2) - min(L1, L2)`` of the enclosing box from the raw corners."""
    L1, R1, _, _ = _corners(c1, w1, False)
    L2, R2, _, _ = _corners(c2, w2, False)
    e = SimpleNamespace()
    e.el1 = _dd_ge(L2, L1)  # min(L1, L2) -> box 1 when L1 <= L2
    e.er1 = _dd_ge(R1, R2)  # max(R1, R2) -> box 1 when R1 >= R2
    e.ext = _dd_sub(_dd_where(e.er1, R1, R2), _dd_where(e.el1, L1, L2))
    e.tie = _dd_eq(L1, L2) | _dd_eq(R1, R2)
    return e


def _angle_gap(w1, h1, w2, h2):
    """``atan2(w2, h2) - atan2(w1, h1)`` and the per-box scale exponents.

    For non-negative extents (and no box of zero size) it is ``atan2(w2 h1 - w1 h2, h1 h2 + w1 w2)`` with the
    cross product summed from exact products, so nearly equal aspect ratios do not cancel; each box is
    first rescaled by a power of two (the angle of a box does not depend on its scale) so that the
    products cannot overflow.
    """
    k1, k2 = -_exponent(w1, h1), -_exponent(w2, h2)
    sw1, sh1, sw2, sh2 = np.ldexp(w1, k1), np.ldexp(h1, k1), np.ldexp(w2, k2), np.ldexp(h2, k2)
    a, b = _two_prod(sw2, sh1), _two_prod(sw1, sh2)
    cross = _sum2([a[0], -b[0], a[1], -b[1]])
    c, d = _two_prod(sh1, sh2), _two_prod(sw1, sw2)
    dot = _sum2([c[0], d[0], c[1], d[1]])
    # the difference formula needs angles in [0, pi/2] and no zero-size box (atan2(0, 0) = 0 by convention)
    ok = (w1 >= 0) & (h1 >= 0) & (w2 >= 0) & (h2 >= 0) & ((w1 != 0) | (h1 != 0)) & ((w2 != 0) | (h2 != 0))
    theta = np.where(ok, np.arctan2(cross, dot), np.arctan2(w2, h2) - np.arctan2(w1, h1))
    return theta, (k1, sw1, sh1), (k2, sw2, sh2)


def _dpair(b1: np.ndarray, b2: np.ndarray, complete: bool) -> SimpleNamespace:
    """DIoU (``complete=False``) or CIoU loss of broadcast box pairs, with what the VJP needs."""
    b1, b2 = np.broadcast_arrays(b1, b2)
    d = SimpleNamespace(iou=_pair(b1, b2, giou=False), complete=complete)
    with np.errstate(all="ignore"):
        d.ex = _enclosure_axis(b1[..., 0], b1[..., 2], b2[..., 0], b2[..., 2])
        d.ey = _enclosure_axis(b1[..., 1], b1[..., 3], b2[..., 1], b2[..., 3])
        # doubled centre distances (one rounding each) and enclosure extents, rescaled together by 2**k
        rx, ry = 2.0 * (b1[..., 0] - b2[..., 0]), 2.0 * (b1[..., 1] - b2[..., 1])
        d.k = -_exponent(rx, ry, d.ex.ext, d.ey.ext)
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
    g1, g2 = _pair_back(d.iou, g_iou)
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
    k1, k2 = _pair_kinks(d.iou)
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
    b1, b2 = _two_boxes(boxes1, boxes2)
    return _dpair(b1, b2, complete=False).loss


def ciou_loss(boxes1: Any, boxes2: Any) -> np.ndarray:
    """Complete-IoU loss ``1 - IoU + rho^2 / c^2 + alpha v`` (boxes2 is the ground truth).

    ``v = (4 / pi^2) (atan2(w2, h2) - atan2(w1, h1))^2``, ``alpha = v / ((1 - IoU) + v)`` (0 where v = 0).
    The VJP holds alpha constant (stop-gradient, spec §4; the divergence CIOU-ALPHA-GRAD differentiates it).
    """
    b1, b2 = _two_boxes(boxes1, boxes2)
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
        b1, b2 = _two_boxes(boxes1, boxes2)
        d = _dpair(b1, b2, complete)
        g1, g2 = _dpair_back(d, _cotangent(cotangent, d.loss.shape), "CIOU-ALPHA-GRAD" in vs)
        return _unbroadcast(g1, b1.shape) if wrt == "boxes1" else _unbroadcast(g2, b2.shape)

    return vjp


def _dbox_kinks(name: str, complete: bool, allowed: tuple[str, ...]):
    def kinks(wrt: str, *, boxes1: Any, boxes2: Any, variants: Any = ()) -> np.ndarray:
        wrt_of(name, wrt, ("boxes1", "boxes2"))
        variants_of(name, variants, allowed)
        b1, b2 = _two_boxes(boxes1, boxes2)
        k1, k2 = _dpair_kinks(_dpair(b1, b2, complete))
        return _unbroadcast(k1, b1.shape, np.any) if wrt == "boxes1" else _unbroadcast(k2, b2.shape, np.any)

    return kinks


# ----------------------------------------------------------------------------------------------------------------
# focal
# ----------------------------------------------------------------------------------------------------------------


def _focal_args(target, actual, alpha, gamma):
    t = as_float("target", target)
    a = as_float("actual", actual)
    try:
        np.broadcast_shapes(t.shape, a.shape)
    except ValueError:
        raise ValueError(f"actual: shape {a.shape} does not broadcast with target shape {t.shape}") from None
    return t, a, _scalar("alpha", alpha), _scalar("gamma", gamma)


def focal(target: Any, actual: Any, alpha: Any = 1, gamma: Any = 2) -> np.ndarray:
    """The YOLOv3 focal weight ``alpha * |target - actual| ** gamma``."""
    t, a, al, ga = _focal_args(target, actual, alpha, gamma)
    with np.errstate(divide="ignore", over="ignore"):
        return al * np.abs(t - a) ** ga


def _focal_dactual(d: np.ndarray, alpha: float, gamma: float) -> np.ndarray:
    """d/d actual of alpha*|target - actual|^gamma with d = target - actual (0 at d == 0)."""
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        ad = np.abs(d)
        grad = -alpha * gamma * np.where(ad > 0, ad, 1.0) ** (gamma - 1.0) * np.sign(d)
    return np.where(d == 0, 0.0, grad)


def _focal_vjp(cotangent: Any, wrt: str, *, target: Any, actual: Any, alpha: Any = 1, gamma: Any = 2):
    wrt_of("focal", wrt, ("actual",))
    t, a, al, ga = _focal_args(target, actual, alpha, gamma)
    d = t - a
    g = _cotangent(cotangent, d.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        return _unbroadcast(g * _focal_dactual(d, al, ga), a.shape)


def _focal_kinks(wrt: str, *, target: Any, actual: Any, alpha: Any = 1, gamma: Any = 2):
    wrt_of("focal", wrt, ("actual",))
    t, a, _, ga = _focal_args(target, actual, alpha, gamma)
    # a cusp for 0 < gamma <= 1, a pole for gamma < 0; gamma == 0 is the constant alpha
    return _unbroadcast((t - a == 0) & (ga <= 1) & (ga != 0), a.shape, np.any)


# ----------------------------------------------------------------------------------------------------------------
# loss_layer / compute_loss
# ----------------------------------------------------------------------------------------------------------------


_U = 2.0**-53  # unit roundoff of float64
_ETA = 2.0**-1000  # absolute allowance for underflowing products and sums (far above 2**-1074)
_CHUNK = 1 << 18  # box pairs per block of the screened max IoU (keeps the temporaries in cache)
_TINY_EXTENT = 2.0**-900  # below this the screening's relative error bounds are not relied on


def _overlap_fast(c1, w1, c2, w2):
    """Plain float64 overlap ``max(min(w1, w2, s - d, s + d), 0)`` (s = (w1 + w2) / 2, d = c1 - c2), its error
    bound, and where it is certainly 0 (the exact overlap is then 0, not only rounded to it).

    ``min(R1, R2) - max(L1, L2) = min(w1, w2, s - d, s + d)``; the ``w`` are exact and ``s -+ d`` carry at most
    three roundings, so the computed overlap is within ``2.0001 u (|s| + |d|)`` of the exact one.
    """
    s = (w1 + w2) * 0.5
    d = c1 - c2
    e = 2.0001 * _U * (np.abs(s) + np.abs(d)) + _ETA
    t = np.minimum(s - d, s + d)
    pre = np.minimum(np.minimum(w1, w2), t)
    zero = (np.minimum(w1, w2) <= 0) | (t + e <= 0)
    return np.where(zero, 0.0, np.maximum(pre, 0.0)), np.where(zero, 0.0, e), zero


def _screened_iou(p: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """bbox_iou of broadcast pairs in plain float64 with a rigorous error bound.

    Returns ``(iou, err, exact_needed)``: ``|iou - IoU| <= err`` wherever ``exact_needed`` is False (err == 0
    means iou is exact); ``exact_needed`` marks pairs whose union may be 0 or whose arithmetic left the
    normal range (the error-free path decides those, NaN included).
    """
    ix, ex, zx = _overlap_fast(p[..., 0], p[..., 2], b[..., 0], b[..., 2])
    iy, ey, zy = _overlap_fast(p[..., 1], p[..., 3], b[..., 1], b[..., 3])
    zero = zx | zy
    inter = ix * iy
    e_inter = np.where(zero, 0.0, _U * inter + ex * iy + (ix + ex) * ey + _ETA)
    a1 = p[..., 2] * p[..., 3]
    a2 = b[..., 2] * b[..., 3]
    union = (a1 + a2) - inter
    e_union = e_inter + 4.0 * _U * (np.abs(a1) + np.abs(a2) + inter) + _ETA
    den = np.abs(union) - e_union
    iou = inter / union
    err = np.where(zero, 0.0, 2.0 * ((e_inter + np.abs(iou) * e_union) / den + _U * np.abs(iou)))
    exact_needed = ~(den > 0) | ~np.isfinite(iou) | ~np.isfinite(err)
    return iou, err, exact_needed


def _max_iou(pred_xywh: np.ndarray, bboxes: np.ndarray) -> np.ndarray:
    """NaN-propagating max over M of bbox_iou(pred, bboxes); -inf when M == 0.  Exact, as ``_max_iou_exact``.

    Screening, in blocks of pairs: a pair whose boxes are certainly apart along an axis (or has an extent
    <= 0) has intersection exactly 0 and IoU exactly 0 wherever its union is certainly positive.  The other
    pairs are evaluated in plain float64 with an error bound (:func:`_screened_iou`); only those that may be
    the maximum of their row (within rounding distance of the largest certain lower bound) or whose plain
    evaluation is unreliable (a union near 0, overflow, NaN) are evaluated again with the error-free
    arithmetic of :func:`_pair`.  The maximum of the exact values is the exact maximum: every other pair is
    certainly below it.
    """
    n_b, m = bboxes.shape[0], bboxes.shape[1]
    lead = pred_xywh.shape[:-1]
    p = pred_xywh.reshape(n_b, -1, 4)
    out = np.empty(p.shape[:2])
    if m == 0:
        out.fill(-np.inf)
        return out.reshape(lead)
    rows = max(1, _CHUNK // m)
    apart = 1.0 + 16.0 * _U  # |d| >= (1 + 16u) s: the boxes are certainly apart along that axis
    with np.errstate(all="ignore"):
        for bi in range(n_b):
            b = bboxes[bi]
            # IoU is exactly 0 for a certainly empty intersection if the union is certainly > 0: areas are
            # exact products unless they underflow, so a1 > 2**-1000 with a2 >= 0 (or the converse) suffices
            a2 = b[:, 2] * b[:, 3]
            col_pos, col_nonneg = a2 > _ETA, a2 >= 0
            col_nonpos = (b[:, 2] <= 0) | (b[:, 3] <= 0)
            # non-finite boxes and extents so small that the apartness test's relative bounds could fail
            col_odd = ~np.isfinite(b).all(axis=-1) | (np.minimum(b[:, 2], b[:, 3]) < _TINY_EXTENT) & ~col_nonpos
            for r0 in range(0, p.shape[1], rows):
                pp = p[bi, r0:r0 + rows]
                n = pp.shape[0]
                a1 = pp[:, 2] * pp[:, 3]
                row_pos, row_nonneg = a1 > _ETA, a1 >= 0
                row_nonpos = (pp[:, 2] <= 0) | (pp[:, 3] <= 0)
                row_odd = ~np.isfinite(pp).all(axis=-1) | (np.minimum(pp[:, 2], pp[:, 3]) < _TINY_EXTENT) & ~row_nonpos
                cand = ~(row_nonpos[:, None] | col_nonpos[None, :])
                for k in (0, 1):
                    s = (pp[:, None, 2 + k] + b[None, :, 2 + k]) * (0.5 * apart)
                    d = np.abs(pp[:, None, k] - b[None, :, k])
                    cand &= ~(d >= s)  # NaN compares False: stays a candidate
                if row_odd.any() or col_odd.any():
                    cand |= row_odd[:, None] | col_odd[None, :]
                if not (row_pos.all() and col_nonneg.all()) and not (col_pos.all() and row_nonneg.all()):
                    cand |= ~((row_pos[:, None] & col_nonneg[None, :]) | (row_nonneg[:, None] & col_pos[None, :]))
                i, j = np.nonzero(cand)
                vals = np.zeros((n, m))
                if i.size:
                    iou, err, forced = _screened_iou(pp[i], b[j])
                    bound = np.where(np.bincount(i, minlength=n) < m, 0.0, -np.inf)  # a certain 0 in the row
                    np.maximum.at(bound, i[~forced], (iou - err)[~forced])
                    redo = forced | ((err > 0) & (iou + err >= bound[i]))
                    if np.any(redo):
                        iou[redo] = _pair(pp[i[redo]], b[j[redo]], giou=False).value
                    vals[i, j] = iou
                out[bi, r0:r0 + rows] = np.max(vals, axis=-1)
    return out.reshape(lead)


def _max_iou_exact(pred_xywh: np.ndarray, bboxes: np.ndarray) -> np.ndarray:
    """NaN-propagating max over M of bbox_iou(pred, bboxes), every pair error-free; -inf when M == 0."""
    mid = (1,) * (pred_xywh.ndim - 2)
    b = bboxes.reshape((bboxes.shape[0],) + mid + bboxes.shape[1:])
    iou = _pair(pred_xywh[..., None, :], b, giou=False).value
    return np.max(iou, axis=-1, initial=-np.inf)


def max_iou(pred_xywh: Any, bboxes: Any) -> np.ndarray:
    """Per predicted box (B, ..., 4) the maximum IoU with the image's true boxes (B, M, 4)."""
    p = as_float("pred_xywh", pred_xywh, min_rank=2)
    last_dim("pred_xywh", p, 4, "4 (x, y, w, h)")
    b = as_float("bboxes", bboxes, rank=3)
    last_dim("bboxes", b, 4, "4 (x, y, w, h)")
    if b.shape[0] != p.shape[0]:
        raise ValueError(f"bboxes: batch size {b.shape[0]} does not match pred_xywh batch size {p.shape[0]}")
    return _max_iou(p, b)


LAYER_VARIANTS = ("FOCAL-STOP-GRADIENT", "MEAN-NOT-BATCH-SUM")


def _layer_args(conv, pred, label, bboxes, anchors, stride, num_class, iou_loss_thresh, names=None, variants=()):
    names = names or {}
    nm = {k: names.get(k, k) for k in ("conv", "label", "bboxes", "anchors", "stride")}
    raw, a, s = _decode_args(conv, anchors, stride, num_class, names=nm)
    n_b, size, _, n_a, depth = raw.shape
    want = raw.shape
    lab = as_float(nm["label"], label)
    if lab.shape != want:
        raise ValueError(f"{nm['label']}: expected shape (B, S, S, A, 5+N) = {want}, got {lab.shape}")
    bb = as_float(nm["bboxes"], bboxes, rank=3)
    last_dim(nm["bboxes"], bb, 4, "4 (x, y, w, h)")
    if bb.shape[0] != n_b:
        raise ValueError(f"{nm['bboxes']}: batch size {bb.shape[0]} does not match {nm['conv']} batch size {n_b}")
    if pred is not None:
        pred = as_float("pred", pred)
        if pred.shape != want:
            raise ValueError(f"pred: expected shape (B, S, S, A, 5+N) = {want}, got {pred.shape}")
    thresh = _scalar("iou_loss_thresh", iou_loss_thresh)
    return SimpleNamespace(raw=raw, conv_shape=np.shape(conv), anchors=a, stride=s, label=lab, bboxes=bb,
                           pred=pred, thresh=thresh, variants=variants_of("loss_layer", variants, LAYER_VARIANTS))


def _layer_forward(v: SimpleNamespace) -> SimpleNamespace:
    raw, lab = v.raw, v.label
    f = SimpleNamespace()
    f.composite = v.pred is None
    # the loss uses the decoded box and confidence only: the class channels are not decoded
    f.pred = _decode_raw(raw[..., :5], v.anchors, v.stride) if f.composite else v.pred
    pxywh, lxywh = f.pred[..., :4], lab[..., :4]
    r, lprob = lab[..., 4:5], lab[..., 5:]
    raw_conf, raw_prob = raw[..., 4:5], raw[..., 5:]
    input_size = v.stride * raw.shape[1]
    with np.errstate(all="ignore"):
        f.pair = _pair(pxywh, lxywh, giou=True)
        f.scale = 2.0 - lxywh[..., 2:3] * lxywh[..., 3:4] / (input_size * input_size)
        giou_el = r * f.scale * f.pair.loss[..., None]
        f.max_iou = _max_iou(pxywh, v.bboxes)[..., None]
        f.bgd = (1.0 - r) * (f.max_iou < v.thresh)
        if f.composite:  # r - sigmoid(raw_conf) without cancellation
            f.d = np.where(raw_conf > 0, (r - 1.0) + _sigmoid(-raw_conf), r - _sigmoid(raw_conf))
        else:
            f.d = r - f.pred[..., 4:5]
        f.focal = f.d * f.d
        f.sce = _sce(r, raw_conf)
        conf_el = f.focal * (r * f.sce + f.bgd * f.sce)
        f.rows = _prob_rows(r, lprob, raw_prob)
        prob_rows = r[f.rows] * _sce(lprob[f.rows], raw_prob[f.rows])  # r * SCE is exactly 0 elsewhere
        prob_sums = np.bincount(np.nonzero(f.rows)[0], weights=np.sum(prob_rows, axis=-1), minlength=raw.shape[0])
    sums = [np.sum(e, axis=(1, 2, 3, 4)) for e in (giou_el, conf_el)] + [prob_sums]
    sizes = (giou_el.size, conf_el.size, lprob.size)
    if "MEAN-NOT-BATCH-SUM" in v.variants:  # tf.reduce_mean over every axis
        f.out = tuple(np.asarray(np.sum(t) / n) for t, n in zip(sums, sizes, strict=True))
        f.norm = tuple(float(n) for n in sizes)
    else:  # the spec: mean over the batch of the sum over the other axes
        f.out = tuple(np.asarray(np.mean(t)) for t in sums)
        f.norm = (float(raw.shape[0]),) * 3
    return f


def _prob_rows(r: np.ndarray, lprob: np.ndarray, raw_prob: np.ndarray) -> np.ndarray:
    """Cells (B, S, S, A) whose class term ``r * SCE(label, raw)`` can be non-zero: ``r != 0``, or a
    non-finite value that would turn ``0 * SCE`` into NaN.  Elsewhere the term and its gradient are 0."""
    rows = r[..., 0] != 0
    rows |= ~np.isfinite(r[..., 0])
    rows |= ~np.isfinite(raw_prob).all(axis=-1)
    rows |= ~np.isfinite(lprob).all(axis=-1)
    return rows


def _layer_backward(v: SimpleNamespace, f: SimpleNamespace, cot: tuple[float, float, float]):
    """Gradients wrt pred (conv fixed) and the direct part wrt the reshaped raw output."""
    raw, lab = v.raw, v.label
    r, lprob = lab[..., 4:5], lab[..., 5:]
    g1, g2, g3 = (c / n for c, n in zip(cot, f.norm, strict=True))
    d_pred = np.zeros(raw.shape)
    d_raw = np.zeros(raw.shape)
    with np.errstate(all="ignore"):
        gb, _ = _pair_back(f.pair, -(g1 * r * f.scale)[..., 0])
        d_pred[..., :4] = gb
        if "FOCAL-STOP-GRADIENT" not in v.variants:  # the focal weight carries gradient (spec §4)
            d_pred[..., 4:5] = g2 * (r * f.sce + f.bgd * f.sce) * (-2.0 * f.d)
        dsce = _dsce(r, raw[..., 4:5])
        d_raw[..., 4:5] = g2 * f.focal * (r * dsce + f.bgd * dsce)
        rows = f.rows if np.isfinite(g3) else np.ones(f.rows.shape, dtype=bool)  # NaN * 0 must stay NaN
        d_raw[rows, 5:] = g3 * r[rows] * _dsce(lprob[rows], raw[rows][..., 5:])
    return d_pred, d_raw


def _layer_vjp_raw(v: SimpleNamespace, d_pred: np.ndarray, d_raw: np.ndarray) -> np.ndarray:
    """Gradient wrt the reshaped raw output: ``d_raw`` plus the decode VJP of ``d_pred``.

    ``d_pred`` is 0 in the class channels, whose decode derivative is finite except at NaN, where ``d_raw``
    is already NaN: only the box and confidence channels go through the decode VJP.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        total = d_raw.copy()
        total[..., :5] += _decode_vjp_raw(d_pred[..., :5], v.raw[..., :5], v.anchors, v.stride)
    return total


def _layer_kinks(v: SimpleNamespace, f: SimpleNamespace) -> np.ndarray:
    r = v.label[..., 4:5]
    k1, _ = _pair_kinks(f.pair)
    jump = ((1.0 - r) != 0) & (f.max_iou == v.thresh)
    k = np.zeros(v.raw.shape, dtype=bool)
    k[..., :4] = (k1 & (r * f.scale != 0)) | jump
    k[..., 4:5] = jump
    return k


def loss_layer(conv: Any, pred: Any, label: Any, bboxes: Any, anchors: Any, stride: Any, num_class: Any,
               iou_loss_thresh: Any = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One scale's ``(giou_loss, conf_loss, prob_loss)``; ``pred=None`` means ``decode(conv)``."""
    v = _layer_args(conv, pred, label, bboxes, anchors, stride, num_class, iou_loss_thresh)
    return _layer_forward(v).out


def _layer_eval(*, conv, label, bboxes, anchors, stride, num_class, iou_loss_thresh=0.5, pred=None, variants=()):
    v = _layer_args(conv, pred, label, bboxes, anchors, stride, num_class, iou_loss_thresh, variants=variants)
    return _layer_forward(v).out


def _layer_vjp(cotangent, wrt, *, conv, label, bboxes, anchors, stride, num_class, iou_loss_thresh=0.5, pred=None,
               variants=()):
    wrt_of("loss_layer", wrt, ("conv", "pred"))
    cot = _cotangent3(cotangent)
    v = _layer_args(conv, pred if wrt == "pred" else None, label, bboxes, anchors, stride, num_class,
                    iou_loss_thresh, variants=variants)
    f = _layer_forward(v)
    d_pred, d_raw = _layer_backward(v, f, cot)
    if wrt == "pred":
        return d_pred
    return _layer_vjp_raw(v, d_pred, d_raw).reshape(v.conv_shape)


def _layer_kinks_uniform(wrt, *, conv, label, bboxes, anchors, stride, num_class, iou_loss_thresh=0.5, pred=None,
                         variants=()):
    wrt_of("loss_layer", wrt, ("conv", "pred"))
    v = _layer_args(conv, pred if wrt == "pred" else None, label, bboxes, anchors, stride, num_class,
                    iou_loss_thresh)
    k = _layer_kinks(v, _layer_forward(v))
    return k if wrt == "pred" else k.reshape(v.conv_shape)


def threshold_margin(conv: Any, label: Any, bboxes: Any, anchors: Any, stride: Any, num_class: Any,
                     iou_loss_thresh: Any = 0.5) -> float:
    """min |max_iou - iou_loss_thresh| over background candidates (cells with 1 - r != 0, i.e. r == 0).

    ``inf`` when there is no such cell; NaN when one of them has a NaN ``max_iou``.
    """
    v = _layer_args(conv, None, label, bboxes, anchors, stride, num_class, iou_loss_thresh)
    pred = _decode_raw(v.raw[..., :4], v.anchors, v.stride)
    with np.errstate(invalid="ignore"):
        gap = np.abs(_max_iou(pred[..., :4], v.bboxes) - v.thresh)
    gap = gap[(1.0 - v.label[..., 4]) != 0]
    return float(np.min(gap, initial=np.inf))


def _scales(convs, labels, bboxes, anchors, strides):
    for name, seq in (("convs", convs), ("labels", labels), ("bboxes", bboxes)):
        try:
            n = len(seq)
        except TypeError:
            raise ValueError(f"{name}: expected a sequence of 3 arrays (one per scale)") from None
        if n != 3:
            raise ValueError(f"{name}: expected a sequence of 3 arrays (one per scale), got {n}")
    a = as_float("anchors", anchors, rank=3)
    if a.shape[0] != 3 or a.shape[2] != 2:
        raise ValueError(f"anchors: expected shape (3, A, 2), got {a.shape}")
    s = as_float("strides", strides, rank=1)
    if s.shape != (3,):
        raise ValueError(f"strides: expected shape (3,), got {s.shape}")
    return a, s


def _scale_args(i, convs, labels, bboxes, a, s, num_class, iou_loss_thresh, variants=()):
    names = {"conv": f"convs[{i}]", "label": f"labels[{i}]", "bboxes": f"bboxes[{i}]",
             "anchors": f"anchors[{i}]", "stride": f"strides[{i}]"}
    return _layer_args(convs[i], None, labels[i], bboxes[i], a[i], s[i], num_class, iou_loss_thresh, names, variants)


def compute_loss(convs: Sequence[Any], labels: Sequence[Any], bboxes: Sequence[Any], anchors: Any, strides: Any,
                 num_class: Any, iou_loss_thresh: Any = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum over the three scales of ``loss_layer(conv, decode(conv), ...)``."""
    a, s = _scales(convs, labels, bboxes, anchors, strides)
    outs = [_layer_forward(_scale_args(i, convs, labels, bboxes, a, s, num_class, iou_loss_thresh)).out
            for i in range(3)]
    return tuple(np.asarray(sum(float(o[k]) for o in outs)) for k in range(3))  # type: ignore[return-value]


def _compute_eval(*, convs, labels, bboxes, anchors, strides, num_class, iou_loss_thresh=0.5, variants=()):
    a, s = _scales(convs, labels, bboxes, anchors, strides)
    outs = [_layer_forward(_scale_args(i, convs, labels, bboxes, a, s, num_class, iou_loss_thresh, variants)).out
            for i in range(3)]
    return tuple(np.asarray(sum(float(o[k]) for o in outs)) for k in range(3))


def _compute_vjp(cotangent, wrt, *, convs, labels, bboxes, anchors, strides, num_class, iou_loss_thresh=0.5,
                 variants=()):
    wrt_of("compute_loss", wrt, ("convs",))
    cot = _cotangent3(cotangent)
    a, s = _scales(convs, labels, bboxes, anchors, strides)
    grads = []
    for i in range(3):
        v = _scale_args(i, convs, labels, bboxes, a, s, num_class, iou_loss_thresh, variants)
        d_pred, d_raw = _layer_backward(v, _layer_forward(v), cot)
        grads.append(_layer_vjp_raw(v, d_pred, d_raw).reshape(v.conv_shape))
    return tuple(grads)


def _compute_kinks(wrt, *, convs, labels, bboxes, anchors, strides, num_class, iou_loss_thresh=0.5, variants=()):
    wrt_of("compute_loss", wrt, ("convs",))
    a, s = _scales(convs, labels, bboxes, anchors, strides)
    masks = []
    for i in range(3):
        v = _scale_args(i, convs, labels, bboxes, a, s, num_class, iou_loss_thresh)
        masks.append(_layer_kinks(v, _layer_forward(v)).reshape(v.conv_shape))
    return tuple(masks)


# ----------------------------------------------------------------------------------------------------------------
# Uniform-style records
# ----------------------------------------------------------------------------------------------------------------


def _decode_eval(*, conv_output, anchors, stride, num_class):
    return decode(conv_output, anchors, stride, num_class)


def _decode_kinks(wrt, *, conv_output, anchors, stride, num_class):
    wrt_of("decode", wrt, ("conv_output",))
    return no_kinks(wrt, conv_output=conv_output)


def _box_eval(fn):
    def evaluate(*, boxes1, boxes2):
        return fn(boxes1, boxes2)

    return evaluate


def _focal_eval(*, target, actual, alpha=1, gamma=2):
    return focal(target, actual, alpha, gamma)


SPECS: list[OracleSpec] = [
    OracleSpec("decode", "yolov3", _decode_eval, _decode_vjp, _decode_kinks, ("conv_output",)),
    OracleSpec("bbox_iou", "yolov3", _box_eval(bbox_iou), _box_vjp("bbox_iou", False, 1.0),
               _box_kinks("bbox_iou", False), ("boxes1", "boxes2")),
    OracleSpec("bbox_giou", "yolov3", _box_eval(bbox_giou), _box_vjp("bbox_giou", True, 1.0),
               _box_kinks("bbox_giou", True), ("boxes1", "boxes2")),
    OracleSpec("iou_loss", "yolov3", _box_eval(iou_loss), _box_vjp("iou_loss", False, -1.0),
               _box_kinks("iou_loss", False), ("boxes1", "boxes2")),
    OracleSpec("giou_loss", "yolov3", _box_eval(giou_loss), _box_vjp("giou_loss", True, -1.0),
               _box_kinks("giou_loss", True), ("boxes1", "boxes2")),
    OracleSpec("diou_loss", "yolov3", _dbox_eval("diou_loss", diou_loss, ()), _dbox_vjp("diou_loss", False, ()),
               _dbox_kinks("diou_loss", False, ()), ("boxes1", "boxes2")),
    OracleSpec("ciou_loss", "yolov3", _dbox_eval("ciou_loss", ciou_loss, CIOU_VARIANTS),
               _dbox_vjp("ciou_loss", True, CIOU_VARIANTS), _dbox_kinks("ciou_loss", True, CIOU_VARIANTS),
               ("boxes1", "boxes2"), variants=CIOU_VARIANTS),
    OracleSpec("focal", "yolov3", _focal_eval, _focal_vjp, _focal_kinks, ("actual",)),
    OracleSpec("loss_layer", "yolov3", _layer_eval, _layer_vjp, _layer_kinks_uniform, ("conv", "pred"), n_outputs=3,
               variants=LAYER_VARIANTS),
    OracleSpec("compute_loss", "yolov3", _compute_eval, _compute_vjp, _compute_kinks, ("convs",), n_outputs=3,
               variants=LAYER_VARIANTS),
]
