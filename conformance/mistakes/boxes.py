"""Box mistakes (float64 NumPy): an unclamped intersection, a union or an enclosure held constant under
differentiation."""

from __future__ import annotations

from typing import Any

import numpy as np


def _pair(args: dict) -> tuple[np.ndarray, np.ndarray]:
    return np.broadcast_arrays(np.asarray(args["boxes1"], dtype=np.float64),
                               np.asarray(args["boxes2"], dtype=np.float64))


def _extent(b1: np.ndarray, b2: np.ndarray, k: int) -> np.ndarray:
    """Overlap of the unsorted spans [c − w/2, c + w/2] along axis k (x: k = 0, y: k = 1), unclamped."""
    lo = np.maximum(b1[..., k] - b1[..., k + 2] / 2, b2[..., k] - b2[..., k + 2] / 2)
    hi = np.minimum(b1[..., k] + b1[..., k + 2] / 2, b2[..., k] + b2[..., k + 2] / 2)
    return hi - lo


def iou_no_clamp(name: str, args: dict, c: Any, kw: dict) -> np.ndarray:
    """IoU (or 1 − IoU) with intersection = overlap_x · overlap_y, neither clamped at 0."""
    b1, b2 = _pair(args)
    with np.errstate(all="ignore"):
        inter = _extent(b1, b2, 0) * _extent(b1, b2, 1)
        union = b1[..., 2] * b1[..., 3] + b2[..., 2] * b2[..., 3] - inter
        iou = inter / union
        return (1.0 - iou) if name == "iou_loss" else iou


def disjoint_pairs(ex: dict) -> dict:
    """The example's pairs with positive extents (|w| + 1, |h| + 1) and the second box moved apart on both axes
    (by 1.5 half-spans plus 1): the contract's intersection is 0 there, an unclamped one is positive."""
    b1, b2 = _pair(ex)
    b1 = np.concatenate([b1[..., :2], np.abs(b1[..., 2:]) + 1.0], -1)
    ext = np.abs(b2[..., 2:]) + 1.0
    b2 = np.concatenate([b1[..., :2] + 0.75 * (b1[..., 2:] + ext) + 1.0, ext], -1)
    return {**ex, "boxes1": b1, "boxes2": b2}


def _inter_union(b1: np.ndarray, b2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(intersection, union) of box pairs, the overlaps clamped at 0, areas from w·h."""
    inter = np.maximum(_extent(b1, b2, 0), 0.0) * np.maximum(_extent(b1, b2, 1), 0.0)
    return inter, b1[..., 2] * b1[..., 3] + b2[..., 2] * b2[..., 3] - inter


def iou_loss_frozen_union(name: str, args: dict, c: Any, kw: dict, frozen: dict) -> np.ndarray:
    """(union − inter) / union with the denominator's union computed from ``frozen`` (no gradient)."""
    with np.errstate(all="ignore"):
        inter, union = _inter_union(*_pair(args))
        return (union - inter) / _inter_union(*_pair(frozen))[1]


def giou_frozen_enclosure(name: str, args: dict, c: Any, kw: dict, frozen: dict) -> np.ndarray:
    """GIoU (or 1 − GIoU) with the enclosing box's area computed from ``frozen`` (no gradient); extents |w|, |h|."""
    def parts(a: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        b1, b2 = _pair(a)
        b1 = np.concatenate([b1[..., :2], np.abs(b1[..., 2:])], -1)
        b2 = np.concatenate([b2[..., :2], np.abs(b2[..., 2:])], -1)
        inter, union = _inter_union(b1, b2)
        span = [np.maximum(b1[..., k] + b1[..., k + 2] / 2, b2[..., k] + b2[..., k + 2] / 2)
                - np.minimum(b1[..., k] - b1[..., k + 2] / 2, b2[..., k] - b2[..., k + 2] / 2) for k in (0, 1)]
        return inter, union, span[0] * span[1]

    with np.errstate(all="ignore"):
        inter, union, _ = parts(args)
        enclose = parts(frozen)[2]
        giou = inter / union - (enclose - union) / enclose
        return (1.0 - giou) if name == "giou_loss" else giou
