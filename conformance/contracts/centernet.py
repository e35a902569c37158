"""Strategies for the TF2 CenterNet losses (spec §5, family ``centernet``)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conformance.contracts.draw import arrays, masks, probabilities, reals


@st.composite
def heatmap(draw: st.DrawFn, shape: tuple[int, ...]) -> np.ndarray:
    """Gaussian-like heatmaps in [0, 1], with or without exact 1.0 peaks."""
    hm = draw(arrays(shape, reals(0.0, 1.0, (0.0, 0.5, 0.9, 0.999))))
    if draw(st.booleans()):
        peaks = draw(arrays(shape, st.sampled_from((0.0, 0.0, 0.0, 1.0))))
        hm = np.where(peaks == 1.0, 1.0, hm)
    return hm


@st.composite
def focal_loss(draw: st.DrawFn) -> dict:
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 4)))
    return {"hm_pred": draw(probabilities(shape)), "hm_true": draw(heatmap(shape))}


@st.composite
def _regression(draw: st.DrawFn) -> tuple:
    b, h, w, k = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 6))
    hw = h * w
    idx = draw(hnp.arrays(np.int64, (b, k), elements=st.sampled_from((0, hw - 1)) | st.integers(0, hw - 1)))
    return b, h, w, k, idx, draw(masks((b, k)))


VALUES = reals(-8.0, 8.0, (0.0, 0.5, 1.0))


@st.composite
def reg_l1_loss(draw: st.DrawFn) -> dict:
    b, h, w, k, idx, mask = draw(_regression())
    return {
        "y_pred": draw(arrays((b, h, w, 2), VALUES)),
        "y_true": draw(arrays((b, k, 2), VALUES)),
        "indices": idx,
        "mask": mask,
    }


@st.composite
def loss(draw: st.DrawFn) -> dict:
    b, h, w, k, idx, mask = draw(_regression())
    c = draw(st.integers(1, 3))
    return {
        "hm_pred": draw(probabilities((b, h, w, c))),
        "wh_pred": draw(arrays((b, h, w, 2), reals(0.0, 40.0, (0.0, 1.0)))),
        "reg_pred": draw(arrays((b, h, w, 2), reals(0.0, 1.0, (0.0, 0.5)))),
        "hm_true": draw(heatmap((b, h, w, c))),
        "wh_true": draw(arrays((b, k, 2), reals(0.0, 40.0, (0.0, 1.0)))),
        "reg_true": draw(arrays((b, k, 2), reals(0.0, 1.0, (0.0, 0.5)))),
        "reg_mask": mask,
        "indices": idx,
    }
