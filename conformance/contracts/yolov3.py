"""Family ``yolov3``: the TensorFlow YOLOv3 functions and losses of docs/contracts.md (boxes are centre x, y, w, h)."""

from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np
from hypothesis import strategies as st

import oracle
from conformance.contracts import tags
from conformance.contracts import yolov3_numerics as num
from conformance.contracts.adversarial import (
    big_coordinate,
    exp_limit,
    overriding,
    prob_fill,
    raw_exp_fill,
    specials_or,
)
from conformance.contracts.draw import (
    arrays,
    exact_grid_values,
    fixed_mask,
    fixed_normal,
    fixed_probs,
    masks,
    probabilities,
    random_mask,
    reals,
    seeded,
)
from conformance.contracts.record import BadCase, Call, Contract, Derived, Domain, Tag, TimingCase
from conformance.contracts.yolov3_entries import ENTRIES as YOLOV3_ENTRIES
from conformance.numerics.dtypes import info
from conformance.numerics.literal import BOXES as LITERAL_BOXES

CENTRE = reals(-50.0, 50.0, (0.0, 1.0, -1.0, 10.0))
EXTENT = reals(-20.0, 40.0, (0.0, 1.0, 2.0, -1.0, -4.0))
SCALE = st.sampled_from((1.0, 1.0, 1.0, 1e-3, 1e3, 1e6))


@st.composite
def boxes_pair(draw: st.DrawFn) -> dict:
    """Two broadcastable (x, y, w, h) box arrays: zero, negative, huge, identical and inverted extents; random pairs
    (mostly disjoint or inverted, where the IoU is 0) and overlapping ones (positive extents, centres within 1.2
    half-spans)."""
    lead = draw(st.sampled_from(((1,), (3,), (2, 3), (4,))))
    scale = draw(SCALE)

    def one(shape: tuple[int, ...]) -> np.ndarray:
        xy = draw(arrays((*shape, 2), CENTRE))
        wh = draw(arrays((*shape, 2), EXTENT))
        return np.concatenate([xy, wh], -1) * scale

    b1 = one(lead)
    kind = draw(st.sampled_from(("overlapping", "random", "identical", "broadcast", "shifted")))
    if kind == "identical":
        b2 = b1.copy()
    elif kind == "overlapping":  # positive extents, centres apart by up to 1.2 half-spans: mostly overlapping
        b1[..., 2:] = np.abs(b1[..., 2:])
        b2 = one(lead)
        b2[..., 2:] = np.abs(b2[..., 2:])
        half = (b1[..., 2:] + b2[..., 2:]) / 2
        b2[..., :2] = b1[..., :2] + draw(arrays((*lead, 2), reals(-1.2, 1.2, (0.0, 0.5)))) * half
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


def _large_sizes(draw: st.DrawFn, conv: np.ndarray, b: int, s: int, a: int, n: int, biggest: float) -> np.ndarray:
    """``conv`` with, in half the examples, raw w, h up to 5.5 (a clamp of raw w, h at log(1000/16) = 4.1, as
    torchvision's box coder has, shows), as far as float16 holds the box and its gradient under a cotangent up to
    6: e^t · ``biggest`` (the largest anchor times the stride) · 6 ≤ 65504."""
    if not draw(st.booleans()):
        return conv
    hi = min(5.5, float(np.log(65504.0 / (6.0 * biggest))))
    wh = draw(arrays((b, s, s, a, 2), reals(-4.0, hi, (4.5,) if hi >= 4.5 else ())))
    cells = conv.reshape(b, s, s, a, 5 + n)
    return np.concatenate([cells[..., :2], wh, cells[..., 4:]], -1).reshape(conv.shape)


@st.composite
def decode(draw: st.DrawFn) -> dict:
    b, s, a, n = draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    anchor_table, stride = draw(anchors(a)), draw(st.sampled_from((1, 8, 16, 32)))
    conv = draw(arrays((b, s, s, a * (5 + n)), reals(-4.0, 4.0, (0.0, 1.0, -1.0))))
    return {
        "conv_output": _large_sizes(draw, conv, b, s, a, n, float(anchor_table.max()) * stride),
        "anchors": anchor_table,
        "stride": stride,
        "num_class": n,
    }


