"""Building blocks of the adversarial strategies (the stability tier) that the records compose.

A record's ``adversarial(dtype)`` draws an example shaped like its realistic strategy
whose floating arguments are redrawn by a *fill* biased to the extremes the stability
tier is about: logits of ±20, ±100, ±1e4 (and exact 0); probabilities exactly 0 and 1
and within 1e-9 of them; all-zero masks; heatmaps with no positive; ``decode`` raw
outputs whose exponential under- or overflows the dtype under test.  :func:`overriding`
composes a realistic strategy with fills.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import strategies as st

from conformance.contracts.draw import arrays, reals

LOGITS = (0.0, 1.0, -1.0, 20.0, -20.0, 100.0, -100.0, 1e4, -1e4)
PROBS = (0.0, 1.0, 1e-9, 1 - 1e-9, 1e-7, 1 - 1e-7, 0.5)
BIG = (0.0, 1.0, -1.0, 1e4, -1e4, 0.5)

Fill = Callable[[st.DrawFn, np.ndarray, str], np.ndarray]


def exp_limit(dtype: str) -> float:
    """A raw value whose exponential overflows ``dtype`` (and whose negative underflows it)."""
    return {"float16": 12.0, "bfloat16": 100.0, "float32": 100.0, "float64": 750.0}[dtype]


def big_coordinate(dtype: str) -> float:
    """Box coordinates "around 1e6", scaled down where the dtype cannot hold 1e6 (float16)."""
    return 1e3 if dtype == "float16" else 1e6


def specials_or(specials: tuple[float, ...], lo: float, hi: float) -> st.SearchStrategy[float]:
    """Specials drawn about half of the time, ordinary values otherwise (large arrays: see ``draw.arrays``)."""
    return reals(lo, hi, specials)


def logit_fill(draw: st.DrawFn, old: np.ndarray, dtype: str) -> np.ndarray:
    return draw(arrays(np.shape(old), specials_or(LOGITS, -1e4, 1e4)))


def prob_fill(draw: st.DrawFn, old: np.ndarray, dtype: str) -> np.ndarray:
    return draw(arrays(np.shape(old), specials_or(PROBS, 0.0, 1.0)))


def positive_rows_fill(draw: st.DrawFn, old: np.ndarray, dtype: str) -> np.ndarray:
    """Probabilities with exact 0 and 1 entries; every row along the last axis keeps a positive sum."""
    p = draw(arrays(np.shape(old), specials_or((0.0, 0.0, 1.0, 1e-9, 0.5), 0.0, 1.0)))
    empty = p.sum(axis=-1, keepdims=True) <= 1e-3
    first = np.zeros_like(p)
    first[..., 0] = 1.0
    return np.where(empty, np.maximum(p, first), p)


def big_fill(draw: st.DrawFn, old: np.ndarray, dtype: str) -> np.ndarray:
    return draw(arrays(np.shape(old), specials_or(BIG, -1e4, 1e4)))


def raw_exp_fill(draw: st.DrawFn, old: np.ndarray, dtype: str) -> np.ndarray:
    lim = exp_limit(dtype)
    return draw(arrays(np.shape(old), specials_or((0.0, lim, -lim, lim / 2, -lim / 2, 1.0), -lim, lim)))


def zero_mask_fill(draw: st.DrawFn, old: np.ndarray, dtype: str) -> np.ndarray:
    """All-zero masks half of the time, the ordinary mask otherwise."""
    return np.zeros_like(old) if draw(st.booleans()) else old


def heatmap_fill(draw: st.DrawFn, old: np.ndarray, dtype: str) -> np.ndarray:
    """Heatmaps with no positive (every value below 1, exact zeros common), or with exact 1.0 peaks."""
    hm = draw(arrays(np.shape(old), specials_or((0.0, 0.0, 1e-9, 1 - 1e-9, 0.5), 0.0, 0.999)))
    return np.where(old == 1.0, 1.0, hm) if draw(st.booleans()) else hm


def overriding(base: Callable[[], st.SearchStrategy[dict]], fills: dict[str, Fill]
                ) -> Callable[[str], st.SearchStrategy[dict]]:
    """The ordinary strategy ``base`` with each argument in ``fills`` redrawn adversarially."""

    def make(dtype: str) -> st.SearchStrategy[dict]:
        @st.composite
        def strategy(draw: st.DrawFn) -> dict:
            ex = draw(base())
            for k, fill in fills.items():
                ex[k] = [fill(draw, x, dtype) for x in ex[k]] if isinstance(ex[k], list) else fill(draw, ex[k], dtype)
            return ex

        return strategy()

    return make


