"""The cross-entropies' and the heatmap focal loss's running error bounds (conformance.numerics.crossentropy_forms,
centernet_forms): sound for every form they
admit, sound for TensorFlow's own kernels in the dtype, and sharp; values below the dtype's resolution drawn again.

Soundness is checked against arithmetic the bound does not share: each form evaluated step by step in the dtype
(NumPy, ml_dtypes: conformance.numerics.literal) and the bundled reference run by TensorFlow in the dtype, on the
contracts' own strategies (derandomized)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import tensorflow as tf
import unlisted_crossentropy_forms
from helpers import strategy_draws
from hypothesis import HealthCheck, assume, given, settings

from conformance.contracts import REGISTRY
from conformance.numerics import arithmetic, crossentropy_forms, form_bounds, literal
from conformance.numerics.crossentropy_forms import FORMS
from conformance.numerics.dtypes import round_to
from conformance.numerics.forms import FORMS as ALL_FORMS
from conformance.numerics.tolerance import below_resolution, bgd_margin, clip_overflows, round_example
from conformance.reporting.results import CheckResult
from conformance.reporting.terminal import render_summary
from conformance.runners import probe
from conformance.runners import tf as tf_runner
from conformance.targets import reference

NAMES = (*FORMS, "focal_loss", "reg_l1_loss", "loss", "rpn_loss_cls", "loss_layer", "compute_loss")
# their reference is built by a factory or takes a derived argument: checked through the suite instead
VIA_SUITE = ("loss", "rpn_loss_cls", "loss_layer", "compute_loss")


@pytest.fixture
def measured(request):
    """TensorFlow eager's arithmetic as the suite measures it: its reductions, and each kernel's error over every
    input of the dtype (per range of inputs: the bounds charge a kernel its largest error where its input lies)."""
    dtype = request.node.callspec.params["dtype"]
    a = probe.ensure("tf", "eager", dtype)
    assert a.profiles and a.kernels["softplus"] >= 1.0
    yield dtype
    arithmetic.reset()


def _forms(name: str, ex: dict, dtype: str, how: str | None = None) -> list[np.ndarray]:
    """Each form evaluated step by step in ``how`` (the dtype by default; float32 for the mixed-precision
    pattern), its result rounded to ``dtype``."""
    floats, others, forms = ALL_FORMS[name]
    d = literal._In(how or dtype)
    if any(isinstance(ex[k], list) for k in floats):  # a sequence of arrays, one per scale
        arrays = [[d.a(x) for x in ex[k]] for k in floats]
    else:
        arrays = np.broadcast_arrays(*(d.a(ex[k]) for k in floats))
    with np.errstate(all="ignore"):
        return [round_to(dtype, np.asarray(f(d, *arrays, *[ex.get(k) for k in others]), dtype=np.float64))
                for f in forms]


def _reference(name: str, ex: dict, dtype: str) -> np.ndarray:
    c, t = REGISTRY[name], getattr(tf, dtype)
    args = {k: tf.constant(v, t) if k in c.float_args else v for k, v in ex.items()}
    args = {k: (int(v) if k == "axis" else v) for k, v in args.items()}
    return np.asarray(tf.cast(getattr(reference, name)(**args), tf.float64))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("name", NAMES)
def test_bound_holds_for_every_form_and_tensorflow_and_is_sharp(name, dtype, measured):
    """Every form in the dtype within the bound of the exact value (for the convention it computes: the smallest
    distance over the oracle's conventions), the reference in TensorFlow within FORM times it; the largest error
    reaches a good fraction of the bound (the medians the checks reach: tests/test_sharpness.py)."""
    c = REGISTRY[name]
    worst, judged = [0.0], [0]

    @settings(max_examples=60, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(c.strategy())
    def run(ex):
        r = round_example(c, ex, dtype)
        assume(not clip_overflows(c, r, dtype))  # the clip constants' hazard in the dtype: not judged (as the checks)
        with np.errstate(all="ignore"):
            es = [np.asarray(c.expected(r, **kw), dtype=np.float64) for kw in c.oracle_keywords(dtype).values()]
        rad = form_bounds.value_bound(name, r, dtype, arithmetic.current(dtype).kernels)
        ok = np.isfinite(es[0])
        judged[0] += bool(np.any(ok & np.isfinite(rad) & (rad > 0)))
        for got in _forms(name, r, dtype) + _forms(name, r, dtype, "float32"):
            with np.errstate(invalid="ignore"):
                err = np.min([np.abs(got - e) for e in es], axis=0)
            sel = ok & np.isfinite(got)
            assert np.all(err[sel] <= rad[sel]), (name, r, got, es[0], rad)
            with np.errstate(invalid="ignore", divide="ignore"):  # rad 0: an exact result, err 0 there
                worst[0] = max(worst[0], float(np.max(np.where(rad[sel] > 0, err[sel] / rad[sel], 0), initial=0)))
        if name not in VIA_SUITE:
            got = _reference(name, r, dtype)
            with np.errstate(invalid="ignore"):
                err = np.min([np.abs(got - e) for e in es], axis=0)
            assert np.all(err[ok] <= arithmetic.FORM * rad[ok]), (name, r, got, es[0], rad)

    run()
    if judged[0] < 5:  # float16: ε_k = 1e-7 and the heatmap's 1e-6 lie below the smallest normal, so the bound is
        # infinite wherever a clip may bind (the model's tolerance applies there); the draws may hold few others
        assert dtype == "float16" and name in ("rpn_loss_cls", "focal_loss", "loss"), (name, dtype, judged[0])
        return
    # a sum over a whole tensor charges every term's rounding at its worst (the focal loss: 1/40 reached; the
    # CenterNet total 0.047 on CI's draws)
    whole = name in ("focal_loss", "loss", "reg_l1_loss", "rpn_loss_cls", "loss_layer", "compute_loss")
    assert worst[0] > (0.02 if whole else 0.05), f"the largest error is {worst[0]:.2g} of the bound"


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("name", ["loss_layer", "compute_loss", *crossentropy_forms.TRACED])
def test_gradient_bound_holds_for_tensorflow_and_is_sharp(name, dtype, measured):
    """The traced gradients (the YOLOv3 loss with respect to ``conv``, every scale's for ``compute_loss``; the
    elementwise sigmoid cross-entropies), autodiffed by TensorFlow through the bundled reference in the dtype, lie
    within FORM times the running bound of the exact VJP away from kinks (where the checks do not compare); the
    largest error reaches a fraction of the bound."""
    c = REGISTRY[name]
    runner = tf_runner.Runner(c, getattr(reference, name), "eager", impl=reference)
    worst, judged = [0.0], [0]
    examples = 12 if name in ("loss_layer", "compute_loss") else 24  # elementwise: few elements per draw

    @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(c.strategy())
    def run(ex):
        r, args = tf_runner.prepare(c, ex, dtype)
        assume(c.margin is None or c.margin(r) > bgd_margin(dtype))  # a mask's threshold within rounding: not judged
        value = c.expected(r)
        rng = np.random.default_rng(judged[0])
        cots = [np.round(rng.uniform(-2, 2, np.shape(o)) * 4) / 4 for o in (value if isinstance(value, tuple) else
                                                                           (value,))]
        cot = tuple(cots) if isinstance(value, tuple) else cots[0]
        _, grads = runner.value_and_grad(args, cot)
        for k in c.grad_args:
            want = c.expected_vjp(r, cot, k)
            bound = form_bounds.grad_bound(name, r, k, cot, dtype, arithmetic.current(dtype).kernels)
            kinks = c.with_near_kinks(c.kinks(r, k), r, k, dtype)
            parts = zip(*(x if isinstance(x, (list, tuple)) else [x] for x in (grads[k], want, bound, kinks)),
                        strict=True)
            for g, w, b, kk in parts:
                err = np.abs(np.asarray(g, dtype=np.float64) - w)
                sel = np.isfinite(w) & np.isfinite(b) & (b > 0) & ~np.asarray(kk if kk is not None else False)
                judged[0] += int(np.sum(sel))
                assert np.all(err[sel] <= arithmetic.FORM * b[sel]), (name, k, r, g, w, b)
                worst[0] = max(worst[0], float(np.max(err[sel] / b[sel], initial=0.0)))

    run()
    assert judged[0] > 50 and worst[0] > 0.05, (judged[0], worst[0])


def _unlisted_errors(name: str, dtype: str, form: Any, n: int = 150) -> Iterator[tuple]:
    """(error, bound, example, inputs in the literal arithmetic) of ``form`` evaluated step by step in the dtype and
    in float32 rounded to the dtype, against the exact value, on ``n`` of the contract's strategy draws."""
    c = REGISTRY[name]
    for ex in (round_example(c, x, dtype) for x in strategy_draws(name, n)):
        with np.errstate(all="ignore"):
            e = np.asarray(c.expected(ex), dtype=np.float64)
            rad = form_bounds.value_bound(name, ex, dtype, arithmetic.current(dtype).kernels)
        for how in (dtype, "float32"):
            d = literal._In(how)
            z, x = np.broadcast_arrays(d.a(ex["labels"]), d.a(ex["logits"]))
            with np.errstate(all="ignore"):
                got = round_to(dtype, np.asarray(form(d, z, x, ex), dtype=np.float64))
            sel = np.isfinite(e) & np.isfinite(got) & np.isfinite(rad)
            yield np.abs(got - e)[sel], rad[sel], ex, (d, z[sel], x[sel])


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("form", list(unlisted_crossentropy_forms.SIGMOID_CE))
def test_unlisted_sigmoid_cross_entropy_forms_lie_within_form_times_the_bound(form, dtype, measured):
    """The sigmoid cross-entropy as other code writes it (tests/unlisted_crossentropy_forms.py), which the bound
    does not list, in the dtype and in float32 rounded to it: within FORM times the bound (measured: ≤ 0.77)."""
    def fn(d, z, x, ex):
        return unlisted_crossentropy_forms.SIGMOID_CE[form](d, z, x)

    for err, rad, ex, _ in _unlisted_errors("sigmoid_cross_entropy_with_logits", dtype, fn):
        assert np.all(err <= arithmetic.FORM * rad), (form, ex)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_mmdetection_focal_order_lies_within_form_times_the_bound_where_its_weight_is_normal(dtype, measured):
    """mmdetection's sigmoid focal loss forms the weight α_t·p_tᵞ first and multiplies the cross-entropy last: within
    FORM times the bound wherever that weight is a normal number of the dtype.  Where it is not (float16: α_t·p_tᵞ
    below 6.1e-5 while the loss itself is not), the weight is flushed or loses digits and the loss with it; the
    listed order (the cross-entropy times p_tᵞ, then α) keeps it, so such an element is a failure the
    implementation could avoid, not a hazard."""
    def form(d, z, x, ex):
        return unlisted_crossentropy_forms.mmdetection_focal(d, z, x, ex["alpha"], ex["gamma"])

    tiny, judged = float(np.finfo(np.float16).tiny) if dtype == "float16" else 2.0**-126, 0
    weight = unlisted_crossentropy_forms.mmdetection_weight
    for err, rad, ex, (d, z, x) in _unlisted_errors("sigmoid_focal_loss", dtype, form):
        with np.errstate(all="ignore"):
            w, exact = (np.abs(np.asarray(weight(a, a.a(z), a.a(x), ex["alpha"], ex["gamma"]), dtype=np.float64))
                        for a in (d, literal._In("float64")))
        normal = (w >= tiny) | (exact == 0)
        judged += int(np.sum(normal))
        assert np.all(err[normal] <= arithmetic.FORM * rad[normal]), ex
    assert judged > 500, judged


@pytest.mark.parametrize("dtype", ["bfloat16"])
def test_a_value_below_the_dtypes_resolution_is_drawn_again(dtype, measured):
    """bfloat16 BCE at t = 0, p = 0: P = ε_k, and 1 − ε_k rounds to 1, so the documents' log(1 − P) is 0 where the
    value is 1e-7: below resolution (the value tier draws another); p = 0.3 is judged; so is every float32 value."""
    c = REGISTRY["binary_crossentropy"]
    assert below_resolution(c, {"target": np.array([0.0, 0.0]), "output": np.array([0.0, 0.0])}, dtype)
    assert not below_resolution(c, {"target": np.array([0.0, 0.0]), "output": np.array([0.0, 0.3])}, dtype)
    assert not below_resolution(c, {"target": np.array([0.0]), "output": np.array([0.0])}, "float32")
    r = CheckResult("binary_crossentropy", "nn", "value", dtype, "eager", extra={"below_resolution": 6})
    assert ("value examples below the dtype's resolution (the formula's own rounding bound at least the value at "
            "every element), drawn again: binary_crossentropy (bfloat16: 6)") in render_summary([r], "x")


def test_an_element_beyond_resolution_in_a_judged_example_is_counted_apart():
    r = CheckResult("bbox_giou", "yolov3", "value", "bfloat16", "eager", extra={"wide": 1})
    lines = render_summary([r], "x")
    assert not any(line.startswith("only finiteness checked") for line in lines)
    assert ("elements judged for finiteness only (tolerance wider than the output's range; the rest of their example "
            "judged): bbox_giou (bfloat16 value: 1)") in lines