@st.composite
def _scale(draw: st.DrawFn, b: int, s: int, a: int, n: int, m: int, stride: int) -> dict:
    """One YOLOv3 scale: raw conv, label tensor and the image's zero-padded true boxes."""
    size = stride * s
    conv = draw(arrays((b, s, s, a * (5 + n)), reals(-3.0, 3.0, (0.0, 1.0, -1.0))))
    if draw(st.booleans()):  # a trained network's confident logits: the confidence and class channels up to ±16
        logits = draw(arrays((b, s, s, a, 1 + n), reals(-16.0, 16.0, (8.0, -8.0, 12.0, -12.0))))
        conv = np.concatenate([conv.reshape(b, s, s, a, 5 + n)[..., :4], logits], -1).reshape(conv.shape)
    conv = _large_sizes(draw, conv, b, s, a, n, 6.0 * stride)  # anchors are drawn up to 6
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



# --- stability ---------------------------------------------------------------------------------------------------

def degenerate_boxes(dtype: str) -> st.SearchStrategy[dict]:
    """Box pairs with zero, identical, inverted and huge extents, and centres around 1e6."""
    big = big_coordinate(dtype)
    centre = specials_or((0.0, 1.0, big, -big, big + 0.5), -big, big)
    extent = specials_or((0.0, 0.0, 1.0, -1.0, 2.0, big), -big, big)

    @st.composite
    def strategy(draw: st.DrawFn) -> dict:
        lead = draw(st.sampled_from(((1,), (3,), (2, 3))))

        def one() -> np.ndarray:
            return np.concatenate([draw(arrays((*lead, 2), centre)), draw(arrays((*lead, 2), extent))], -1)

        b1 = one()
        kind = draw(st.sampled_from(("identical", "zero", "inverted", "random")))
        if kind == "identical":
            b2 = b1.copy()
        elif kind == "zero":  # same centres, zero width or height
            b2 = b1.copy()
            b2[..., draw(st.sampled_from((2, 3)))] = 0.0
        elif kind == "inverted":
            b2 = b1 * np.array([1.0, 1.0, -1.0, -1.0])
        else:
            b2 = one()
        return {"boxes1": b1, "boxes2": b2}

    return strategy()


def _nonnegative(ex: dict) -> dict:
    """The same boxes with |w|, |h|: diou_loss and ciou_loss take w, h >= 0 (docs/contracts.md)."""
    return {k: np.concatenate([v[..., :2], np.abs(v[..., 2:])], -1) for k, v in ex.items()}


def nonnegative_boxes_pair() -> st.SearchStrategy[dict]:
    """:func:`boxes_pair` with non-negative extents (zero extents, huge scales and far-apart pairs kept)."""
    return boxes_pair().map(_nonnegative)


def nonnegative_degenerate_boxes(dtype: str) -> st.SearchStrategy[dict]:
    """:func:`degenerate_boxes` with non-negative extents; the inverted pairs become far-apart ones."""
    big = big_coordinate(dtype)

    @st.composite
    def strategy(draw: st.DrawFn) -> dict:
        ex = _nonnegative(draw(degenerate_boxes(dtype)))
        if draw(st.booleans()):  # a second box far from the first (c² large, ρ²/c² near 1)
            shift = np.array([draw(st.sampled_from((big, -big, 1e3))), 0.0, 0.0, 0.0])
            ex["boxes2"] = ex["boxes2"] + shift
        return ex

    return strategy()


def _fixed_boxes(dtype: str) -> list[dict]:
    big = big_coordinate(dtype)
    # the last row: y ∓ h/2 = 1 ∓ 5e-10 round to 1.0 in float32, the documents' formula is 0/0 (hazard LITERAL)
    b1 = np.array([[0, 0, 0, 0], [1, 1, 0, 2], [big, big, 1, 1], [5, 5, -2, -2], [0, 1, 1, 1e-9]], dtype=np.float64)
    return [{"boxes1": b1, "boxes2": b1.copy()}]


