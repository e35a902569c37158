"""Strategies for the elementary functions (spec §2, family ``nn``)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conformance.contracts.draw import PROB_SPECIALS, arrays, one_hot, prob_rows, probabilities, reals, small_shape

LOGIT_SPECIALS = (0.0, 1.0, -1.0, 20.0, -20.0, 50.0, -50.0)


def logits(shape: tuple[int, ...], bound: float = 50.0) -> st.SearchStrategy[np.ndarray]:
    """Logit arrays in ``[-bound, bound]`` with 0 and large magnitudes drawn often."""
    return arrays(shape, reals(-bound, bound, LOGIT_SPECIALS))


@st.composite
def sigmoid(draw: st.DrawFn) -> dict:
    return {"x": draw(logits(draw(small_shape())))}


@st.composite
def softmax(draw: st.DrawFn) -> dict:
    shape = draw(small_shape())
    axis = draw(st.sampled_from([-1, *range(len(shape))]))
    return {"logits": draw(logits(shape)), "axis": axis}


@st.composite
def sigmoid_cross_entropy_with_logits(draw: st.DrawFn) -> dict:
    shape = draw(small_shape())
    return {"labels": draw(probabilities(shape, (0.0, 1.0, 0.5))), "logits": draw(logits(shape))}


@st.composite
def weighted_cross_entropy_with_logits(draw: st.DrawFn) -> dict:
    ex = draw(sigmoid_cross_entropy_with_logits())
    ex["pos_weight"] = draw(st.sampled_from((1.0, 0.25, 0.5, 2.0, 3.5, 10.0)))
    return ex


@st.composite
def softmax_cross_entropy_with_logits(draw: st.DrawFn) -> dict:
    shape = draw(small_shape())
    axis = draw(st.sampled_from([-1, *range(len(shape))]))
    moved = np.moveaxis(np.empty(shape), axis, -1).shape
    # TensorFlow's documented contract: each row of labels is a probability distribution (its gradient,
    # softmax - labels, assumes the row sums to 1).
    labels = draw(st.one_of(one_hot(moved), prob_rows(moved, positive=True, normalised=True)))
    return {"labels": np.moveaxis(labels, -1, axis), "logits": draw(logits(shape)), "axis": axis}


@st.composite
def sparse_softmax_cross_entropy_with_logits(draw: st.DrawFn) -> dict:
    shape = draw(small_shape())
    c = shape[-1]
    labels = draw(hnp.arrays(np.int64, shape[:-1], elements=st.sampled_from((0, c - 1)) | st.integers(0, c - 1)))
    return {"labels": labels, "logits": draw(logits(shape))}


@st.composite
def binary_crossentropy(draw: st.DrawFn) -> dict:
    shape = draw(small_shape())
    return {"target": draw(probabilities(shape, (0.0, 1.0, 0.5))), "output": draw(probabilities(shape))}


@st.composite
def categorical_crossentropy(draw: st.DrawFn) -> dict:
    shape = draw(small_shape())
    return {
        "target": draw(st.one_of(one_hot(shape), prob_rows(shape))),
        "output": draw(prob_rows(shape, positive=True)),
        "axis": -1,
    }


@st.composite
def entropy(draw: st.DrawFn) -> dict:
    shape = draw(small_shape())
    return {"p": draw(prob_rows(shape)), "axis": draw(st.sampled_from([-1, *range(len(shape))]))}


@st.composite
def kl_divergence(draw: st.DrawFn) -> dict:
    shape = draw(small_shape())
    return {
        "p": draw(prob_rows(shape)),
        "q": draw(prob_rows(shape, positive=True)),
        "axis": draw(st.sampled_from([-1, *range(len(shape))])),
    }


@st.composite
def smooth_l1(draw: st.DrawFn) -> dict:
    return {"x": draw(arrays(draw(small_shape()), reals(-5.0, 5.0, (0.0, 1.0, -1.0, 0.5, -0.5, 1.5))))}


__all__ = ["PROB_SPECIALS"]
