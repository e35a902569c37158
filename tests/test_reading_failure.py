"""Reading a failure: the standalone reproducer's verdict and output (exit status, inputs, no start-up lines)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import hypothesis
import pytest
from new_user import my_losses

from conformance.checks import engine
from conformance.contracts import REGISTRY
from conformance.reporting.reproducer import write_reproducer

engine.register_profiles()
GATE = hypothesis.settings(hypothesis.settings.get_profile(engine.DEFAULT_PROFILE), database=None,
                           phases=(hypothesis.Phase.explicit, hypothesis.Phase.generate))
ROOT = Path(__file__).resolve().parents[1]


def _failed(name: str, category: str):
    with pytest.raises(AssertionError) as info:
        engine.run_check(REGISTRY[name], category, my_losses, "my_losses", "float32", "eager", hypothesis_settings=GATE)
    result = info.value.conformance_result
    engine.attach_failure(result, info.value)
    return result


def _run(script: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=env,
                          cwd=script.parent, timeout=300)


@pytest.mark.parametrize("category", ["value", "gradient"])
def test_reproducer_exits_1_while_failing_0_once_fixed(tmp_path: Path, category: str) -> None:
    result = _failed("rpn_loss_regr", category)
    py, npz = write_reproducer(result, my_losses.__file__, my_losses.__file__, tmp_path)
    r = _run(py)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "FAILS" in r.stdout and "Inputs (rounded to float32; arrays in" in r.stdout and str(npz) in r.stdout
    assert "num_anchors = " in r.stdout and ("y_true" in r.stdout and "y_pred" in r.stdout)
    for noise in ("oneDNN", "absl", "cpu_feature_guard", "I0000"):
        assert noise not in out, out
    fixed = _run(py, "conformance.targets.reference")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "passes" in fixed.stdout


# --- the HTML report ---------------------------------------------------------------------------------------------

class _Config:
    def __init__(self) -> None:
        self.options = {"--mode": "eager"}
        self.stash: dict = {}

    def getoption(self, name: str, default=None):
        return self.options.get(name, default)


def test_html_shows_inf_nan_and_says_why_relative_columns_are_empty(tmp_path: Path) -> None:
    import types

    import numpy as np

    from conformance.reporting.html import write_report
    from conformance.reporting.reproducer import failure_record
    from conformance.reporting.results import CheckResult, Recorder
    from conformance.reporting.run_info import describe_run

    bad = CheckResult("focal_loss", "centernet", "value", "float32", "eager", status="failed",
                      message="Worst element at index (): actual nan, expected 0.0")
    Recorder(bad).example(float("nan"), None, None, ratio=float("inf"))  # NaN against 0: no relative error
    rec = failure_record({"hm_pred": np.zeros((1, 1, 1, 1)), "hm_true": np.zeros((1, 1, 1, 1))},
                         np.array(0.0), np.array(np.nan))
    bad.inputs, bad.extra = rec["inputs"], {**bad.extra, **rec["extra"]}
    big = CheckResult("bbox_iou", "yolov3", "value", "float32", "eager", status="failed", message="x")
    Recorder(big).example(float("inf"), float("inf"), 2**63, ratio=float("inf"))
    rec = failure_record({"boxes1": np.ones((1, 4)), "boxes2": np.ones((1, 4))}, np.array([1.0]), np.array([np.inf]))
    big.inputs, big.extra = rec["inputs"], {**big.extra, **rec["extra"]}
    module = types.SimpleNamespace(__name__="_conformance_impl_my_losses", __file__="/home/u/proj/my_losses.py")
    info = describe_run("./my_losses.py", module, ["float32"], "eager")
    html = write_report(_Config(), [bad, big], info, tmp_path / "r" / "report.html").read_text()
    assert "1e+300" not in html and ">inf<" in html
    assert "— (no exact value above its tolerance" in html
    assert "my_losses.py" in html and "_conformance_impl_my_losses" not in html


# --- pytest's own lines ------------------------------------------------------------------------------------------

def _pytest(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=600)


def test_last_line_counts_names_not_provided_and_no_startup_lines_leak(tmp_path: Path) -> None:
    """Under pytest-xdist (-n 2), with TF_CPP_MIN_LOG_LEVEL unset: no absl/oneDNN lines; names counted once."""
    (tmp_path / "one.py").write_text("from conformance.targets.reference import smooth_l1  # noqa: F401\n")
    r = _pytest("--pyargs", "conformance", "--impl=one.py", "-m", "value or gradient", "-k", "float32",
                "-n", "2", cwd=tmp_path)
    last = r.stdout.strip().splitlines()[-1]
    assert r.returncode == 0, r.stdout[-3000:]
    for noise in ("oneDNN", "absl::InitializeLog", "cpu_feature_guard"):
        assert noise not in r.stdout + r.stderr, (r.stdout + r.stderr)[-3000:]
    from conformance.contracts import NAMES
    assert f"{len(NAMES) - 1} not provided" in last, last


def test_usage_errors_speak_from_the_users_folder(tmp_path: Path) -> None:
    r = _pytest("--pyargs", "conformance", cwd=tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == 4 and "pytest --pyargs conformance --impl=" in out and "pytest conformance" not in out
    (tmp_path / "broken.py").write_text("def f(:\n    pass\n")
    r = _pytest("--pyargs", "conformance", "--impl=broken.py", cwd=tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == 4 and "SyntaxError" in out and "Pass an importable dotted module" not in out
    r = _pytest("--pyargs", "conformance", "--impl=no_such_module_here", cwd=tmp_path)
    assert "Pass an importable dotted module" in r.stdout + r.stderr


def test_summary_names_each_hazard_and_where():
    """A hazard status in the table comes with one line per hazard id: where (name, category, dtypes) and how many
    elements, and where the reasons are; a run without hazards prints none of it."""
    from conformance.reporting.results import CheckResult
    from conformance.reporting.terminal import render_summary

    def hazard(name: str, category: str, dtype: str, counts: dict) -> CheckResult:
        return CheckResult(name, "yolov3", category, dtype, "eager", status="hazard", extra={"hazards": counts})

    rs = [hazard("diou_loss", "stability", "float16", {"YOLO-ZERO-UNION": 5, "DTYPE-RANGE": 2}),
          hazard("diou_loss", "stability", "bfloat16", {"YOLO-ZERO-UNION": 4}),
          hazard("bbox_iou", "value", "bfloat16", {"LITERAL": 1})]
    lines = render_summary(rs, "m")
    assert ("hazard YOLO-ZERO-UNION (9 element(s); reported, not failed): diou_loss stability (bfloat16/float16)"
            in lines)
    assert "hazard LITERAL (1 element(s); reported, not failed): bbox_iou value (bfloat16)" in lines
    assert any(line.startswith("each hazard's reason, with an example: --report=PATH") for line in lines)
    passed = [CheckResult("diou_loss", "yolov3", "value", "float16", "eager", status="passed")]
    assert not any(line.startswith(("hazard ", "each hazard")) for line in render_summary(passed, "m"))
