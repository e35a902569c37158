"""Declared expectations (``--expect``), the contract-signature message and the SCE-NAIVE diagnosis."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import stability_mutants as mut
from hypothesis import settings

from conformance import expectations
from conformance.checks.engine import HEALTH, run_check
from conformance.checks.failure import ConformanceFailure
from conformance.contracts import REGISTRY
from conformance.reporting.results import CheckResult
from conformance.targets import reference

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS_TOML = ROOT / "examples" / "expectations" / "documents.toml"
FEW = settings(max_examples=8, derandomize=True, database=None, deadline=None, suppress_health_check=HEALTH)
SCE = "sigmoid_cross_entropy_with_logits"


def run_pytest(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=600)


def outcomes(stdout: str) -> dict[str, int]:
    """pytest's final counts (``1 passed, 2 deselected, 1 xfailed``) as {outcome: n}, deselected left out."""
    last = [line for line in stdout.splitlines() if " in " in line and ("passed" in line or "failed" in line)][-1]
    found = {k: int(n) for n, k in re.findall(r"(\d+) (\w+)", last)}
    return {k: n for k, n in found.items() if k not in ("deselected", "warnings", "warning")}


def _load(tmp_path: Path, text: str) -> expectations.Expectations:
    f = tmp_path / "expect.toml"
    f.write_text(text)
    return expectations.load(f, REGISTRY, expectations.known_ids(REGISTRY.values()))


def _entry(name: str = SCE, category: str = "value", reason: str = "naive form", **more: str) -> str:
    lines = [f'name = "{name}"', f'category = "{category}"', f'reason = "{reason}"']
    lines += [f'{k} = "{v}"' for k, v in more.items()]
    return "[[expected]]\n" + "\n".join(lines) + "\n"


# --- the file: parsing and validation -------------------------------------------------------------------------------

def test_valid_file_loads_entries_in_order(tmp_path):
    e = _load(tmp_path, _entry() + _entry("rpn_loss_cls", "gradient", "swapped", divergence="FRCNN-SWAPPED-BCE"))
    assert [(x.index, x.name, x.category, x.divergence) for x in e.entries] == [
        (1, SCE, "value", None), (2, "rpn_loss_cls", "gradient", "FRCNN-SWAPPED-BCE")]


@pytest.mark.parametrize("text, problem", [
    (_entry("sigmoid_ce"), "entry 1: unknown contract name 'sigmoid_ce'"),
    (_entry() + _entry(category="values"), "entry 2: unknown category 'values'"),
    ('[[expected]]\nname = "smooth_l1"\ncategory = "value"\n', "entry 1: missing 'reason'"),
    (_entry(reason=" "), "entry 1: 'reason' must be a non-empty string"),
    (_entry(dtype="float16"), "entry 1: unknown key(s) 'dtype'"),
    (_entry(divergence="SCE-NAÏVE"), "entry 1: divergence 'SCE-NAÏVE' is not an id the suite can diagnose"),
    (_entry() + _entry(reason="again"), "entry 2: duplicates entry 1"),
    ('[[expect]]\nname = "smooth_l1"\n', "unknown top-level key(s) 'expect'"),
    ("[[expected]\n", "not valid TOML"),
])
def test_invalid_files_are_usage_errors_naming_file_entry_and_problem(tmp_path, text, problem):
    with pytest.raises(pytest.UsageError) as info:
        _load(tmp_path, text)
    assert str(tmp_path / "expect.toml") in str(info.value)
    assert problem in str(info.value)


def test_divergence_is_matched_as_a_whole_id():
    assert expectations.names_id("rpn_loss_cls matches FRCNN-SWAPPED-BCE + FRCNN-NORM-AXIS", "FRCNN-NORM-AXIS")
    assert not expectations.names_id("x matches SCE-NAIVE-2", "SCE-NAIVE")
    assert not expectations.names_id(None, "SCE-NAIVE")


# --- the pytest machinery, on synthetic reports ----------------------------------------------------------------------

def _report(results: list[CheckResult], outcome: str = "failed") -> pytest.TestReport:
    props = [("conformance_result", r.to_json()) for r in results]
    return pytest.TestReport("t::x", ("t", 0, "x"), {}, outcome, "longrepr", "call", user_properties=props)


def _failed(name: str = SCE, category: str = "value", diagnosis: str | None = None) -> CheckResult:
    return CheckResult(name, "nn", category, "float32", "eager", status="failed", message="it failed",
                       diagnosis=diagnosis)


def _carrying(result: CheckResult) -> ConformanceFailure:
    exc = ConformanceFailure(result.message)
    exc.conformance_result = result
    return exc


