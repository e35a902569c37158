"""The reference in float16, bfloat16 and float64 and in function and xla modes (a few names per family);
tracing once per shape and configuration; impls that cannot trace or compile are reported with TensorFlow's text."""

from __future__ import annotations

import types

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import Phase, settings

from conformance.checks import stability
from conformance.checks.engine import HEALTH, run_check
from conformance.checks.failure import ConformanceFailure
from conformance.checks.value import check_gradient
from conformance.contracts import REGISTRY
from conformance.numerics.tolerance import in_range
from conformance.reporting.results import CheckResult, Recorder
from conformance.runners.tf import ModeError, Runner, prepare
from conformance.targets import reference

FEW = settings(max_examples=4, derandomize=True, database=None, deadline=None, suppress_health_check=HEALTH,
               phases=[Phase.explicit, Phase.generate])

# one or two names per family: FP16-CLIP constants (binary_crossentropy, rpn_loss_cls, loss), boxes near the
# float16 range (bbox_giou), a gradient that overflowed float16 intermediates (kl_divergence)
DTYPE_CASES = [
    ("kl_divergence", ("value", "gradient", "stability")),
    ("binary_crossentropy", ("value", "gradient", "stability")),
    ("rpn_loss_cls", ("value", "gradient")),
    ("bbox_giou", ("value", "gradient", "stability")),
    ("loss", ("value", "gradient", "badinput")),
]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
@pytest.mark.parametrize("name, categories", DTYPE_CASES, ids=[n for n, _ in DTYPE_CASES])
def test_reference_passes_in_dtype(name, categories, dtype):
    for category in categories:
        r = run_check(REGISTRY[name], category, reference, "reference", dtype, "eager", hypothesis_settings=FEW)
        assert r.status in (("passed", "hazard") if category == "stability" else ("passed",)), (category, r.message)


MODE_CASES = [
    ("softmax_cross_entropy_with_logits", ("value", "gradient")),
    ("class_loss_regr", ("value", "gradient")),
    ("decode", ("value", "gradient")),
    ("reg_l1_loss", ("value", "gradient", "badinput")),
]


@pytest.mark.parametrize("mode", ["function", "xla"])
@pytest.mark.parametrize("name, categories", MODE_CASES, ids=[n for n, _ in MODE_CASES])
def test_reference_passes_in_mode(name, categories, mode):
    for category in categories:
        r = run_check(REGISTRY[name], category, reference, "reference", "float32", mode, hypothesis_settings=FEW)
        assert r.status == "passed", (category, r.message)


def _stability_hazards(name: str, ex: dict, dtype: str, mode: str = "eager") -> dict[str, int]:
    """Judge one stability example of the reference directly; the hazard ids and counts (failures raise)."""
    contract = REGISTRY[name]
    log = stability.HazardLog()
    result = CheckResult(name, contract.family, "stability", dtype, mode)
    stability.check_stability(contract, Runner(contract, getattr(reference, name), mode, reference), ex, 0, dtype,
                              Recorder(result), "reference", log)
    return log.counts


@pytest.mark.parametrize("mode", ["eager", "function", "xla"])
def test_float16_weighted_ce_survives_graph_reassociation(mode):
    """Grappler rewrites q·z·softplus(−x) as z·(q·softplus(−x)): 10·1e4 overflows float16, 0·inf = NaN."""
    ex = {"labels": np.array([0.0, 0.5]), "logits": np.array([-1e4, -1e4]), "pos_weight": 10.0}
    assert _stability_hazards("weighted_cross_entropy_with_logits", ex, "float16", mode) == {}


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_clip_constant_hazards_are_named_fp16_clip(dtype):
    """p = 1, t = 0: 1 − ε_k rounds to 1, so −log(1 − P) = inf, where the spec's constants give 16.1."""
    hazards = _stability_hazards("binary_crossentropy", {"target": np.array([0.0, 1.0, 0.5]),
                                                         "output": np.array([1.0, 1.0, 0.5])}, dtype)
    assert "FP16-CLIP" in hazards and "OVERFLOW" not in hazards and "UNDEFINED" not in hazards, hazards