def _fixed_decode(dtype: str) -> list[dict]:
    lim = exp_limit(dtype)
    conv = np.zeros((1, 1, 1, 6))
    conv[..., 2], conv[..., 3] = lim, -lim
    # e^{raw_w} = 2·tiny is normal, e^{raw_w} · anchor = tiny / 2 is not: in the documents' order
    # (e^{raw} · anchors) · stride it is flushed to 0, though the exact w = 64·tiny is above the tolerance;
    # σ(raw_y) = tiny / e is subnormal, flushed to 0, though the exact y = (σ(raw_y) + 0) · stride is not small
    under = np.zeros((1, 1, 1, 6))
    under[..., 1] = np.log(info(dtype).tiny) - 1
    under[..., 2] = np.log(2 * info(dtype).tiny)
    return [{"conv_output": conv, "anchors": np.ones((1, 2)), "stride": 8, "num_class": 1},
            {"conv_output": under, "anchors": np.full((1, 2), 0.25), "stride": 128, "num_class": 1}]


def _decode_intermediates(ex: dict, dtype: str):
    return num.rounded_intermediate("decode", ex, dtype)


def _fixed_layer(dtype: str) -> list[dict]:
    """One cell, three anchors; anchor 1 has raw w = −50: its box (4, 4, 2e^{-50}, 2) sticks out of the label box
    (0, 0, 8, 1) by e^{-50} = 1.9e-22 on the right, below the rounding of the corners in every dtype.  The exact
    gradient wrt raw x flows through the enclosure; a tie there gives the other one-sided derivative, 0 (near kink)."""
    conv = np.zeros((1, 1, 1, 21))
    conv[..., 9] = -50.0
    label = np.array([[0, 0, 1, 1, 1, 0, 0], [0, 0, 8, 1, 1, 0, 0], [0, 0, 1, 1, 1, 0, 0]], dtype=np.float64)
    return [{"conv": conv, "label": label.reshape(1, 1, 1, 3, 7), "bboxes": np.zeros((1, 1, 4)),
             "anchors": np.full((3, 2), 0.25), "stride": 8, "num_class": 2, "iou_loss_thresh": 0.5}]


def _layer_intermediates(ex: dict, dtype: str):
    return num.rounded_intermediate("loss_layer", ex, dtype)


def _compute_intermediates(ex: dict, dtype: str):
    return num.rounded_intermediate("compute_loss", ex, dtype)


# --- pinned examples ---------------------------------------------------------------------------------------------

_ANCHORS_416 = np.array([[3.625, 2.8125], [4.875, 6.1875], [11.65625, 10.1875]])  # the coarse scale, grid units


@functools.cache
def _pinned_layer() -> dict:
    rng = seeded("yolo")
    n, a, s, stride, m = 80, 3, 13, 32, 150  # COCO, 416 input, the coarse scale
    conv = rng.normal(scale=0.5, size=(1, s, s, a * (5 + n)))
    r = random_mask(rng, (1, s, s, a, 1), 0.02)
    xy = rng.random((1, s, s, a, 2)) * 416
    wh = 8 + rng.random((1, s, s, a, 2)) * 200
    label = np.concatenate([xy, wh, r, r * np.eye(n)[rng.integers(0, n, (1, s, s, a))]], -1)
    boxes = np.concatenate([rng.random((1, m, 2)) * 416, 8 + rng.random((1, m, 2)) * 200], -1)
    boxes[:, 20:] = 0.0  # zero padding beyond the image's 20 objects
    return {"conv": conv, "label": label, "bboxes": boxes, "anchors": _ANCHORS_416, "stride": stride, "num_class": n,
            "iou_loss_thresh": 0.5}


def _pinned_decode() -> list[dict]:
    ex = _pinned_layer()
    return [{"conv_output": ex["conv"], "anchors": ex["anchors"], "stride": ex["stride"], "num_class": ex["num_class"]}]


