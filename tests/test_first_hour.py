"""A new user's first run: short failures with a reproducer, one term for missing names, a legend, readable numbers.

The end-to-end test runs the suite as a user would, from a folder outside the repository, on a module with three
small bugs built from the bundled reference target, and measures the output.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conformance.contracts import REGISTRY
from conformance.impl import misfit
from conformance.numerics.compare import compare
from conformance.reporting.results import CheckResult, Recorder
from conformance.reporting.terminal import render_summary

MAX_LINES = 60  # per failing test, pytest's header line included

BUGGY = textwrap.dedent('''
    """Three small bugs on top of the bundled reference implementation."""
    import tensorflow as tf

    from conformance.targets import reference as ref


    def smooth_l1(x):
        x = tf.convert_to_tensor(x)
        a = tf.abs(x)
        return tf.where(a <= 1, x * x, a - 0.5)  # bug: the quadratic branch lacks its 0.5


    def bbox_giou(boxes1, boxes2):
        g = ref.bbox_giou(boxes1, boxes2)
        return g + 0.5 * (g - ref.bbox_iou(boxes1, boxes2))  # bug: the enclosing-box term counted 1.5 times


    def compute_loss(convs, labels, bboxes, anchors, strides, num_class, iou_loss_thresh=0.5):
        giou, conf, prob = ref.compute_loss(convs, labels, bboxes, anchors, strides, num_class, iou_loss_thresh)
        return giou, 2.0 * conf, prob  # bug: the confidence term doubled
''')


def _sections(stdout: str) -> dict[str, list[str]]:
    """pytest's FAILURES section split per failing test: test id -> its lines (header included)."""
    body = stdout.split("= FAILURES =", 1)[1].split("conformance summary for", 1)[0]
    out: dict[str, list[str]] = {}
    current = None
    for line in body.splitlines()[1:]:
        m = re.match(r"^_{3,} (test_\w+\[[^\]]+\]) _{3,}$", line)
        if m:
            current = m.group(1)
            out[current] = []
        if current is not None:
            out[current].append(line)
    return out


@pytest.fixture(scope="module")
def user_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    """One run of the suite on the buggy module, from the user's own folder (value checks of the three names, and of
    the two not provided names that ``-k sigmoid`` selects)."""
    home = tmp_path_factory.mktemp("user")
    (home / "mylosses.py").write_text(BUGGY)
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "CONFORMANCE_QUIET_TF",
                                                            "HYPOTHESIS_STORAGE_DIRECTORY")}
    env.update(CONFORMANCE_CACHE_DIR=str(home / "cache"), PYTHONHASHSEED="0")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "conformance", "--impl=./mylosses.py", "-m", "value",
         "-k", "smooth_l1 or bbox_giou or compute_loss or sigmoid", "-p", "no:cacheprovider"],
        cwd=home, env=env, capture_output=True, text=True, timeout=600)
    return proc, home


def test_each_failure_is_short_and_names_a_reproducer(user_run: tuple[subprocess.CompletedProcess, Path]) -> None:
    proc, home = user_run
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    sections = _sections(proc.stdout)
    assert set(sections) == {f"test_value[{n}-float32-eager]" for n in ("smooth_l1", "bbox_giou", "compute_loss")}
    for test, lines in sections.items():
        assert len(lines) <= MAX_LINES, f"{test}: {len(lines)} lines\n" + "\n".join(lines)
        text = "\n".join(lines)
        assert "Not equal to tolerance" in text and "Max error / tolerance:" in text, text
        assert "Smallest failing input found" in text, text
        # no suite frames, no Contract repr, no Hypothesis explain block, no inlined production-size arrays
        assert "conformance/checks/" not in text and "Contract(" not in text, text
        assert "lines always run" not in text and "Falsifying" not in text, text
        assert all(len(line) <= 400 for line in lines), text
        scripts = re.findall(r"^  python (\S+\.py)$", text, re.M)
        assert len(scripts) == 1, text
        script = Path(scripts[0])
        assert script.is_file() and script.with_suffix(".npz").is_file()
        assert home / "cache" in script.parents  # the cache directory, not the user's folder
    # bbox_giou's pinned documents example fails first; a small drawn example is shown instead
    giou = "\n".join(sections["test_value[bbox_giou-float32-eager]"])
    assert "a pinned example fails too; this drawn one is smaller" in giou, giou
    for line in giou.splitlines():
        if line.startswith("  boxes"):
            assert "shape" not in line, giou  # small enough to print in full