def test_float16_range_hazards_are_dtype_range():
    big = np.array([[0.0, 0.0, 300.0, 300.0]])  # area 9e4 > 65504: inf/inf in float16
    assert "DTYPE-RANGE" in _stability_hazards("bbox_iou", {"boxes1": big, "boxes2": big.copy()}, "float16")
    y_true = np.concatenate([np.ones((1, 1, 4, 4)), np.full((1, 1, 4, 4), 1e4)], -1)
    ex = {"num_anchors": 1, "y_true": y_true, "y_pred": np.full((1, 1, 4, 4), -1e4)}  # Σ m·smooth_l1 = 3.2e5
    assert "DTYPE-RANGE" in _stability_hazards("rpn_loss_regr", ex, "float16")
    assert _stability_hazards("rpn_loss_regr", ex, "float32") == {}  # representable there: no hazard


def test_in_range_filters_what_float16_cannot_hold():
    big = {"boxes1": np.array([[0.0, 0.0, 300.0, 300.0]]), "boxes2": np.array([[1.0, 1.0, 2.0, 2.0]])}
    assert not in_range(REGISTRY["bbox_iou"], big, "float16")  # area 9e4 > 65504
    assert in_range(REGISTRY["bbox_iou"], big, "float32") and in_range(REGISTRY["bbox_iou"], big, "bfloat16")
    assert not in_range(REGISTRY["sigmoid"], {"x": np.array([7e4])}, "float16")  # the input itself rounds to inf
    assert in_range(REGISTRY["sigmoid"], {"x": np.array([6e4])}, "float16")
    conv = np.zeros((1, 1, 1, 6))
    conv[..., 2] = 12.0  # e^12 > 65504
    ex = {"conv_output": conv, "anchors": np.ones((1, 2)), "stride": 1, "num_class": 1}
    assert not in_range(REGISTRY["decode"], ex,
                        "float16")


# --- tracing -------------------------------------------------------------------------------------------------


def _counting(fn):
    """``fn`` recording the input shapes of every Python call (in function/xla mode: every trace)."""
    calls = []

    def wrapped(*args, **kwargs):
        shapes = tuple(tuple(a.shape) for a in (*args, *kwargs.values()) if hasattr(a, "shape"))
        config = tuple(sorted((k, v) for k, v in kwargs.items() if not hasattr(v, "shape")))
        calls.append((shapes, config) if config else shapes)
        return fn(*args, **kwargs)

    return wrapped, calls


@pytest.mark.parametrize("mode", ["function", "xla"])
def test_runner_traces_once_per_shape(mode):
    fn, calls = _counting(reference.sigmoid)
    runner = Runner(REGISTRY["sigmoid"], fn, mode)
    rng = np.random.default_rng(0)
    for shape in [(3,), (3,), (2, 4), (3,), (2, 4), (3,)]:
        _, args = prepare(REGISTRY["sigmoid"], {"x": rng.normal(size=shape)}, "float32")
        runner.value(args)
        runner.value_and_grad(args, tf.ones(shape))
    assert calls.count(((3,),)) == 2 and calls.count(((2, 4),)) == 2  # one value and one gradient trace each


def test_runner_traces_once_per_configuration():
    fn, calls = _counting(reference.rpn_loss_regr)
    runner = Runner(REGISTRY["rpn_loss_regr"], fn, "function")
    rng = np.random.default_rng(0)
    for a in (1, 1, 2, 1, 2):
        ex = {"num_anchors": a, "y_true": np.concatenate([np.ones((1, 2, 2, 4 * a)), rng.normal(size=(1, 2, 2, 4 * a))],
                                                         -1), "y_pred": rng.normal(size=(1, 2, 2, 4 * a))}
        runner.value(prepare(REGISTRY["rpn_loss_regr"], ex, "float32")[1])
    assert len(calls) == 2  # the closure is built once per num_anchors


def test_check_does_not_retrace_identical_signatures():
    fn, calls = _counting(reference.softmax)
    impl = types.SimpleNamespace(softmax=fn)
    r = run_check(REGISTRY["softmax"], "value", impl, "counting", "float32", "function",
                  hypothesis_settings=settings(FEW, max_examples=20))
    assert r.status == "passed" and r.examples >= 20
    # a trace per (shape, axis) signature, none traced twice, fewer traces than examples
    assert len(calls) == len(set(calls)) and len(calls) < r.examples


# --- impls that cannot trace or compile ----------------------------------------------------------------------


def _numpy_sigmoid(x):
    """Works eagerly; ``.numpy()`` has no value while tracing."""
    return tf.constant(1 / (1 + np.exp(-x.numpy())), dtype=x.dtype)


def _py_function_sigmoid(x):
    """Traces (tf.function runs the Python callback), but XLA cannot compile a py_function."""
    y = tf.numpy_function(lambda a: (1 / (1 + np.exp(-a))).astype(a.dtype), [x], x.dtype)
    return tf.reshape(y, tf.shape(x))


