"""The literal-formula rule: the documents' formulas in the dtype under test as the checks' third reference."""

from __future__ import annotations

import literal_documents as lit
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import settings

from conformance.checks.engine import HEALTH, run_check
from conformance.checks.failure import ConformanceFailure
from conformance.checks.value import check_gradient, check_value
from conformance.contracts import REGISTRY
from conformance.numerics import literal
from conformance.reporting.results import CheckResult, Recorder
from conformance.reporting.terminal import render_summary
from conformance.runners.tf import Runner

FEW = settings(max_examples=8, derandomize=True, database=None, deadline=None, suppress_health_check=HEALTH)
BOXES = ("bbox_iou", "bbox_giou", "iou_loss", "giou_loss", "diou_loss", "ciou_loss")
# The identical boxes (x, y, w, h) = (0, 1, 1, 1e-9): y ∓ h/2 = 1 ∓ 5e-10 both round to 1.0 in float32.
THIN = {"boxes1": np.array([[0.0, 1.0, 1.0, 1e-9]]), "boxes2": np.array([[0.0, 1.0, 1.0, 1e-9]])}


def _outcome(name: str, category: str, impl, dtype: str) -> CheckResult:
    try:
        return run_check(REGISTRY[name], category, impl, "literal_documents", dtype, "eager", hypothesis_settings=FEW)
    except ConformanceFailure as exc:
        return exc.conformance_result


# --- the rule on arrays -----------------------------------------------------------------------------------------------

def test_verdicts_same_better_worse():
    exact = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    lit_v = np.array([np.nan, np.nan, 0.5, 0.5, 0.5, 1.0])
    actual = np.array([np.nan, 1.0, 0.6, 0.2, np.inf, np.nan])
    tol = np.full(6, 1e-3)
    ok = np.abs(actual - exact) <= tol
    bad, same, better = literal.verdicts(actual, exact, lit_v, tol, ok)
    assert bad.tolist() == [True, True, True, True, True, False]
    assert same.tolist() == [True, False, True, False, False, False]  # inf/NaN only where the literal is inf/NaN
    assert better.tolist() == [False, True, False, False, False, False]


@pytest.mark.parametrize("name", BOXES)
def test_literal_box_formulas_agree_with_the_oracle_where_representable(name):
    rng = np.random.default_rng(7)
    b1, b2 = rng.uniform(-5, 5, (50, 4)), rng.uniform(-5, 5, (50, 4))
    b1[:, 2:], b2[:, 2:] = np.abs(b1[:, 2:]) + 0.5, np.abs(b2[:, 2:]) + 0.5
    ex = {"boxes1": b1.astype(np.float32).astype(np.float64), "boxes2": b2.astype(np.float32).astype(np.float64)}
    got = REGISTRY[name].literal(ex, "float32")
    import oracle

    np.testing.assert_allclose(got, oracle.evaluate(name, **ex), rtol=0, atol=2e-5)


def test_literal_giou_is_0_over_0_for_thin_identical_boxes():
    assert np.isnan(REGISTRY["bbox_giou"].literal(THIN, "float32")).all()
    assert REGISTRY["bbox_giou"].literal(THIN, "float64")[0] == 1.0
    assert REGISTRY["bbox_giou"].literal(THIN, "bfloat16").dtype == np.float64


# --- a faithful literal implementation: no failure, hazards with reasons ---------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_literal_target_has_no_stability_failure(dtype):
    seen = set()
    for name in lit.__all__:
        r = _outcome(name, "stability", lit, dtype)
        assert r.status in ("passed", "hazard"), f"{name}: {r.message}"
        seen |= set(r.extra.get("hazards", {}))
        if "LITERAL" in r.extra.get("hazards", {}):
            assert "the documents' formula evaluated in" in r.message and "box corners" in r.message, r.message
        if "GRADIENT-OF-HAZARD" in r.extra.get("hazards", {}):
            assert "(the value has hazard" in r.message or "(value element" in r.message, r.message
    if dtype == "float32":
        assert "LITERAL" in seen  # the rule was exercised, not just never reached


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("name", ["bbox_giou", "giou_loss", "diou_loss"])
@pytest.mark.parametrize("category", ["value", "gradient"])
def test_literal_target_boxes_pass_value_and_gradient(name, category, dtype):
    r = _outcome(name, category, lit, dtype)
    assert r.status in ("passed", "hazard"), r.message