def test_matching_failure_becomes_xfail_with_expected_results(tmp_path):
    e = _load(tmp_path, _entry(divergence="SCE-NAIVE"))
    r = _failed(diagnosis=f"{SCE} matches SCE-NAIVE (inf/NaN ...)")
    rep = _report([r])
    e.apply_to_report(rep, _carrying(r))
    assert rep.skipped and "naive form" in rep.wasxfail
    out = CheckResult.from_json(rep.user_properties[0][1])
    assert out.status == "expected" and out.expectation.startswith("naive form [expect.toml, entry 1")


def test_divergence_mismatch_stays_failed(tmp_path):
    e = _load(tmp_path, _entry(divergence="SCE-NAIVE"))
    r = _failed(diagnosis=None)
    rep = _report([r])
    e.apply_to_report(rep, _carrying(r))
    assert rep.failed and not hasattr(rep, "wasxfail")
    assert CheckResult.from_json(rep.user_properties[0][1]).status == "failed"


def test_failure_the_results_do_not_explain_stays_failed(tmp_path):
    """A time-out (or any other exception) after a matching result was recorded is not an expected failure."""
    e = _load(tmp_path, _entry(category="regression"))
    r = _failed(category="regression")
    rep = _report([r])
    e.apply_to_report(rep, pytest.fail.Exception("Timeout (>60.0s) from pytest-timeout."))
    assert rep.failed
    rep = _report([r])
    e.apply_to_report(rep, pytest.fail.Exception("it failed"))  # the regression test's own pytest.fail
    assert rep.skipped


def test_one_unmatched_failure_keeps_the_test_failed(tmp_path):
    e = _load(tmp_path, _entry(category="regression"))
    rs = [_failed(category="regression"), _failed("smooth_l1", "regression")]
    rep = _report(rs)
    e.apply_to_report(rep, pytest.fail.Exception("it failed\n\nit failed"))
    assert rep.failed
    assert [CheckResult.from_json(v).status for _, v in rep.user_properties] == ["failed", "failed"]


def test_stale_entry_marks_passing_results_and_says_so(tmp_path):
    e = _load(tmp_path, _entry() + _entry("smooth_l1", "gradient", "never ran"))
    ok = CheckResult(SCE, "nn", "value", "float32", "eager", status="passed")
    lines = e.finish([ok])
    assert ok.status == "unexpectedly passing" and "remove or update" in ok.message
    assert len(lines) == 1 and "entry 1" in lines[0] and "unexpectedly passing" in lines[0]


def test_entry_matched_on_one_dtype_is_not_stale(tmp_path):
    e = _load(tmp_path, _entry())
    r32 = _failed()
    rep = _report([r32])
    e.apply_to_report(rep, _carrying(r32))
    r16 = CheckResult(SCE, "nn", "value", "float16", "eager", status="passed")
    assert e.finish([CheckResult.from_json(rep.user_properties[0][1]), r16]) == []
    assert r16.status == "passed"


# --- end to end ------------------------------------------------------------------------------------------------------

NAIVE_IMPL = """
import tensorflow as tf


def sigmoid_cross_entropy_with_logits(labels, logits):
    s = tf.sigmoid(logits)
    return -labels * tf.math.log(s) - (1 - labels) * tf.math.log(1 - s)
"""


def test_end_to_end_expected_and_stale(tmp_path):
    impl = tmp_path / "naive_losses.py"
    impl.write_text(NAIVE_IMPL + "\nfrom conformance.targets.reference import smooth_l1  # noqa: E402,F401\n")
    expect = tmp_path / "expect.toml"
    expect.write_text(_entry(reason="the naive form: log(0) at large logits", divergence="SCE-NAIVE"))
    common = (f"--impl={impl}", "-k", f"{SCE} or smooth_l1", "-m", "value", "--hypothesis-profile=conformance-dev")
    r = run_pytest("conformance", *common, "-rx", f"--expect={expect}", f"--report-json={tmp_path}/a.json",
                   f"--report={tmp_path}/a.html")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert outcomes(r.stdout) == {"passed": 1, "xfailed": 1}
    assert "expected failures (--expect):" in r.stdout and "the naive form: log(0) at large logits" in r.stdout
    doc = json.loads((tmp_path / "a.json").read_text())
    v = doc["verdicts"][SCE]["value"]
    assert v["status"] == "expected" and v["expectations"][0].startswith("the naive form")
    assert doc["verdicts"]["smooth_l1"]["value"]["status"] == "passed"
    html = (tmp_path / "a.html").read_text()
    assert "Expected failure (value):</strong> the naive form: log(0) at large logits" in html

    r = run_pytest("conformance", *common)  # without the file: fails exactly as before
    assert r.returncode == 1 and outcomes(r.stdout) == {"failed": 1, "passed": 1}

    expect.write_text(_entry(reason="the naive form", divergence="SCE-NAIVE") + _entry("smooth_l1", reason="stale"))
    r = run_pytest("conformance", *common, f"--expect={expect}", f"--report-json={tmp_path}/b.json")
    assert r.returncode == 1, r.stdout[-3000:]
    assert outcomes(r.stdout) == {"passed": 1, "xfailed": 1}
    assert "entry 2 (smooth_l1/value) is unexpectedly passing" in r.stdout
    assert json.loads((tmp_path / "b.json").read_text())["verdicts"]["smooth_l1"]["value"]["status"] == (
        "unexpectedly passing")