def _pinned_pair() -> list[dict]:
    b = np.array([[10.0, 10.0, 4.0, 6.0], [0.0, 0.0, 0.0, 5.0], [1e6, 1e6, 3.0, 3.0], [5.0, 5.0, -2.0, 4.0]])
    # normalised coordinates (boxes a thousandth of the image): an ε added to the union or the enclosing area
    # shows at this scale (two identical (0, 0, 1e-3, 1e-3) boxes: union 1e-6)
    tiny = np.array([[0.0, 0.0, 1e-3, 1e-3], [0.01, 0.01, 0.004, 0.006], [0.0, 0.0, 0.002, 0.005]])
    return [{"boxes1": b, "boxes2": np.array([[10.0, 10.0, 4.0, 6.0], [1.0, 0.0, 2.0, 5.0],
                                              [1e6 + 1, 1e6, 3.0, 3.0], [5.0, 5.0, 2.0, 4.0]])},
            {"boxes1": tiny, "boxes2": np.array([[0.0, 0.0, 1e-3, 1e-3], [0.01, 0.01, 0.004, 0.006],
                                                 [0.001, 0.0, 0.002, 0.005]])}]


# --- bad inputs --------------------------------------------------------------------------------------------------

def _decode_bad(channels: int):
    return lambda: {"conv_output": fixed_normal(1, 2, 2, channels), "anchors": np.ones((2, 2)), "stride": 8,
                    "num_class": 2}


def _layer_bad(conv_ch: int = 14, label_last: int = 7, m_last: int = 4) -> dict:
    b, s, a, n = 1, 2, 2, 2
    label = np.concatenate([np.full((b, s, s, a, 2), 4.0), np.full((b, s, s, a, 2), 6.0),
                            fixed_mask(b, s, s, a, 1), fixed_probs(b, s, s, a, label_last - 5)], -1)
    return {"conv": fixed_normal(b, s, s, conv_ch), "label": label, "bboxes": np.full((b, 3, m_last), 5.0),
            "anchors": np.ones((a, 2)), "stride": 8, "num_class": n, "iou_loss_thresh": 0.5}


def _compute_bad(conv_ch: int = 14) -> dict:
    per_scale = [_layer_bad() for _ in range(3)]
    convs = [x["conv"] for x in per_scale]
    convs[1] = fixed_normal(1, 2, 2, conv_ch)
    return {"convs": convs, "labels": [x["label"] for x in per_scale], "bboxes": [x["bboxes"] for x in per_scale],
            "anchors": np.ones((3, 2, 2)), "strides": np.array([8.0, 16.0, 32.0]), "num_class": 2,
            "iou_loss_thresh": 0.5}


def _boxes_bad(shape1: tuple[int, ...], shape2: tuple[int, ...]):
    return lambda: {"boxes1": np.abs(fixed_normal(*shape1)) + 1.0, "boxes2": np.abs(fixed_normal(*shape2)) + 1.0}


BOX_BAD_INPUTS = (BadCase("boxes1-3-coordinates", "boxes1", _boxes_bad((3, 3), (3, 4))),
                  BadCase("leading-shape-mismatch", "boxes2", _boxes_bad((3, 4), (4, 4))),
                  BadCase("broadcast", "boxes1", _boxes_bad((2, 1, 4), (3, 4)), broadcast=("boxes1", "boxes2")))


# --- timing ------------------------------------------------------------------------------------------------------

# YOLOv3 anchors (pixels) of the 416 configuration, per scale; divided by the stride they are in grid units.
_ANCHORS_PX = np.array([[[10, 13], [16, 30], [33, 23]], [[30, 61], [62, 45], [59, 119]],
                        [[116, 90], [156, 198], [373, 326]]], dtype=np.float64)
_STRIDES = (8, 16, 32)
_ANCHORS = _ANCHORS_PX / np.array(_STRIDES, dtype=np.float64)[:, None, None]