@pytest.mark.parametrize("name", ["bbox_giou", "giou_loss"])
def test_thin_identical_boxes_are_a_literal_hazard_in_value_and_gradient(name):
    contract = REGISTRY[name]
    runner = Runner(contract, getattr(lit, name), "eager", lit)
    rv = CheckResult(name, "yolov3", "value", "float32", "eager")
    check_value(contract, runner, THIN, "float32", Recorder(rv), "literal_documents")
    assert rv.status == "hazard" and rv.extra["hazards"] == {"LITERAL": 1}
    assert "is 0/0 (NaN) here" in rv.message and "box corners x ∓ w/2" in rv.message
    assert rv.extra["finiteness_only"] == 1  # the tolerance there (~4e4) exceeds the whole range of the output
    rg = CheckResult(name, "yolov3", "gradient", "float32", "eager")
    check_gradient(contract, runner, THIN, 0, "float32", Recorder(rg), "literal_documents")
    # NaN gradients: a hazard, or not compared at all (identical boxes tie every corner: kinks)
    assert rg.status in ("passed", "hazard"), rg.message


def test_the_reference_is_credited_where_better_than_the_literal_formula():
    from conformance.targets import reference

    contract = REGISTRY["bbox_giou"]
    rv = CheckResult("bbox_giou", "yolov3", "value", "float32", "eager")
    check_value(contract, Runner(contract, reference.bbox_giou, "eager", reference), THIN, "float32", Recorder(rv),
                "reference")
    assert rv.status == "passed" and rv.extra["better_than_literal"] == 1


# --- worse than the literal formula still fails ----------------------------------------------------------------------

def _nan_for_identical(boxes1, boxes2):
    """bbox_giou that returns NaN for identical boxes, where the literal formula is finite (GIoU = 1)."""
    same = tf.reduce_all(tf.equal(boxes1, boxes2), axis=-1)
    g = lit.bbox_giou(boxes1, boxes2)
    return tf.where(same, tf.constant(np.nan, dtype=g.dtype), g)


WORSE = type("Worse", (), {"bbox_giou": staticmethod(_nan_for_identical)})


@pytest.mark.parametrize("category", ["stability", "value"])
def test_worse_than_literal_fails(category):
    with pytest.raises(ConformanceFailure) as info:
        run_check(REGISTRY["bbox_giou"], category, WORSE, "worse", "float32", "eager", hypothesis_settings=FEW)
    assert info.value.conformance_result.status == "failed"


# --- diou / ciou take w, h >= 0 ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["diou_loss", "ciou_loss"])
def test_diou_ciou_strategies_draw_non_negative_extents(name):
    c = REGISTRY[name]

    @settings(FEW, max_examples=30)
    @__import__("hypothesis").given(ex=c.strategy(), adv=c.adversarial("float32"))
    def check(ex, adv):
        for e in (ex, adv):
            assert (e["boxes1"][..., 2:] >= 0).all() and (e["boxes2"][..., 2:] >= 0).all()

    check()
    for ex in c.pinned() + c.stability_cases("float32"):
        assert (ex["boxes1"][..., 2:] >= 0).all() and (ex["boxes2"][..., 2:] >= 0).all()


# --- finiteness-only checks in the summary ----------------------------------------------------------------------------

