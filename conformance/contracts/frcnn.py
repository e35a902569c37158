"""Strategies for the Keras Faster R-CNN losses (spec §3, family ``frcnn``)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from conformance.contracts.draw import arrays, masks, one_hot, prob_rows, probabilities, reals

TARGET = reals(-3.0, 3.0, (0.0, 1.0, -1.0, 0.5, 2.5))


@st.composite
def feature_map(draw: st.DrawFn, max_anchors: int = 9) -> tuple[int, int, int, int]:
    """(batch, rows, cols, anchors): batch above 1, non-square maps, 1-9 anchors, kept small."""
    a = draw(st.integers(1, max_anchors))
    side = 4 if a <= 3 else 2
    return draw(st.integers(1, 3)), draw(st.integers(1, side)), draw(st.integers(1, side + 1)), a


@st.composite
def rpn_loss_regr(draw: st.DrawFn) -> dict:
    b, h, w, a = draw(feature_map())
    m = draw(masks((b, h, w, 4 * a)))
    t = draw(arrays((b, h, w, 4 * a), TARGET))  # non-zero where the mask is zero too
    return {"num_anchors": a, "y_true": np.concatenate([m, t], -1), "y_pred": draw(arrays((b, h, w, 4 * a), TARGET))}


@st.composite
def rpn_loss_cls(draw: st.DrawFn) -> dict:
    b, h, w, a = draw(feature_map())
    v = draw(masks((b, h, w, a)))
    z = draw(masks((b, h, w, a)))
    return {"num_anchors": a, "y_true": np.concatenate([v, z], -1), "y_pred": draw(probabilities((b, h, w, a)))}


@st.composite
def class_loss_regr(draw: st.DrawFn) -> dict:
    b, r, c = draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 5))
    m = draw(masks((b, r, 4 * c)))
    t = draw(arrays((b, r, 4 * c), TARGET))
    return {"num_classes": c, "y_true": np.concatenate([m, t], -1), "y_pred": draw(arrays((b, r, 4 * c), TARGET))}


@st.composite
def class_loss_cls(draw: st.DrawFn) -> dict:
    b, r, k = draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(2, 6))
    return {"y_true": draw(one_hot((b, r, k))), "y_pred": draw(prob_rows((b, r, k), positive=True))}
