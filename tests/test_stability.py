"""The stability tier on the reference, the documents' code and naive mutants (float32, eager)."""

from __future__ import annotations

import numpy as np
import pytest
import stability_mutants as mut
from hypothesis import Phase, given, settings

from conformance.checks import stability
from conformance.checks.engine import HEALTH, run_check
from conformance.checks.failure import ConformanceFailure
from conformance.contracts import REGISTRY
from conformance.targets import documents_adapter, reference

FEW = settings(max_examples=8, derandomize=True, database=None, deadline=None, suppress_health_check=HEALTH)

REFERENCE_PASS = ("sigmoid", "softmax", "sigmoid_cross_entropy_with_logits", "softmax_cross_entropy_with_logits",
                  "sparse_softmax_cross_entropy_with_logits", "binary_crossentropy", "rpn_loss_cls",
                  "focal_loss", "reg_l1_loss")


def _run(name: str, impl, impl_name: str, **kw):
    return run_check(REGISTRY[name], "stability", impl, impl_name, "float32", "eager", hypothesis_settings=FEW, **kw)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_name_has_an_adversarial_strategy(name):
    @FEW
    @given(REGISTRY[name].adversarial("float32"))
    def draws_every_float_argument(ex: dict) -> None:
        assert set(REGISTRY[name].float_args) <= set(ex)

    draws_every_float_argument()


@pytest.mark.parametrize("name", REFERENCE_PASS)
def test_reference_passes(name):
    assert _run(name, reference, "reference").status == "passed"


def test_reference_box_hazard_is_zero_union():
    r = _run("bbox_iou", reference, "reference")
    assert r.status == "hazard"
    assert set(r.extra["hazards"]) <= {"YOLO-ZERO-UNION", "GRADIENT-OF-HAZARD"}, r.message


def test_documents_show_zero_union_hazard():
    """The fixed identical zero-size boxes give 0/0; later, corners x -+ w/2 at x = 1e6 cancel (a failure)."""
    try:
        r = run_check(REGISTRY["bbox_giou"], "stability", documents_adapter, "documents_adapter", "float32", "eager",
                      hypothesis_settings=settings(FEW, phases=[Phase.explicit, Phase.generate]))
    except ConformanceFailure as exc:
        r = exc.conformance_result
    assert "YOLO-ZERO-UNION" in r.extra["hazards"], r.message
    assert "YOLO-ZERO-UNION" in r.message


def test_strict_hazards_fail():
    with pytest.raises(ConformanceFailure, match="strict-hazards"):
        _run("bbox_iou", reference, "reference", strict_hazards=True)


@pytest.mark.parametrize("impl, name", [(mut.NAIVE_SIGMOID_CE, "sigmoid_cross_entropy_with_logits"),
                                        (mut.NAIVE_SOFTMAX_CE, "softmax_cross_entropy_with_logits")])
def test_naive_cross_entropy_fails(impl, name):
    with pytest.raises(ConformanceFailure, match="Stability failure") as info:
        _run(name, impl, "naive")
    assert info.value.conformance_result.status == "failed"


def test_where_nan_gradient_trap_fails():
    with pytest.raises(ConformanceFailure, match="gradient of sigmoid_cross_entropy_with_logits"):
        _run("sigmoid_cross_entropy_with_logits", mut.WHERE_TRAP_SIGMOID_CE, "where-trap")


def test_decode_exp_overflow_is_a_hazard_not_a_failure():
    r = run_check(REGISTRY["decode"], "stability", reference, "reference", "float32", "eager",
                  hypothesis_settings=settings(FEW, max_examples=1))
    assert r.status == "hazard" and "YOLO-EXP-OVERFLOW" in r.extra["hazards"], r.message


def test_decode_product_underflow_follows_the_documents_order():
    """e^{raw} normal, e^{raw} · anchor below the smallest normal, and σ(raw_y) subnormal: TensorFlow flushes them to 0
    (so does the reference) where the exact w and y are well above the tolerance; 0 is accepted, the exact value too."""
    from conformance.contracts import yolov3_numerics as num

    ex = REGISTRY["decode"].stability_cases("float32")[1]
    exact = REGISTRY["decode"].expected(ex)
    alt, _ = num.rounded_intermediate("decode", ex, "float32")
    got = np.asarray(reference.decode(ex["conv_output"].astype(np.float32), ex["anchors"], 128, 1))
    for element in ((0, 0, 0, 0, 1), (0, 0, 0, 0, 2)):  # y = σ(raw_y) · stride, w = e^{raw_w} · anchor · stride
        assert exact[element] > 16 * np.finfo(np.float32).tiny and alt[element] == 0.0 and got[element] == 0.0