def test_summary_counts_finiteness_only_checks():
    r = CheckResult("bbox_giou", "yolov3", "value", "float32", "eager", extra={"finiteness_only": 3})
    lines = render_summary([r, CheckResult("giou_loss", "yolov3", "value", "float32", "eager")], "x")
    assert "only finiteness checked (tolerance wider than the output's range) in 1 check(s)" in lines
    s = CheckResult("bbox_giou", "yolov3", "stability", "float32", "eager", extra={"finiteness_only": 2})
    lines = render_summary([s], "x")
    assert not any(line.startswith("only finiteness checked") for line in lines)
    assert any(line.startswith("stability: 1 check(s) had extreme examples") for line in lines)
    u = CheckResult("bbox_giou", "yolov3", "value", "bfloat16", "eager", extra={"unresolvable": 21})
    assert ("examples beyond the dtype's resolution (value tolerance wider than the output's range), drawn again: "
            "bbox_giou (bfloat16 value: 21)") in render_summary([u], "x")


# --- tolerances as large as the value ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("dtype", "accumulator", "coarse"),
                         [("bfloat16", "dtype", True), ("bfloat16", "float32", False), ("float32", "dtype", False)])
def test_value_sized_tolerance_is_counted(dtype, accumulator, coarse):
    """rpn_loss_regr sums thousands of terms: in bfloat16, charged as a sequential sum in the dtype (the worst case,
    --accumulate=dtype), the bound is several times the loss (0 and twice the value pass); charged as the float32
    accumulation the platforms do, and in float32, a small part of it. The result counts the first and the summary
    names it."""
    from conformance.contracts.frcnn import _pinned_rpn_regr
    from conformance.numerics import arithmetic
    from conformance.targets import reference

    contract = REGISTRY["rpn_loss_regr"]
    ex = _pinned_rpn_regr()[0]
    r = CheckResult("rpn_loss_regr", "frcnn", "value", dtype, "eager")
    try:
        arithmetic.use(arithmetic.Arithmetic(dtype, accumulator, "test"))
        check_value(contract, Runner(contract, reference.rpn_loss_regr, "eager", reference), ex, dtype, Recorder(r),
                    "reference")
    finally:
        arithmetic.reset()
    assert r.status == "passed", r.message
    assert bool(r.extra.get("coarse")) is coarse
    lines = render_summary([r], "x")
    assert any(line.startswith("value tolerance at least the value itself") and "rpn_loss_regr (bfloat16: 1 of 1)"
               in line for line in lines) is coarse


def test_coarse_and_finiteness_only_are_told_apart():
    from conformance.checks.value import count_loose_tolerance

    bounded, unbounded = REGISTRY["giou_loss"], REGISTRY["rpn_loss_regr"]
    r = CheckResult("x", "f", "value", "bfloat16", "eager")
    b = "bfloat16"
    count_loose_tolerance(bounded, Recorder(r), np.array([3.0, 2.5]), np.array([1.0, 0.5]), b)  # wider than [0, 2]
    count_loose_tolerance(bounded, Recorder(r), np.array([3.0, 0.1]), np.array([1.0, 0.5]), b)  # one element wider
    count_loose_tolerance(unbounded, Recorder(r), np.array([2.0, 1.0]), np.array([1.5, 0.0]), b)  # ≥ every value > 0
    count_loose_tolerance(unbounded, Recorder(r), np.array([2.0, 1.0]), np.array([1.5, 1.5]), b)  # one is judged
    count_loose_tolerance(unbounded, Recorder(r), np.array([2.0]), np.array([0.0]), b)  # the value 0: nothing to say
    count_loose_tolerance(unbounded, Recorder(r), np.array([1e-37]), np.array([1e-38]), b)  # below the absolute floor
    count_loose_tolerance(unbounded, Recorder(r), np.array([2.0]), np.array([1.0]))  # no dtype (stability): not told
    count_loose_tolerance(bounded, Recorder(r), np.array([3.0, 0.1]), np.array([np.nan, 0.5]), b)  # NaN: not compared
    assert r.extra == {"finiteness_only": 1, "wide": 1, "coarse": 1}


