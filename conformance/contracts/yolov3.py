"""Strategies for the TensorFlow YOLOv3 losses (spec §4, family ``yolov3``)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from conformance.contracts.draw import arrays, exact_grid_values, masks, probabilities, reals

CENTRE = reals(-50.0, 50.0, (0.0, 1.0, -1.0, 10.0))
EXTENT = reals(-20.0, 40.0, (0.0, 1.0, 2.0, -1.0, -4.0))
SCALE = st.sampled_from((1.0, 1.0, 1.0, 1e-3, 1e3, 1e6))


@st.composite
def boxes_pair(draw: st.DrawFn) -> dict:
    """Two broadcastable (x, y, w, h) box arrays: zero, negative, huge, identical and inverted extents."""
    lead = draw(st.sampled_from(((1,), (3,), (2, 3), (4,))))
    scale = draw(SCALE)

    def one(shape: tuple[int, ...]) -> np.ndarray:
        xy = draw(arrays((*shape, 2), CENTRE))
        wh = draw(arrays((*shape, 2), EXTENT))
        return np.concatenate([xy, wh], -1) * scale

    b1 = one(lead)
    kind = draw(st.sampled_from(("random", "random", "identical", "broadcast", "shifted")))
    if kind == "identical":
        b2 = b1.copy()
    elif kind == "broadcast":
        b2 = one((1,) * (len(lead) - 1) + (1,))
    elif kind == "shifted":
        b2 = b1 + draw(arrays((*lead, 4), reals(-2.0, 2.0, (0.0, 0.5)))) * scale
    else:
        b2 = one(lead)
    if draw(st.booleans()):
        b1, b2 = b2, b1
    return {"boxes1": b1, "boxes2": b2}


def anchors(a: int) -> st.SearchStrategy[np.ndarray]:
    """(A, 2) anchors in grid units, exact in every dtype under test."""
    return arrays((a, 2), exact_grid_values(0.25, 6.0))


@st.composite
def decode(draw: st.DrawFn) -> dict:
    b, s, a, n = draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return {
        "conv_output": draw(arrays((b, s, s, a * (5 + n)), reals(-4.0, 4.0, (0.0, 1.0, -1.0)))),
        "anchors": draw(anchors(a)),
        "stride": draw(st.sampled_from((1, 8, 16, 32))),
        "num_class": n,
    }


@st.composite
def _scale(draw: st.DrawFn, b: int, s: int, a: int, n: int, m: int, stride: int) -> dict:
    """One YOLOv3 scale: raw conv, label tensor and the image's zero-padded true boxes."""
    size = stride * s
    conv = draw(arrays((b, s, s, a * (5 + n)), reals(-3.0, 3.0, (0.0, 1.0, -1.0))))
    r = draw(masks((b, s, s, a, 1)))
    xy = draw(arrays((b, s, s, a, 2), reals(0.0, float(size), (0.0, size / 2))))
    wh = draw(arrays((b, s, s, a, 2), reals(1.0, float(size), (1.0, float(size)))))
    prob = draw(probabilities((b, s, s, a, n), (0.0, 1.0, 0.05, 0.95)))
    label = np.concatenate([xy, wh, r, prob], -1)
    true = np.concatenate(
        [draw(arrays((b, m, 2), reals(0.0, float(size)))), draw(arrays((b, m, 2), reals(1.0, float(size))))], -1
    )
    keep = draw(arrays((b, m, 1), st.sampled_from((0.0, 1.0, 1.0))))
    return {"conv": conv, "label": label, "bboxes": true * keep}


@st.composite
def loss_layer(draw: st.DrawFn) -> dict:
    b, s, a, n, m = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3)),
                     draw(st.integers(1, 3)), draw(st.integers(1, 4)))
    stride = draw(st.sampled_from((8, 16, 32)))
    ex = draw(_scale(b, s, a, n, m, stride))
    ex.update(anchors=draw(anchors(a)), stride=stride, num_class=n,
              iou_loss_thresh=draw(st.sampled_from((0.5, 0.5, 0.3, 0.75))))
    return ex


@st.composite
def focal(draw: st.DrawFn) -> dict:
    shape = draw(st.sampled_from(((3,), (2, 3), (2, 2, 1))))
    return {
        "target": draw(masks(shape)),
        "actual": draw(probabilities(shape)),
        "alpha": draw(st.sampled_from((1, 1, 0.25, 2))),
        "gamma": draw(st.sampled_from((2, 2, 1.5, 3))),
    }


@st.composite
def compute_loss(draw: st.DrawFn) -> dict:
    b, a, n, m = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 3))
    base = draw(st.integers(1, 2))
    strides = (8, 16, 32)
    sizes = (4 * base, 2 * base, base)
    scales = [draw(_scale(b, s, a, n, m, st_)) for s, st_ in zip(sizes, strides, strict=True)]
    return {
        "convs": [x["conv"] for x in scales],
        "labels": [x["label"] for x in scales],
        "bboxes": [x["bboxes"] for x in scales],
        "anchors": np.stack([draw(anchors(a)) for _ in range(3)]),
        "strides": np.array(strides, dtype=np.float64),
        "num_class": n,
        "iou_loss_thresh": 0.5,
    }


bbox_iou = bbox_giou = iou_loss = giou_loss = boxes_pair
