"""The maximum IoU of each predicted box over its image's true boxes (the YOLOv3 background mask, docs/contracts.md).

Speed
    The background mask needs ``max_iou`` over every prediction x true-box pair
    (12.8 M pairs for YOLOv3 416, batch 8, 150 boxes).  It is screened in
    plain float64 with rigorous error bounds (pairs certainly apart have IoU
    exactly 0); only the pairs that may be the maximum of their row within
    rounding distance, or whose plain evaluation is unreliable, go through the
    error-free arithmetic of :func:`oracle.boxes.box_pair`, so the maximum is bit for bit the error-free
    one (:func:`exact_max_iou`).

Undefined values
    ``max_iou`` is a NaN-propagating maximum over the M true boxes (``-inf`` when M = 0, TensorFlow's
    ``reduce_max`` identity).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validate import as_float, last_dim
from .boxes import box_pair

__all__ = ["PAIRS_PER_BLOCK", "exact_max_iou", "max_iou", "screened_max_iou"]


_U = 2.0**-53  # unit roundoff of float64
_ETA = 2.0**-1000  # absolute allowance for underflowing products and sums (far above 2**-1074)
PAIRS_PER_BLOCK = 1 << 18  # box pairs per block of the screened max IoU (keeps the temporaries in cache)
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


def screened_max_iou(pred_xywh: np.ndarray, bboxes: np.ndarray) -> np.ndarray:
    """NaN-propagating max over M of bbox_iou(pred, bboxes); -inf when M == 0.  Exact, as ``exact_max_iou``.

    Screening, in blocks of pairs: a pair whose boxes are certainly apart along an axis (or has an extent
    <= 0) has intersection exactly 0 and IoU exactly 0 wherever its union is certainly positive.  The other
    pairs are evaluated in plain float64 with an error bound (:func:`_screened_iou`); only those that may be
    the maximum of their row (within rounding distance of the largest certain lower bound) or whose plain
    evaluation is unreliable (a union near 0, overflow, NaN) are evaluated again with the error-free
    arithmetic of :func:`box_pair`.  The maximum of the exact values is the exact maximum: every other pair is
    certainly below it.
    """
    n_b, m = bboxes.shape[0], bboxes.shape[1]
    lead = pred_xywh.shape[:-1]
    p = pred_xywh.reshape(n_b, -1, 4)
    out = np.empty(p.shape[:2])
    if m == 0:
        out.fill(-np.inf)
        return out.reshape(lead)
    rows = max(1, PAIRS_PER_BLOCK // m)
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
                        iou[redo] = box_pair(pp[i[redo]], b[j[redo]], giou=False).value
                    vals[i, j] = iou
                out[bi, r0:r0 + rows] = np.max(vals, axis=-1)
    return out.reshape(lead)


def exact_max_iou(pred_xywh: np.ndarray, bboxes: np.ndarray) -> np.ndarray:
    """NaN-propagating max over M of bbox_iou(pred, bboxes), every pair error-free; -inf when M == 0."""
    mid = (1,) * (pred_xywh.ndim - 2)
    b = bboxes.reshape((bboxes.shape[0],) + mid + bboxes.shape[1:])
    iou = box_pair(pred_xywh[..., None, :], b, giou=False).value
    return np.max(iou, axis=-1, initial=-np.inf)


def max_iou(pred_xywh: Any, bboxes: Any) -> np.ndarray:
    """Per predicted box (B, ..., 4) the maximum IoU with the image's true boxes (B, M, 4)."""
    p = as_float("pred_xywh", pred_xywh, min_rank=2)
    last_dim("pred_xywh", p, 4, "4 (x, y, w, h)")
    b = as_float("bboxes", bboxes, rank=3)
    last_dim("bboxes", b, 4, "4 (x, y, w, h)")
    if b.shape[0] != p.shape[0]:
        raise ValueError(f"bboxes: batch size {b.shape[0]} does not match pred_xywh batch size {p.shape[0]}")
    return screened_max_iou(p, b)