def test_an_example_beyond_the_dtypes_resolution_is_drawn_again():
    """Boxes at 50 with extents 0.05: bfloat16's corners are 0.25 apart, the GIoU tolerance exceeds [-1, 1] and any
    value in range would pass, so the value and gradient tiers draw another example; boxes near the origin relative
    to their size are judged; float32 resolves both; names without an output range are never discarded so."""
    from conformance.numerics.tolerance import unresolvable

    far = {"boxes1": np.array([[50.0, 50.0, 0.05, 0.05]]), "boxes2": np.array([[50.02, 50.0, 0.05, 0.05]])}
    near = {"boxes1": np.array([[1.0, 1.0, 2.0, 2.0]]), "boxes2": np.array([[1.5, 1.0, 2.0, 2.0]])}
    giou = REGISTRY["bbox_giou"]
    assert unresolvable(giou, far, "bfloat16")
    assert not unresolvable(giou, near, "bfloat16")
    assert not unresolvable(giou, far, "float32")
    assert not unresolvable(REGISTRY["bbox_iou"], far, "bfloat16")  # raw areas: no bounded range


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_examples_the_clip_constants_make_non_finite_are_drawn_again(dtype):
    """1 − 1e-7 rounds to 1 in float16 and bfloat16: an output of exactly 1 meets log(0) in the documents' form, and
    rpn_loss_cls's masked sum is NaN (0 · −∞). A value check there compares NaN with NaN and judges nothing (a λ = 2
    mistake passed every bfloat16 example so), so such an example is drawn again and counted; with the output at
    0.999 it is judged, and float32 (where 1 − 1e-7 < 1) judges both."""
    from conformance.numerics.tolerance import clip_overflows

    contract = REGISTRY["rpn_loss_cls"]
    y_true = np.zeros((1, 2, 2, 6))
    y_true[..., :3] = 1.0  # valid anchors, target 0
    y_pred = np.full((1, 2, 2, 3), 0.5)
    y_pred[0, 0, 0, 0] = 1.0
    ex = {"num_anchors": 3, "y_true": y_true, "y_pred": y_pred}
    assert clip_overflows(contract, ex, dtype)
    assert not clip_overflows(contract, ex, "float32")
    y_pred[0, 0, 0, 0] = 0.9
    assert not clip_overflows(contract, {**ex, "y_pred": y_pred}, dtype)
    assert not clip_overflows(REGISTRY["sigmoid"], {"x": np.ones(3)}, dtype)  # no clip constants
    r = CheckResult("rpn_loss_cls", "frcnn", "value", dtype, "eager", extra={"clip_overflow": 7})
    assert any(line.startswith("examples the clip constants make non-finite in the dtype") and
               f"rpn_loss_cls ({dtype} value: 7)" in line for line in render_summary([r], "x"))


def test_checks_that_judged_no_value_are_named():
    """A passing value or gradient check none of whose examples had an exact value above its tolerance (only NaN, 0 or
    values within rounding of 0) judged little beyond finiteness: the summary names it; a check with one such
    example, a failed one and a stability check are not named."""
    empty = CheckResult("bbox_iou", "yolov3", "gradient", "bfloat16", "eager", status="passed", examples=25)
    judged = CheckResult("iou_loss", "yolov3", "value", "bfloat16", "eager", status="passed", examples=25,
                         extra={"relative_examples": 1})
    failed = CheckResult("giou_loss", "yolov3", "value", "bfloat16", "eager", status="failed", examples=3)
    stab = CheckResult("diou_loss", "yolov3", "stability", "bfloat16", "eager", status="passed", examples=9)
    lines = [ln for ln in render_summary([empty, judged, failed, stab], "x")
             if ln.startswith("checks whose examples had no exact value above its tolerance")]
    assert len(lines) == 1 and lines[0].endswith(": bbox_iou (bfloat16 gradient)"), lines