def test_reproducer_runs_from_another_folder(user_run: tuple[subprocess.CompletedProcess, Path],
                                             tmp_path: Path) -> None:
    proc, home = user_run
    script = re.search(r"^  python (\S+smooth_l1-value-float32-eager\.py)$", proc.stdout, re.M).group(1)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")  # the run named ./mylosses.py: relative to the user's folder
    env.pop("PYTHONPATH", None)
    out = subprocess.run([sys.executable, script], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 1, out.stdout[-3000:] + out.stderr[-3000:]  # 1: the check still fails
    m = re.search(r"^max abs error: (\S+), max rel error: (\S+)$", out.stdout, re.M)
    assert m and float(m.group(1)) > 0.1, out.stdout  # x² vs x²/2 at the shrunk x = ±1 or so


def test_user_folder_stays_clean_and_start_up_is_quiet(user_run: tuple[subprocess.CompletedProcess, Path]) -> None:
    proc, home = user_run
    # (Python's own bytecode cache of the user's module, __pycache__, is not the suite's)
    assert sorted(p.name for p in home.iterdir() if p.name != "__pycache__") == ["cache", "mylosses.py"]
    both = proc.stdout + proc.stderr
    assert "oneDNN custom operations" not in both and "absl::InitializeLog" not in both, proc.stderr[:2000]


def test_summary_says_not_provided_once_with_a_legend(user_run: tuple[subprocess.CompletedProcess, Path]) -> None:
    proc, _ = user_run
    summary = proc.stdout.split("conformance summary for", 1)[1]
    assert "n/p" not in summary and "not covered" not in summary
    missing = [n for n in REGISTRY if n not in ("smooth_l1", "bbox_giou", "compute_loss")]
    assert f"not provided ({len(missing)}): {', '.join(missing)}" in summary
    rows = [line for line in summary.splitlines() if line.split(" ")[0] in REGISTRY]
    assert [r.split()[0] for r in rows] == ["smooth_l1", "bbox_giou", "compute_loss"]
    for word in ("pass", "FAIL", "hazard", "expected", "not provided", "skip"):
        assert re.search(rf"^  {re.escape(word)} +\S", summary, re.M), word
    last = proc.stdout.strip().splitlines()[-1]
    assert "3 failed" in last and "3 not provided" in last and "skipped" not in last, last  # the sigmoid names


# --- numbers: error over tolerance, ULP and relative error only where they mean something, no 1e300 ------------

def test_comparison_reports_error_over_tolerance() -> None:
    expected = np.array([0.0, 1e-30, 2.0])
    actual = np.array([1e-9, 0.0, 2.5])
    tol = np.array([1e-6, 1e-6, 1e-3])
    c = compare(actual, expected, tol, "float32", "value")
    assert c.mismatches == 1 and c.max_ratio == pytest.approx(0.5 / 1e-3)
    # only element 2 has |expected| > tolerance: relative error 0.25; 2.5 and 2.0 are 2**21 float32 ULP apart
    assert c.scaled_rel == pytest.approx(0.25) and c.scaled_ulp == 2**21
    assert "Max error / tolerance: 500" in c.message()
    near_zero = compare(np.array([0.0]), np.array([1e-30]), np.array([1e-6]), "float32", "value")
    assert near_zero.ok and near_zero.scaled_rel is None and near_zero.scaled_ulp is None
    assert near_zero.max_ratio == pytest.approx(1e-24)
    assert "ULP" not in near_zero.message() and "relative" not in near_zero.message()
    nan = compare(np.array([np.nan, 1.0]), np.array([1.0, 1.0]), np.array([1e-6, 1e-6]), "float32", "value")
    assert nan.max_ratio == math.inf and nan.scaled_ulp is None and "inf (non-finite output)" in nan.message()


def test_recorder_keeps_near_zero_elements_out_of_ulp_and_relative_error() -> None:
    r = CheckResult("sigmoid", "nn", "value", "float32", "eager")
    rec = Recorder(r)
    rec.comparisons([compare(np.array([0.0]), np.array([1e-30]), np.array([1e-6]), "float32", "value")],
                    magnitude=1e-30)
    assert (r.max_ulp, r.max_rel, r.status) == (0, 0.0, "passed") and r.max_ratio == pytest.approx(1e-24)
    rec.comparisons([compare(np.array([1.0 + 2**-23]), np.array([1.0]), np.array([1e-6]), "float32", "value")])
    assert r.max_ulp == 1 and r.max_rel == pytest.approx(2**-23) and r.max_ratio == pytest.approx(2**-23 / 1e-6)
    assert r.ratio_samples == [(1e-30, pytest.approx(1e-24))]


def test_json_has_no_fake_numbers() -> None:
    r = CheckResult("sigmoid", "nn", "value", "float32", "eager", status="failed", max_abs=math.inf,
                    max_rel=math.nan, max_ratio=math.inf, samples=[(1.0, math.inf)])
    text = r.to_json()

    def refuse(token: str) -> None:
        raise AssertionError(f"non-standard JSON number {token}")

    doc = json.loads(text, parse_constant=refuse)
    assert (doc["max_abs"], doc["max_rel"], doc["max_ratio"]) == ("inf", "nan", "inf")
    assert "1e+300" not in text and "1e300" not in text
    back = CheckResult.from_json(text)
    assert back.max_abs == math.inf and math.isnan(back.max_rel) and back.samples == [(1.0, math.inf)]


# --- terminal and HTML wording -------------------------------------------------------------------------------

def test_convention_is_said_once() -> None:
    rs = [CheckResult("binary_crossentropy", "nn", "value", "float32", "eager",
                      conventions=["keras-legacy", "keras-ops"]),
          CheckResult("binary_crossentropy", "nn", "gradient", "float32", "eager", conventions=["keras-ops"])]
    row = next(line for line in render_summary(rs, "m") if line.startswith("binary_crossentropy"))
    assert row.rstrip().endswith("matches keras-ops") and row.count("matches") == 1


def test_html_explains_hazards_and_shows_tables(tmp_path: Path) -> None:
    from conformance.reporting.html import write_report
    from conformance.reporting.run_info import RunInfo

    hazard = CheckResult("decode", "yolov3", "stability", "float16", "eager", status="hazard",
                         message="hazards in 3 example(s):\n  YOLO-EXP-OVERFLOW: 2 element(s); e.g. x=np.float64(inf)",
                         extra={"hazards": {"YOLO-EXP-OVERFLOW": 2}})
    regression = CheckResult("decode", "yolov3", "regression", "float16", "eager",
                             extra={"cases": [{"id": "c1", "tags": ["a", "b"], "status": "passed"}]})
    timing = CheckResult("smooth_l1", "nn", "timing", "float32", "eager", extra={"time_s": 0.002})
    missing = CheckResult("loss", "centernet", "value", "float32", "eager", status="not provided")

    class _Config:
        def getoption(self, name: str, default: object = None) -> object:
            return default

    info = RunInfo("m", ["float16"], module="m", module_file="/tmp/m.py")
    html = write_report(_Config(), [hazard, regression, timing, missing], info,
                        tmp_path / "report.html").read_text()
    assert "np.float64" not in html and "x=inf" in html
    assert "<strong>Hazard</strong> (float16): for some adversarial inputs the exact value is undefined" in html
    assert re.search(r"<code>hazards</code>:</div>\s*<table class=\"extra\"><tbody><tr><td>YOLO-EXP-OVERFLOW</td>"
                     r"<td>2</td></tr>", html)
    assert "<th>id</th><th>tags</th><th>status</th>" in html and "<td>a, b</td>" in html
    assert "No timing case: the timing category times the losses a training step calls" in html
    assert 'id="n-loss"' not in html and "Not provided by the implementation (1): loss" in html


# --- adapters --------------------------------------------------------------------------------------------------

def test_misfit_names_a_class_and_a_keras_loss() -> None:
    class YOLOV3:
        def compute_loss(self, *args: object) -> None:
            return None

    text = misfit("compute_loss", YOLOV3)
    assert text and "is a class" in text and "YOLOV3" in text and "module:MODEL" in text
    keras = pytest.importorskip("keras")
    text = misfit("binary_crossentropy", keras.losses.BinaryCrossentropy())
    assert text and "Keras Loss object" in text and "BinaryCrossentropy" in text and "reduces over the batch" in text
    assert misfit("smooth_l1", lambda x: x) is None
    assert misfit("smooth_l1", YOLOV3().compute_loss) is None


def test_snippet_array_literals_round_trip_exactly_and_read_well():
    """The terminal snippet's arrays: shortest exact repr per element (no column padding), non-finite values as code."""
    from conformance.reporting.snippet import as_source

    a = np.array([[0.0, 0.0, 0.0010000000474974513, 1e-30], [-2.5, np.nan, np.inf, -np.inf]])
    text = as_source(a)
    assert "0.0010000000474974513, 1e-30]" in text and "0.0                   ," not in text
    assert np.array_equal(eval(text, {"np": np}), a, equal_nan=True)


@pytest.mark.parametrize(("actual", "expected", "hint"), [
    ((), (3,), "reduced to a scalar"),
    ((3,), (3, 2), "axis -1 of the expected shape missing"),
    ((4,), (4, 4), "axis -1 of the expected shape missing"),  # the last axis is the likelier one
    ((3,), (3, 2, 5), "axes -2, -1 of the expected shape missing"),
    ((3, 1), (3, 2), "size 1 along axis -1 (reduced with keepdims=True?)"),
    ((2, 3), (3, 2), "axes transposed"),
    ((3, 2, 1), (3, 2), "extra axes of size 1"),
    ((4, 3, 2), (3, 2), "broadcast against another argument"),
    ((6,), (3, 2), "reshaped or flattened"),
    ((5,), (3,), ""),
])
def test_shape_hint_names_the_likely_mistake(actual: tuple, expected: tuple, hint: str) -> None:
    from conformance.numerics.compare import shape_hint, shape_mismatch

    assert hint in shape_hint(actual, expected) and bool(shape_hint(actual, expected)) == bool(hint)
    assert shape_mismatch(actual, expected).startswith(f"actual {actual}, expected {expected}")


def test_wrong_shape_comparison_has_no_statistics() -> None:
    cmp = compare(np.zeros(3), np.zeros((3, 2)), np.ones((3, 2)), "float32", "value of x")
    assert not cmp.ok and cmp.max_ratio == math.inf
    assert cmp.message() == ("Wrong shape (value of x, float32): actual (3,), expected (3, 2): axis -1 of the "
                             "expected shape missing (reduced over, or squeezed?)")


@pytest.mark.parametrize("category", ["value", "gradient", "stability"])
def test_wrong_shape_fails_with_arguments_contract_and_reproducer(category: str) -> None:
    """An output one axis short (m40): every category says so, with the shapes, the contract's and a reproducer."""
    import mutants

    from conformance.checks import engine

    engine.register_profiles()
    with pytest.raises(AssertionError) as info:
        engine.run_check(REGISTRY["binary_crossentropy"], category, mutants.load("m40_bce_mean_over_last_axis"),
                         "m40", "float32", "eager")
    err = info.value
    first = str(err).splitlines()[0]
    assert first.startswith("binary_crossentropy: wrong shape of output: actual "), str(err)
    assert "expected shape missing" in first or "reduced to a scalar" in first, first
    assert "argument shapes: target (" in str(err) and "the contract: elementwise" in str(err), str(err)
    assert getattr(err, "failure", None) is not None  # inputs for the standalone reproducer
    assert any(n.startswith("Reproduce") for n in err.__notes__), err.__notes__