def test_end_to_end_divergence_mismatch_and_usage_error(tmp_path):
    expect = tmp_path / "expect.toml"
    expect.write_text(_entry("rpn_loss_cls", reason="wrong id", divergence="EPS-ONCE"))
    r = run_pytest("conformance", "--impl=conformance.targets.documents_adapter", "-k", "rpn_loss_cls", "-m", "value",
                   f"--expect={expect}", "-q")
    assert r.returncode == 1 and outcomes(r.stdout) == {"failed": 1}
    assert "entry 1 (rpn_loss_cls/value) did not match the failure" in r.stdout
    expect.write_text(_entry("rpn_loss_cls", "values"))
    r = run_pytest("conformance", "--impl=conformance.targets.documents_adapter", f"--expect={expect}", "-q")
    assert r.returncode == 4 and "entry 1: unknown category 'values'" in r.stdout + r.stderr


def test_xdist_keeps_the_result_model(tmp_path):
    impl = tmp_path / "naive_losses.py"
    impl.write_text(NAIVE_IMPL)
    expect = tmp_path / "expect.toml"
    expect.write_text(_entry(category="stability", reason="naive", divergence="SCE-NAIVE")
                      + _entry(reason="naive", divergence="SCE-NAIVE"))
    r = run_pytest("--pyargs", "conformance", f"--impl={impl}", "-k", SCE, "-m", "value or stability", "-n", "2",
                   f"--expect={expect}", f"--report-json={tmp_path}/x.json", "--hypothesis-profile=conformance-dev",
                   cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert outcomes(r.stdout) == {"xfailed": 2}
    doc = json.loads((tmp_path / "x.json").read_text())
    assert {c: v["status"] for c, v in doc["verdicts"][SCE].items()} == {"value": "expected", "stability": "expected"}


def test_documents_toml_makes_the_documents_target_pass(tmp_path):
    """Two names with failures in several categories: failing without the file, passing with it."""
    common = ("--pyargs", "conformance", "--impl=conformance.targets.documents_adapter", "-k",
              "rpn_loss_cls or giou_loss", "-m", "not stability", "-q", f"--report-json={tmp_path}/d.json")
    r = run_pytest(*common, cwd=tmp_path)
    assert r.returncode == 1
    failed = {(n, c) for n, cats in json.loads((tmp_path / "d.json").read_text())["verdicts"].items()
              for c, v in cats.items() if v["status"] == "failed"}
    assert failed == {("rpn_loss_cls", "value"), ("rpn_loss_cls", "gradient"), ("rpn_loss_cls", "regression"),
                      ("giou_loss", "badinput")}
    r = run_pytest(*common, f"--expect={DOCUMENTS_TOML}", cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-4000:]
    expected = {(n, c) for n, cats in json.loads((tmp_path / "d.json").read_text())["verdicts"].items()
                for c, v in cats.items() if v["status"] == "expected"}
    assert expected == failed


# --- the contract's call: one message for every category ------------------------------------------------------------

def _wrong_names(x, z):
    return reference.sigmoid_cross_entropy_with_logits(labels=z, logits=x)


@pytest.mark.parametrize("category", ["value", "gradient", "stability", "badinput"])
def test_wrong_signature_fails_every_category_with_the_expected_call(category):
    impl = type("Impl", (), {SCE: staticmethod(_wrong_names)})
    with pytest.raises(ConformanceFailure) as info:
        run_check(REGISTRY[SCE], category, impl, "wrong_names", "float32", "eager", hypothesis_settings=FEW)
    msg = str(info.value)
    assert "missing a required argument: 'x' (its signature is _wrong_names(x, z))" in msg
    assert "sigmoid_cross_entropy_with_logits(labels=..., logits=...)" in msg
    assert info.value.conformance_result.status == "failed"
    assert info.value.conformance_result.message == msg


def test_wrong_signature_fails_regression_and_timing_with_the_expected_call():
    from conformance.checks.timing import cases, run_timing
    from conformance.regression.replay import fixture_sets, replay

    impl = type("Impl", (), {SCE: staticmethod(_wrong_names)})
    results = [replay(REGISTRY[SCE], impl, "wrong_names", "float32", "eager", fixture_sets(None)[0])]
    case = next(c for c in cases("tiny") if c.contract.name == SCE)
    results.append(run_timing(case, "fwd", "float32", "eager", impl, "wrong_names", benchmark=None))
    for r in results:
        assert r.status == "failed"
        assert "missing a required argument: 'x' (its signature is _wrong_names(x, z))" in r.message
        assert "sigmoid_cross_entropy_with_logits(labels=..., logits=...)" in r.message


def test_wrong_signature_of_a_factory_closure():
    def rpn_loss_cls(num_anchors):
        return lambda y_pred: y_pred  # the closure lacks y_true

    with pytest.raises(ConformanceFailure, match=r"rpn_loss_cls\(num_anchors\)\(y_true, y_pred\)"):
        run_check(REGISTRY["rpn_loss_cls"], "badinput", type("I", (), {"rpn_loss_cls": staticmethod(rpn_loss_cls)}),
                  "closure", "float32", "eager", hypothesis_settings=FEW)


def test_badinput_needs_a_valid_call_that_works():
    """Raising counts as conforming for bad inputs only when the function works on valid input."""
    def always_raises(labels, logits):
        raise TypeError("unsupported operand")

    with pytest.raises(ConformanceFailure, match="raised TypeError on a valid input") as info:
        run_check(REGISTRY[SCE], "badinput", type("I", (), {SCE: staticmethod(always_raises)}), "raises",
                  "float32", "eager", hypothesis_settings=FEW)
    assert "sigmoid_cross_entropy_with_logits(labels=..., logits=...)" in str(info.value)
    assert run_check(REGISTRY[SCE], "badinput", reference, "reference", "float32", "eager").status == "passed"


# --- SCE-NAIVE ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("impl, name", [(mut.NAIVE_SIGMOID_CE, SCE),
                                        (mut.NAIVE_SOFTMAX_CE, "softmax_cross_entropy_with_logits")])