def _timing_scale(rng: np.random.Generator, b: int, s: int, stride: int, n: int, m: int) -> dict:
    """One scale of YOLOv3 training data: raw conv, label (boxes where an object is assigned), true boxes."""
    a, size = 3, s * stride
    conv = rng.standard_normal((b, s, s, a * (5 + n)))
    respond = random_mask(rng, (b, s, s, a, 1), 0.01, True)
    xy = rng.uniform(0, size, (b, s, s, a, 2))
    wh = rng.uniform(4, size / 2, (b, s, s, a, 2))
    onehot = np.eye(n)[rng.integers(0, n, (b, s, s, a))]
    label = np.concatenate([xy, wh, np.ones_like(respond), onehot], -1) * respond
    bboxes = np.concatenate([rng.uniform(0, size, (b, m, 2)), rng.uniform(4, size / 2, (b, m, 2))], -1)
    return {"conv": conv, "label": label, "bboxes": bboxes}


def _timing_decode(d) -> list[TimingCase]:
    s0, n = d.yolo_grids[0], d.yolo_classes
    return [TimingCase(f"s{s0}-b{b}", lambda rng, b=b: {"conv_output": rng.standard_normal((b, s0, s0, 3 * (5 + n))),
                                                        "anchors": _ANCHORS[0], "stride": _STRIDES[0], "num_class": n})
            for b in d.yolo_batches]


def _timing_layer(d) -> list[TimingCase]:
    s0, n, m = d.yolo_grids[0], d.yolo_classes, d.yolo_boxes

    def build(rng: np.random.Generator, b: int) -> dict:
        ex = _timing_scale(rng, b, s0, _STRIDES[0], n, m)
        ex.update(anchors=_ANCHORS[0], stride=_STRIDES[0], num_class=n, iou_loss_thresh=0.5)
        return ex
    return [TimingCase(f"s{s0}-b{b}", lambda rng, b=b: build(rng, b)) for b in d.yolo_batches]


def _timing_compute(d) -> list[TimingCase]:
    n, m = d.yolo_classes, d.yolo_boxes

    def build(rng: np.random.Generator, b: int) -> dict:
        per_scale = [_timing_scale(rng, b, s, st_, n, m) for s, st_ in zip(d.yolo_grids, _STRIDES, strict=True)]
        return {"convs": [x["conv"] for x in per_scale], "labels": [x["label"] for x in per_scale],
                "bboxes": [x["bboxes"] for x in per_scale], "anchors": _ANCHORS,
                "strides": np.array(_STRIDES, dtype=np.float64), "num_class": n, "iou_loss_thresh": 0.5}
    return [TimingCase(f"{d.yolo_grids[0] * _STRIDES[0]}-b{b}", lambda rng, b=b: build(rng, b))
            for b in d.yolo_batches]


# --- records -----------------------------------------------------------------------------------------------------

def _raw_area(contract, ex: dict, dtype: str) -> bool:
    neg = (ex["boxes1"][..., 2:] < 0).any() or (ex["boxes2"][..., 2:] < 0).any()
    with np.errstate(all="ignore"):
        a = oracle.evaluate("bbox_iou", **ex)
        b = oracle.evaluate("bbox_giou", **ex)
    return bool(neg and np.any(np.isfinite(a) & np.isfinite(b) & (a != b)))


_BOX_SHAPES = "boxes1, boxes2: (..., 4) centre (x, y, w, h), broadcasting over leading axes; float"
_ZERO_UNION = tags.nan_expected("YOLO-ZERO-UNION", "degenerate boxes: 0/0, the expected value is NaN (not compared)")


def _ordinary(ex: dict) -> bool:
    return all(bool(np.all(np.asarray(ex[k], dtype=np.float64)[..., 2:] > 0)) for k in ("boxes1", "boxes2"))


_ORDINARY_BOXES = Domain("boxes with positive widths and heights", _ordinary)


