"""CenterNet focal-loss mistakes (float64 NumPy): other exponents, a missing num_pos guard, stopped modulators."""

from __future__ import annotations

from typing import Any

import numpy as np

import oracle
import oracle.centernet as _centernet_oracle
from conformance.numerics.dtypes import round_to


def _parts(args: dict, kw: dict) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    eps = float(round_to(kw.get("constants_dtype", "float64"), np.float64(_centernet_oracle.EPSILON_C)))
    p = np.asarray(args["hm_pred"], dtype=np.float64)
    h = np.asarray(args["hm_true"], dtype=np.float64)
    return eps, p, h, h == 1.0, h < 1.0


def focal(args: dict, kw: dict, alpha: float, beta: float) -> np.ndarray:
    """(Σ_pos −log clip(p)·(1−p)^α + Σ_neg −log clip(1−p)·p^α·(1−y)^β) / num_pos (neg only without positives)."""
    eps, p, h, pos, neg = _parts(args, kw)
    with np.errstate(all="ignore"):
        pp, pn = p[pos], p[neg]
        pos_loss = np.sum(-np.log(np.clip(pp, eps, 1.0)) * (1.0 - pp) ** alpha)
        neg_loss = np.sum(-np.log(np.clip(1.0 - pn, eps, 1.0)) * pn ** alpha * (1.0 - h[neg]) ** beta)
        n = np.count_nonzero(pos)
        return np.asarray((pos_loss + neg_loss) / n if n else neg_loss)


def focal_alpha(name: str, args: dict, c: float, kw: dict) -> np.ndarray:
    return focal(args, kw, c, _centernet_oracle.BETA)


def focal_beta(name: str, args: dict, c: float, kw: dict) -> np.ndarray:
    return focal(args, kw, _centernet_oracle.ALPHA, c)


def focal_swapped(name: str, args: dict, c: Any, kw: dict) -> np.ndarray:
    return focal(args, kw, _centernet_oracle.BETA, _centernet_oracle.ALPHA)


def same_value(name: str, args: dict, c: Any, kw: dict) -> Any:
    return oracle.evaluate(name, **args, **kw)


def no_pos_guard(name: str, args: dict, c: Any, kw: dict) -> np.ndarray:
    """The contract's value, except that with no positive the focal term is divided by num_pos = 0."""
    total = np.asarray(oracle.evaluate(name, **args, **kw))
    if "args" in args:  # the CenterNet total: [hm_pred, wh_pred, reg_pred, hm_true, ...]
        hm = {"hm_pred": args["args"][0], "hm_true": args["args"][3]}
    else:
        hm = {"hm_pred": args["hm_pred"], "hm_true": args["hm_true"]}
    if np.any(np.asarray(hm["hm_true"]) == 1.0):
        return total
    focal_term = np.asarray(oracle.evaluate("focal_loss", **hm, **kw))
    with np.errstate(all="ignore"):
        return np.asarray(total - focal_term + focal_term / 0.0)


def modulator_stopped_vjp(name: str, cot: Any, wrt: str, args: dict, c: Any, kw: dict) -> np.ndarray:
    """The focal loss's gradient with (1−p)^α and p^α held constant: the log terms' derivatives only."""
    eps, p, h, pos, neg = _parts(args, kw)
    g = np.zeros(p.shape)
    with np.errstate(all="ignore"):
        pp, pn = p[pos], p[neg]
        g[pos] = np.where((pp >= eps) & (pp <= 1.0), -((1.0 - pp) ** 2) / np.clip(pp, eps, 1.0), 0.0)
        q = 1.0 - pn
        g[neg] = np.where((q >= eps) & (pn >= 0.0), pn * pn / np.clip(q, eps, 1.0), 0.0) * (1.0 - h[neg]) ** 4
        n = np.count_nonzero(pos)
        return float(np.sum(cot)) * g / (n if n else 1)


def inner_probabilities(ex: dict) -> dict:
    """The example with hm_pred moved into [0.25, 0.75]: no log of 0, and a non-zero loss on every negative."""
    return {**ex, "hm_pred": 0.25 + 0.5 * np.asarray(ex["hm_pred"], dtype=np.float64)}


def no_pos_guard_vjp(name: str, cot: Any, wrt: str, args: dict, c: Any, kw: dict) -> Any:
    """The contract's VJP, divided by num_pos = 0 for the heatmap where no pixel is a peak."""
    g = np.asarray(oracle.vjp(name, cot, wrt, **args, **kw))
    hm_true = args["args"][3] if "args" in args else args["hm_true"]
    if wrt != "hm_pred" or np.any(np.asarray(hm_true) == 1.0):
        return g
    with np.errstate(all="ignore"):
        return g / 0.0