@pytest.mark.parametrize("category", ["value", "stability"])
def test_naive_cross_entropy_is_diagnosed_sce_naive(impl, name, category):
    with pytest.raises(ConformanceFailure) as info:
        run_check(REGISTRY[name], category, impl, "naive", "float32", "eager", hypothesis_settings=FEW)
    r = info.value.conformance_result
    assert r.diagnosis == f"{name} matches SCE-NAIVE (inf/NaN where the exact value is finite, at large |logits|)"
    assert "Diagnosis: " + r.diagnosis in r.message


def test_finite_wrong_cross_entropy_is_not_sce_naive():
    def off_by_one(labels, logits):
        return reference.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits) + 1.0

    with pytest.raises(ConformanceFailure) as info:
        run_check(REGISTRY[SCE], "stability", type("I", (), {SCE: staticmethod(off_by_one)}), "off", "float32",
                  "eager", hypothesis_settings=FEW)
    assert info.value.conformance_result.diagnosis is None


def test_entry_shadowed_by_an_earlier_entry_is_stale(tmp_path):
    e = _load(tmp_path, _entry() + _entry(reason="same failure", divergence="SCE-NAIVE"))
    r = _failed(diagnosis=f"{SCE} matches SCE-NAIVE")
    rep = _report([r])
    e.apply_to_report(rep, _carrying(r))
    assert "entry 1" in rep.wasxfail
    lines = e.finish([CheckResult.from_json(rep.user_properties[0][1])])
    assert len(lines) == 1 and "entry 2" in lines[0] and "matched no failure" in lines[0]


def test_entry_whose_tests_did_not_finish_is_not_judged(tmp_path):
    e = _load(tmp_path, _entry() + _entry("smooth_l1", reason="not provided"))
    rs = [CheckResult(SCE, "nn", "value", "float32", "eager", status=s) for s in ("error", "timeout", "skipped")]
    rs.append(CheckResult("smooth_l1", "nn", "value", "float32", "eager", status="not provided"))
    assert e.finish(rs) == []
    assert [r.status for r in rs] == ["error", "timeout", "skipped", "not provided"]


def test_tensorflow_nn_weighted_ce_is_diagnosed_in_every_failing_category():
    """The one true finding on tensorflow.nn is named wherever it shows: gradient, stability and the replay."""
    import tensorflow as tf

    from conformance.regression.replay import fixture_sets, replay

    contract = REGISTRY["weighted_cross_entropy_with_logits"]
    named = "gradient of weighted_cross_entropy_with_logits matches TF-WCE-GRAD-AT-ZERO"
    for category in ("gradient", "stability"):
        with pytest.raises(ConformanceFailure) as info:
            run_check(contract, category, tf.nn, "tensorflow.nn", "float32", "eager")
        assert info.value.conformance_result.diagnosis == named
        assert f"Diagnosis: {named}" in str(info.value)
    assert run_check(contract, "value", tf.nn, "tensorflow.nn", "float32", "eager").status == "passed"
    r = replay(contract, tf.nn, "tensorflow.nn", "float32", "eager", fixture_sets(None)[0])
    assert r.status == "failed" and r.diagnosis == named, r.message