def box_contract(name: str, summary: str, nonnegative: bool = False, **kw) -> Contract:
    """A record for a function of two box arrays (IoU and its losses): everything but the formula is shared.

    ``nonnegative``: the function takes w, h >= 0 only (diou_loss, ciou_loss), and its strategies draw such boxes.
    """
    kw.setdefault("tags", (_ZERO_UNION,))
    kw.setdefault("realistic", _ORDINARY_BOXES)
    if nonnegative:
        strategies = (nonnegative_boxes_pair, nonnegative_degenerate_boxes)
        kw.update(pinned=lambda: [_nonnegative(ex) for ex in _pinned_pair()],
                  stability_cases=lambda dtype: [_nonnegative(ex) for ex in _fixed_boxes(dtype)])
    else:
        strategies = (boxes_pair, degenerate_boxes)
        kw.update(pinned=_pinned_pair, stability_cases=_fixed_boxes)
    return Contract(name, "yolov3", Call(("boxes1", "boxes2")), strategies[0], ("boxes1", "boxes2"),
                    ("boxes1", "boxes2"), num.TOLERANCES[name], strategies[1], summary, _BOX_SHAPES,
                    bad_inputs=BOX_BAD_INPUTS, near_kinks=num.box_near_kinks, in_range=num.boxes_pair_in_range,
                    undefined_id="YOLO-ZERO-UNION", literal=LITERAL_BOXES[name], **kw)


_LAYER_CALL = Call(("conv", "pred", "label", "bboxes", "anchors", "stride", "num_class", "iou_loss_thresh"),
                   derived=(Derived("pred", "decode", ("conv", "anchors", "stride", "num_class")),))
_MASKS = {"loss_layer": lambda ex: [ex["label"][..., 4]], "compute_loss": lambda ex: [x[..., 4] for x in ex["labels"]]}