def _string_sigmoid(x):
    """A round trip through strings: traces, but XLA has no string kernels."""
    as_text = tf.strings.as_string(x, precision=9)
    return tf.sigmoid(tf.strings.to_number(as_text, out_type=x.dtype))


def _fail(impl, mode: str, category: str = "value") -> ConformanceFailure:
    with pytest.raises(ConformanceFailure) as info:
        run_check(REGISTRY["sigmoid"], category, types.SimpleNamespace(sigmoid=impl), "mode-test", "float32", mode,
                  hypothesis_settings=settings(FEW, max_examples=2))
    return info.value


def test_numpy_inside_cannot_trace_is_reported_with_tensorflows_message():
    exc = _fail(_numpy_sigmoid, "function")
    msg = str(exc)
    assert msg.startswith("sigmoid raised ModeError: sigmoid runs eagerly but cannot run under tf.function")
    assert "numpy" in msg and "AttributeError" in msg  # TensorFlow's own error text
    assert exc.conformance_result.status == "failed" and "tf.function" in exc.conformance_result.message
    # the same impl conforms eagerly: the failure is the mode's
    r = run_check(REGISTRY["sigmoid"], "value", types.SimpleNamespace(sigmoid=_numpy_sigmoid), "mode-test",
                  "float32", "eager", hypothesis_settings=settings(FEW, max_examples=2))
    assert r.status == "passed"


@pytest.mark.parametrize("impl, op", [(_py_function_sigmoid, "PyFunc"), (_string_sigmoid, "AsString")])
def test_op_xla_cannot_compile_is_reported_with_tensorflows_message(impl, op):
    msg = str(_fail(impl, "xla"))
    assert msg.startswith("sigmoid raised ModeError: sigmoid runs eagerly but cannot run under "
                          "tf.function(jit_compile=True) (mode xla)")
    assert "Detected unsupported operations" in msg and op in msg  # TensorFlow's own error text
    gmsg = str(_fail(impl, "xla", "gradient"))
    assert "sigmoid" in gmsg and op in gmsg
    r = run_check(REGISTRY["sigmoid"], "value", types.SimpleNamespace(sigmoid=impl), "mode-test", "float32",
                  "function", hypothesis_settings=settings(FEW, max_examples=2))
    assert r.status == "passed"  # traces fine without XLA


def test_mode_error_only_when_eager_succeeds():
    """An input that fails eagerly too keeps its own exception (bad input), not a ModeError."""
    runner = Runner(REGISTRY["sparse_softmax_cross_entropy_with_logits"],
                    reference.sparse_softmax_cross_entropy_with_logits, "function")
    _, args = prepare(REGISTRY["sparse_softmax_cross_entropy_with_logits"],
                      {"labels": np.array([0, 3]), "logits": np.zeros((2, 3))}, "float32")
    with pytest.raises(Exception) as info:
        runner.value(args)
    assert not isinstance(info.value, ModeError)


def test_float16_naive_sigmoid_ce_still_fails_stability():
    """The float16 range rules make formula-intrinsic overflow a hazard, not an unguarded formula's overflow."""
    import stability_mutants as mut

    with pytest.raises(ConformanceFailure, match="Stability failure"):
        run_check(REGISTRY["sigmoid_cross_entropy_with_logits"], "stability", mut.NAIVE_SIGMOID_CE, "naive",
                  "float16", "eager", hypothesis_settings=FEW)


@pytest.mark.parametrize("name", ["bbox_iou", "iou_loss", "bbox_giou", "giou_loss"])
def test_xla_box_gradient_with_tiny_union_passes(name):
    """A union of 2e-22 (float32): XLA turns TensorFlow's (−I/U)/U into −I/(U·U), U² = 0 and 0/0 = NaN."""
    contract = REGISTRY[name]
    ex = {"boxes1": np.array([[0.01, 0.0, 0.0, 0.0102]]), "boxes2": np.array([[0.01, 0.027, -2.2e-19, -1e-3]])}
    runner = Runner(contract, getattr(reference, name), "xla")
    result = CheckResult(name, contract.family, "gradient", "float32", "xla")
    check_gradient(contract, runner, ex, 0, "float32", Recorder(result), "reference")  # raises on a mismatch
    _, grads = runner.value_and_grad(prepare(contract, ex, "float32")[1], tf.ones([1]))
    assert all(np.all(np.isfinite(g)) for g in grads.values())