def test_cce_rows_near_a_clip_bound_accept_either_side():
    """class_loss_cls: q = 1 / (1 + 6.1e-8) is clipped in float64 (exact gradient 0) and lands on the bound in
    float32 (TensorFlow passes the gradient there); the row is near a kink, so the reference passes."""
    from conformance.contracts.cce_numerics import near_bounds

    ex = REGISTRY["class_loss_cls"].stability_cases("float32")[0]
    assert near_bounds(ex["y_true"], ex["y_pred"], -1, "float32").all()
    assert not near_bounds(ex["y_true"], ex["y_pred"], -1, "float64").any()
    assert not near_bounds(np.eye(3), np.full((3, 3), 1 / 3), -1, "float32").any()
    r = run_check(REGISTRY["class_loss_cls"], "stability", reference, "reference", "float32", "eager",
                  hypothesis_settings=settings(FEW, max_examples=1))
    assert r.status in ("passed", "hazard"), r.message


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float32"])
def test_cce_gradient_that_cancels_to_zero_is_judged_by_its_terms(dtype):
    """target = output: the exact gradient is 0 and the dtype's is rounding residue; the tolerance scales with the
    terms that cancel (|c|·(t/p + Σt/Σp)), so the reference passes and dropping the Σt/Σp term still fails."""
    import mutants
    import tensorflow as tf

    from conformance.numerics.tolerance import Tolerance

    c = REGISTRY["categorical_crossentropy"]
    ex = c.stability_cases(dtype)[0]
    one = settings(FEW, max_examples=1)
    r = run_check(c, "stability", reference, "reference", dtype, "eager", hypothesis_settings=one)
    assert r.status == "passed", r.message
    if dtype == "bfloat16":  # the case is not idle: the residue exceeds what a scale of |g| + max|g| allows
        x = tf.Variable(tf.constant(ex["output"], tf.bfloat16))
        with tf.GradientTape() as tape:
            y = reference.categorical_crossentropy(tf.constant(ex["target"], tf.bfloat16), x)
        g = np.asarray(tf.cast(tape.gradient(y, x), tf.float64))
        exact = c.expected_vjp(ex, np.ones(y.shape), "output", convention="keras-ops", constants_dtype=dtype)
        default = Tolerance(terms=c.tolerance.terms).for_grad(ex, "output", exact, np.ones(y.shape), dtype)
        assert np.max(np.abs(g - exact) - default) > 0
    if dtype == "float16":  # ε_k is subnormal in float16: the stability tier judges finiteness only (rounded
        return              # intermediates); the gradient tier catches m05 there
    with pytest.raises(AssertionError):
        run_check(c, "stability", mutants.load("m05_cce_stop_gradient_normaliser"), "m05", dtype, "eager",
                  hypothesis_settings=one)


def test_classify_rules():
    a = np.array([1.0, np.inf, np.nan, np.inf, 2.0])
    e = np.array([1.0, 5.0, np.nan, 1e39, 3.0])
    c = stability.classify(a, e, np.full(5, 1e-6), "float32", "v")
    assert c.failure.tolist() == [False, True, False, False, True]
    assert c.hazards["UNDEFINED"].tolist() == [False, False, True, False, False]
    assert c.hazards["OVERFLOW"].tolist() == [False, False, False, True, False]
    # a non-finite rounded intermediate turns the finite-exact inf into a hazard with the intermediate's id
    c = stability.classify(a, e, np.full(5, 1e-6), "float32", "v", alt=np.array([1.0, np.inf, 0, 0, 3.0]),
                           alt_id="YOLO-EXP-OVERFLOW")
    assert c.failure.tolist() == [False, False, False, False, True]
    assert c.hazards["YOLO-EXP-OVERFLOW"].tolist() == [False, True, False, False, False]


def test_diagnosis_names_eps_once_and_still_fails():
    """diagnose() names the oracle variant an output matches; the check still fails (never a pass)."""
    with pytest.raises(ConformanceFailure) as info:
        run_check(REGISTRY["rpn_loss_regr"], "value", mut.EPS_ONCE, "eps-once", "float32", "eager",
                  hypothesis_settings=settings(FEW, phases=[Phase.explicit, Phase.generate]))
    r = info.value.conformance_result
    assert r.status == "failed"
    assert r.diagnosis is not None and "EPS-ONCE" in r.diagnosis, r.message
    assert "Diagnosis: rpn_loss_regr matches EPS-ONCE" in r.message


# Keras' legacy binary_crossentropy (convention keras-legacy, −t·log(P + ε_k)) at p = 2⁻⁶: its derivative
# −1/(p + ε_k) differs from keras-ops' −1/p by ε_k/p = 6.4e-6 relative, above float32's gradient tolerance, while
# both conventions' values are within the value tolerance (found with the dev profile, --hypothesis-seed=202).
_LEGACY_TIE = {"target": np.array([[0, 1, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0]], dtype=np.float64),
               "output": np.array([[0, 0.015625, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0]], dtype=np.float64)}


def _legacy_tie_run(monkeypatch=None, only=None):
    import dataclasses

    from hypothesis import strategies as st

    tf_keras_backend = pytest.importorskip("conformance.targets.tf_keras_backend")
    c = REGISTRY["binary_crossentropy"]
    case = dataclasses.replace(c, adversarial=lambda dtype: st.just(dict(_LEGACY_TIE)),
                               stability_cases=lambda dtype: [])
    if only is not None:
        keywords = type(c).oracle_keywords
        monkeypatch.setattr(type(c), "oracle_keywords",
                            lambda self, dtype: {only: keywords(self, dtype)[only]})
    return run_check(case, "stability", tf_keras_backend, "tf_keras_backend", "float32", "eager",
                     hypothesis_settings=settings(FEW, phases=[Phase.generate], max_examples=4))


def test_stability_judges_gradients_under_every_convention_the_value_admits():
    assert _legacy_tie_run().status in ("passed", "hazard")


def test_legacy_tie_gradient_fails_against_keras_ops_alone(monkeypatch):
    """The case has teeth: judged by keras-ops' convention alone (the old tie rule), the legacy gradient fails."""
    with pytest.raises(ConformanceFailure, match="gradient of binary_crossentropy"):
        _legacy_tie_run(monkeypatch, only="keras-ops")