CONTRACTS = [
    Contract("decode", "yolov3", Call(("conv_output", "anchors", "stride", "num_class")), decode, ("conv_output",),
             ("conv_output",), num.TOLERANCES["decode"], overriding(decode, {"conv_output": raw_exp_fill}),
             "xy = (σ(r_xy) + grid)·stride; wh = e^{r_wh}·anchors·stride; conf, prob = σ(r)",
             "conv_output: (B, S, S, A·(5+N)); anchors: (A, 2) grid units; stride: number; num_class: N",
             divergences=("YOLO-EXP-OVERFLOW",), pinned=_pinned_decode, stability_cases=_fixed_decode,
             in_range=num.decode_in_range, intermediates=_decode_intermediates, undefined_id="YOLO-ZERO-UNION",
             bad_inputs=(BadCase("conv-channels-A*(5+N)+1", "conv_output", _decode_bad(15)),
                         BadCase("conv-channels-A*(5+N)-1", "conv_output", _decode_bad(13))),
             timing=_timing_decode, cost=1.5),
    box_contract("bbox_iou", "inter / (w1·h1 + w2·h2 − inter), areas from the raw (w, h)",
                 divergences=("YOLO-IOU-RAW-AREA", "YOLO-ZERO-UNION"),
                 tags=(_ZERO_UNION, Tag("YOLO-IOU-RAW-AREA", "negative extents: bbox_iou's raw areas differ from "
                                                              "bbox_giou's", _raw_area))),
    box_contract("bbox_giou", "IoU − (E − union) / E, corners re-sorted, E the enclosing box",
                 divergences=("YOLO-ZERO-UNION",), output_range=(-1.0, 1.0)),
    box_contract("iou_loss", "1 − bbox_iou", divergences=("YOLO-ZERO-UNION",)),
    box_contract("giou_loss", "1 − bbox_giou", divergences=("YOLO-ZERO-UNION",), output_range=(0.0, 2.0)),
    box_contract("diou_loss", "1 − IoU + ρ²/c², ρ the centres' distance, c the enclosing box's diagonal",
                 nonnegative=True, output_range=(0.0, 2.0), divergences=("YOLO-ZERO-UNION",),
                 notes="ρ²/c² is 0/0 for two identical point boxes: undefined, a hazard"),
    box_contract("ciou_loss", "diou_loss + α·v, v = (4/π²)(atan2(w2, h2) − atan2(w1, h1))², α = v / ((1 − IoU) + v)",
                 nonnegative=True, output_range=(0.0, 3.0), divergences=("CIOU-ALPHA-GRAD", "YOLO-ZERO-UNION"),
                 notes="α is a constant in the gradient (stop-gradient); α = 0 where v = 0"),
    Contract("focal", "yolov3", Call(("target", "actual"), keyword=("alpha", "gamma")), focal, ("target", "actual"),
             ("actual",), num.TOLERANCES["focal"], overriding(focal, {"actual": prob_fill}),
             "α·|target − actual|^γ (a weight; the gradient flows through it)",
             "target, actual: same shape; alpha, gamma: numbers (defaults 1, 2)",
             bad_inputs=(BadCase("shape-mismatch", "actual", lambda: {"target": fixed_mask(2, 3),
                                                                      "actual": fixed_probs(2, 4), "alpha": 1,
                                                                      "gamma": 2}),
                         BadCase("broadcast", "target",
                                 lambda: {"target": fixed_mask(1, 3), "actual": fixed_probs(2, 3), "alpha": 1,
                                          "gamma": 2}, broadcast=("target", "actual"))),
             tags=(tags.zero_masks(lambda ex: [ex["target"]]),)),
    Contract("loss_layer", "yolov3", _LAYER_CALL, loss_layer, ("conv", "label", "bboxes"), ("conv",),
             num.TOLERANCES["loss_layer"], overriding(loss_layer, {"conv": raw_exp_fill}),
             "(giou, conf, prob) losses of one scale, each the batch mean of per-image sums",
             "conv: (B, S, S, A·(5+N)); pred = decode(conv, …); label: (B, S, S, A, 5+N); bboxes: (B, M, 4)",
             n_outputs=3, divergences=("YOLO-ZERO-UNION", "YOLO-EXP-OVERFLOW"),
             notes="no gradient through the background mask; examples whose max IoU is within rounding distance "
                   "of iou_loss_thresh are not judged",
             pinned=lambda: [_pinned_layer()], stability_cases=_fixed_layer, near_kinks=num.yolo_near_kinks,
             margin=num.threshold_margin,
             in_range=num.layers_in_range, normaliser=lambda ex: float(np.shape(ex["conv"])[0]),
             intermediates=_layer_intermediates, lenient=True, undefined_id="YOLO-ZERO-UNION",
             derived_fallback="conformance.targets.reference",
             bad_inputs=(BadCase("conv-channels-A*(5+N)+2", "conv", lambda: _layer_bad(conv_ch=16)),
                         BadCase("label-classes", "label", lambda: _layer_bad(label_last=8)),
                         BadCase("bboxes-coordinates", "bboxes", lambda: _layer_bad(m_last=5))),
             tags=(tags.zero_masks(_MASKS["loss_layer"]),), timing=_timing_layer, cost=3.0),
    Contract("compute_loss", "yolov3",
             Call(("convs", "labels", "bboxes", "anchors", "strides", "num_class", "iou_loss_thresh")), compute_loss,
             ("convs", "labels", "bboxes"), ("convs",), num.TOLERANCES["compute_loss"],
             overriding(compute_loss, {"convs": raw_exp_fill}),
             "loss_layer summed over the three scales, each decoded with its anchors and stride",
             "convs, labels, bboxes: lists of three (per scale, as loss_layer); anchors: (3, A, 2); strides: (3,)",
             n_outputs=3, divergences=("YOLO-ZERO-UNION", "YOLO-EXP-OVERFLOW"),
             near_kinks=num.yolo_near_kinks, margin=num.threshold_margin, in_range=num.layers_in_range,
             normaliser=lambda ex: float(np.shape(ex["convs"][0])[0]), intermediates=_compute_intermediates,
             lenient=True, undefined_id="YOLO-ZERO-UNION",
             bad_inputs=(BadCase("conv-channels-A*(5+N)+2", "convs", lambda: _compute_bad(16)),),
             tags=(tags.zero_masks(_MASKS["compute_loss"]),), timing=_timing_compute, cost=8.0),
]
CONTRACTS = [replace(c, entry=YOLOV3_ENTRIES[c.name]) for c in CONTRACTS]
