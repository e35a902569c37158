"""Bad input: a conforming implementation raises (any exception) or returns NaN; a silent finite value fails.

Cases per contract name (spec §6 SPARSE-LABEL-RANGE, CN-GATHER-RANGE, and the
channel-count and shape requirements of §3-§5): out-of-range sparse labels,
out-of-range gather indices, wrong channel counts (not 8A, 2A, 8C; ``decode`` /
``loss_layer`` conv not A*(5+N)), and shapes that do not match (chosen so that
they cannot broadcast, except where the contract's own slicing makes a wrong
size broadcast silently).  Each case names the argument that is wrong; the
float64 oracle raises ``ValueError`` naming it (tests/test_badinput.py).

Adding a loss: add its cases to :data:`CASES`.  A name without cases is reported
"skipped".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from conformance.checks.value import ConformanceFailure, _as_tuple, _fail
from conformance.contracts import Contract
from conformance.reporting.results import CheckResult
from conformance.runners.tf import Runner, prepare


@dataclass(frozen=True)
class BadCase:
    """One bad input: an id, the argument that is wrong, and the example (a valid one with that argument broken)."""

    id: str
    arg: str
    make: Callable[[], dict]


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _p(*shape: int) -> np.ndarray:
    return _rng().uniform(0.05, 0.95, shape)


def _x(*shape: int) -> np.ndarray:
    return _rng().normal(size=shape)


def _mask(*shape: int) -> np.ndarray:
    return (np.arange(int(np.prod(shape))).reshape(shape) % 2).astype(np.float64)


# --- nn --------------------------------------------------------------------------------------------------------

def _sparse(labels: np.ndarray) -> Callable[[], dict]:
    return lambda: {"labels": labels, "logits": _x(2, 3)}


def _pair(a: str, b: str, gen_a: Callable, gen_b: Callable, **extra) -> Callable[[], dict]:
    return lambda: {a: gen_a(2, 3), b: gen_b(2, 4), **extra}


NN_CASES: dict[str, list[BadCase]] = {
    "sparse_softmax_cross_entropy_with_logits": [
        BadCase("label-equals-C", "labels", _sparse(np.array([0, 3]))),
        BadCase("label-negative", "labels", _sparse(np.array([-1, 2]))),
        BadCase("labels-shape", "labels", _sparse(np.array([0, 1, 2]))),
    ],
    "sigmoid_cross_entropy_with_logits": [BadCase("shape-mismatch", "labels", _pair("logits", "labels", _x, _p))],
    "weighted_cross_entropy_with_logits": [
        BadCase("shape-mismatch", "labels", _pair("logits", "labels", _x, _p, pos_weight=2.0))],
    "softmax_cross_entropy_with_logits": [
        BadCase("classes-mismatch", "labels", lambda: {"logits": _x(2, 3), "labels": np.eye(4)[[0, 1]], "axis": -1})],
    "binary_crossentropy": [BadCase("shape-mismatch", "output", _pair("target", "output", _p, _p))],
    "categorical_crossentropy": [BadCase("classes-mismatch", "output",
                                         lambda: {"target": np.eye(3)[[0, 1]], "output": _p(2, 4), "axis": -1})],
    "kl_divergence": [BadCase("shape-mismatch", "q", lambda: {"p": _p(2, 3), "q": _p(2, 4), "axis": -1})],
}

# --- frcnn -----------------------------------------------------------------------------------------------------


def _rpn_regr(a: int, true_ch: int, pred_ch: int, hw_pred: tuple[int, int] = (3, 4)) -> Callable[[], dict]:
    def make() -> dict:
        m = _mask(2, 3, 4, true_ch // 2)
        t = _x(2, 3, 4, true_ch - true_ch // 2)
        return {"num_anchors": a, "y_true": np.concatenate([m, t], -1), "y_pred": _x(2, *hw_pred, pred_ch)}
    return make


def _rpn_cls(a: int, true_ch: int, pred_ch: int, hw_pred: tuple[int, int] = (3, 4)) -> Callable[[], dict]:
    return lambda: {"num_anchors": a, "y_true": _mask(2, 3, 4, true_ch), "y_pred": _p(2, *hw_pred, pred_ch)}


def _cls_regr(c: int, true_ch: int, pred_ch: int, r_pred: int = 5) -> Callable[[], dict]:
    def make() -> dict:
        m = _mask(2, 5, true_ch // 2)
        t = _x(2, 5, true_ch - true_ch // 2)
        return {"num_classes": c, "y_true": np.concatenate([m, t], -1), "y_pred": _x(2, r_pred, pred_ch)}
    return make


FRCNN_CASES: dict[str, list[BadCase]] = {
    "rpn_loss_regr": [
        BadCase("y_true-channels-8A+4", "y_true", _rpn_regr(2, 20, 8)),
        BadCase("y_true-channels-8A-4", "y_true", _rpn_regr(2, 12, 8)),
        BadCase("y_pred-channels", "y_pred", _rpn_regr(2, 16, 12)),
        BadCase("y_pred-spatial-mismatch", "y_pred", _rpn_regr(2, 16, 8, (2, 4))),
    ],
    "rpn_loss_cls": [
        BadCase("y_true-channels-2A+1", "y_true", _rpn_cls(2, 5, 2)),
        BadCase("y_pred-channels", "y_pred", _rpn_cls(2, 4, 3)),
        BadCase("y_pred-spatial-mismatch", "y_pred", _rpn_cls(2, 4, 2, (2, 4))),
    ],
    "class_loss_regr": [
        BadCase("y_true-channels-8C+4", "y_true", _cls_regr(2, 20, 8)),
        BadCase("y_pred-channels", "y_pred", _cls_regr(2, 16, 12)),
        BadCase("y_pred-rois-mismatch", "y_pred", _cls_regr(2, 16, 8, 3)),
    ],
    "class_loss_cls": [
        BadCase("classes-mismatch", "y_pred", lambda: {"y_true": np.eye(3)[[[0, 1, 2, 0]]], "y_pred": _p(1, 4, 4)}),
        BadCase("rois-mismatch", "y_pred", lambda: {"y_true": np.eye(3)[[[0, 1, 2, 0]]], "y_pred": _p(1, 3, 3)}),
    ],
}

# --- yolov3 ----------------------------------------------------------------------------------------------------


def _decode(channels: int) -> Callable[[], dict]:
    return lambda: {"conv_output": _x(1, 2, 2, channels), "anchors": np.ones((2, 2)), "stride": 8, "num_class": 2}


def _layer(conv_ch: int = 14, label_last: int = 7, m_last: int = 4) -> dict:
    b, s, a, n = 1, 2, 2, 2
    label = np.concatenate([np.full((b, s, s, a, 2), 4.0), np.full((b, s, s, a, 2), 6.0), _mask(b, s, s, a, 1),
                            _p(b, s, s, a, label_last - 5)], -1)
    return {"conv": _x(b, s, s, conv_ch), "label": label, "bboxes": np.full((b, 3, m_last), 5.0),
            "anchors": np.ones((a, 2)), "stride": 8, "num_class": n, "iou_loss_thresh": 0.5}


def _compute(conv_ch: int = 14) -> dict:
    scales = [_layer() for _ in range(3)]
    convs = [x["conv"] for x in scales]
    convs[1] = _x(1, 2, 2, conv_ch)
    return {"convs": convs, "labels": [x["label"] for x in scales], "bboxes": [x["bboxes"] for x in scales],
            "anchors": np.ones((3, 2, 2)), "strides": np.array([8.0, 16.0, 32.0]), "num_class": 2,
            "iou_loss_thresh": 0.5}


def _boxes(shape1: tuple[int, ...], shape2: tuple[int, ...]) -> Callable[[], dict]:
    return lambda: {"boxes1": np.abs(_x(*shape1)) + 1.0, "boxes2": np.abs(_x(*shape2)) + 1.0}


_BOX_CASES = [
    BadCase("boxes1-3-coordinates", "boxes1", _boxes((3, 3), (3, 4))),
    BadCase("leading-shape-mismatch", "boxes2", _boxes((3, 4), (4, 4))),
]

YOLO_CASES: dict[str, list[BadCase]] = {
    "decode": [BadCase("conv-channels-A*(5+N)+1", "conv_output", _decode(15)),
               BadCase("conv-channels-A*(5+N)-1", "conv_output", _decode(13))],
    **{n: list(_BOX_CASES) for n in ("bbox_iou", "bbox_giou", "iou_loss", "giou_loss")},
    "focal": [BadCase("shape-mismatch", "actual", lambda: {"target": _mask(2, 3), "actual": _p(2, 4), "alpha": 1,
                                                           "gamma": 2})],
    "loss_layer": [BadCase("conv-channels-A*(5+N)+2", "conv", lambda: _layer(conv_ch=16)),
                   BadCase("label-classes", "label", lambda: _layer(label_last=8)),
                   BadCase("bboxes-coordinates", "bboxes", lambda: _layer(m_last=5))],
    "compute_loss": [BadCase("conv-channels-A*(5+N)+2", "convs", lambda: _compute(16))],
}

# --- centernet -------------------------------------------------------------------------------------------------


def _reg(indices: np.ndarray, channels: int = 2, mask_k: int = 3) -> Callable[[], dict]:
    return lambda: {"y_pred": _x(2, 2, 3, channels), "y_true": _x(2, 3, 2), "indices": indices,
                    "mask": np.ones((2, mask_k))}


def _cn_loss(indices: np.ndarray) -> Callable[[], dict]:
    def make() -> dict:
        hm_true = np.zeros((2, 2, 3, 2))
        hm_true[:, 0, 0, 0] = 1.0
        return {"hm_pred": _p(2, 2, 3, 2), "wh_pred": np.abs(_x(2, 2, 3, 2)) * 10, "reg_pred": _p(2, 2, 3, 2),
                "hm_true": hm_true, "wh_true": np.abs(_x(2, 3, 2)) * 10, "reg_true": _p(2, 3, 2),
                "reg_mask": np.ones((2, 3)), "indices": indices}
    return make


_IDX_OK = np.array([[0, 1, 5], [2, 3, 4]])
_IDX_HIGH = np.array([[0, 1, 6], [2, 3, 4]])  # H*W = 6
_IDX_NEG = np.array([[0, 1, 5], [-1, 3, 4]])

CN_CASES: dict[str, list[BadCase]] = {
    "reg_l1_loss": [BadCase("index-equals-HW", "indices", _reg(_IDX_HIGH)),
                    BadCase("index-negative", "indices", _reg(_IDX_NEG)),
                    BadCase("y_pred-channels-3", "y_pred", _reg(_IDX_OK, channels=3)),
                    BadCase("mask-shape", "mask", _reg(_IDX_OK, mask_k=4))],
    "loss": [BadCase("index-equals-HW", "indices", _cn_loss(_IDX_HIGH)),
             BadCase("index-negative", "indices", _cn_loss(_IDX_NEG))],
    "focal_loss": [BadCase("shape-mismatch", "hm_true",
                           lambda: {"hm_pred": _p(1, 2, 3, 2), "hm_true": _p(1, 2, 3, 3)})],
}

CASES: dict[str, list[BadCase]] = {**NN_CASES, **FRCNN_CASES, **YOLO_CASES, **CN_CASES}


def cases_for(name: str) -> list[BadCase]:
    """The bad-input cases of contract ``name`` (empty when it has none)."""
    return CASES.get(name, [])


def judge(contract: Contract, runner: Runner, case: BadCase, dtype: str) -> tuple[bool, str]:
    """(conforming, what happened) for one case: raising or any NaN conforms, a finite output does not."""
    _, args = prepare(contract, case.make(), dtype)
    try:
        out = runner.value(args)
    except Exception as exc:  # any exception conforms
        return True, f"raised {type(exc).__name__}"
    values = np.concatenate([np.ravel(np.asarray(o, dtype=np.float64)) for o in _as_tuple(out)])
    if np.any(np.isnan(values)):
        return True, "returned NaN"
    return False, f"returned a finite value {values.tolist()[:4]!r} (bad argument: {case.arg})"


def run_badinput(contract: Contract, runner: Runner, result: CheckResult, dtype: str, impl_name: str) -> CheckResult:
    """Judge every case of ``contract``; set ``result`` (passed / skipped) or raise ConformanceFailure."""
    cases = cases_for(contract.name)
    if not cases:
        result.status = "skipped"
        result.message = f"{contract.name}: no bad-input cases (no index, label or channel-count argument)"
        return result
    bad = []
    outcomes = {}
    for case in cases:
        ok, what = judge(contract, runner, case, dtype)
        outcomes[case.id] = what
        result.examples += 1
        if not ok:
            bad.append((case, what))
    result.extra["cases"] = outcomes
    if bad:
        result.status = "failed"
        lines = [f"{contract.name}: {len(bad)} / {len(cases)} bad input(s) gave a silent finite value "
                 "(a conforming implementation raises or returns NaN):"]
        lines += [f"  {c.id}: {what}" for c, what in bad]
        result.message = "\n".join(lines)
        try:
            first, _ = bad[0]
            ex, _ = prepare(contract, first.make(), dtype)
            _fail(result.message, contract, ex, dtype, runner.mode, impl_name, "badinput")
        except ConformanceFailure as exc:
            exc.conformance_result = result
            raise
    else:
        result.message = "; ".join(f"{k}: {v}" for k, v in outcomes.items())
    return result
