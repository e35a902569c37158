"""The HTML report: content, escaping, reproducers, xdist aggregation, and rendering in headless Chromium."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.contracts import REGISTRY
from conformance.reporting.reproducer import call_expression, decode, encode, failure_record, write_reproducer
from conformance.reporting.results import CheckResult

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONHASHSEED="0")
BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
needs_browser = pytest.mark.skipif(
    BROWSER is None, reason="headless Chromium is not installed (apt-get install -y chromium; .ci/run installs it)")
XSS = "<script>document.title='pwned'</script>"


# --- reproducer building blocks ------------------------------------------------------------------------------------

class _Args(dict):
    """An argument dict whose every value is a named sentinel."""

    def __missing__(self, key: str) -> str:
        return f"<{key}>"


class _Recorder:
    """A fake contract function: records calls, and returns a recorder for closures (num_anchors)(...)."""

    def __init__(self, log: list):
        self.log = log

    def __call__(self, *args, **kwargs):
        self.log.append((args, kwargs))
        return _Recorder(self.log)


@pytest.mark.parametrize("axis", [-1, 1])
@pytest.mark.parametrize("name", list(REGISTRY))
def test_call_templates_match_contract_call(name: str, axis: int) -> None:
    """The reproducer's literal call is the call Contract.call makes, argument for argument."""
    a = _Args(axis=axis, pred="<decoded>")
    want: list = []
    REGISTRY[name].invoke(_Recorder(want), a, types.SimpleNamespace(decode=lambda *args: "<decoded>"))
    got: list = []
    impl = types.SimpleNamespace(**{name: _Recorder(got)})
    eval(call_expression(name, a), {"impl": impl, "a": a, "decode": lambda *args: "<decoded>"})  # noqa: S307
    assert got == want and want, name


def test_encode_round_trips_exactly_through_json() -> None:
    ex = {"x": np.array([0.1, -0.0, np.nan, np.inf, 5e-324]), "scalar": np.array(2.5), "empty": np.zeros((0, 4)),
          "idx": np.array([[1, 2]], dtype=np.int64), "convs": [np.ones((1, 2)), np.full((2,), 1 / 3)],
          "n": 3, "thresh": 0.5}
    back = {k: decode(v) for k, v in json.loads(json.dumps(encode(ex))).items()}
    for k, v in ex.items():
        if isinstance(v, list):
            for x, y in zip(v, back[k], strict=True):
                np.testing.assert_array_equal(x, y)
        elif isinstance(v, np.ndarray):
            assert back[k].dtype == v.dtype and back[k].shape == v.shape
            np.testing.assert_array_equal(back[k], v)
        else:
            assert back[k] == v and type(back[k]) is type(v)


def test_failure_record_labels_outputs_and_gradients() -> None:
    rec = failure_record({"x": np.ones(2)}, (np.ones(1), np.zeros(1)), (np.ones(1), np.ones(1)))
    assert list(rec["extra"]["expected"]) == ["value[0]", "value[1]"]
    rec = failure_record({"x": np.ones(2)}, {"convs": [np.ones(1), np.ones(2)], "y": np.ones(3)},
                         {"convs": [np.ones(1), None], "y": np.ones(3)}, cot=(np.ones(1),))
    assert list(rec["extra"]["expected"]) == ["d/dconvs[0]", "d/dconvs[1]", "d/dy"]
    assert rec["extra"]["actual"]["d/dconvs[1]"] is None
    assert isinstance(rec["extra"]["cotangent"], list)


@pytest.mark.parametrize("category", ["value", "gradient"])
@pytest.mark.parametrize("name", list(REGISTRY))
@settings(max_examples=2, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_reproducer_computes_what_the_suite_computed(name: str, category: str, data: st.DataObject) -> None:
    """Run in-process against the reference, the script's outputs (or VJPs) equal the suite runner's bit for bit."""
    from conformance.runners.tf import Runner, cot_tensor, cotangent, prepare
    from conformance.targets import reference

    contract = REGISTRY[name]
    rounded, args = prepare(contract, data.draw(contract.strategy()), "float32")
    runner = Runner(contract, getattr(reference, name), "eager", reference)
    extra = next(iter(contract.oracle_keywords("float32").values()))
    expected = contract.expected(rounded, **extra)
    if category == "value":
        actual = runner.value(args)
        rec = failure_record(rounded, expected, actual)
        want = list(actual) if isinstance(actual, tuple) else [actual]
    else:
        cot = cotangent(contract, expected, 0, "float32")
        _, grads = runner.value_and_grad(args, cot_tensor(cot, "float32"))
        vjps = {k: contract.expected_vjp(rounded, cot, k, **extra) for k in contract.grad_args}
        rec = failure_record(rounded, vjps, grads, cot)
        want = [g for k in contract.grad_args for g in (grads[k] if isinstance(grads[k], list) else [grads[k]])]
    result = CheckResult(name, contract.family, category, "float32", "eager", status="failed", message="m",
                         inputs=json.loads(json.dumps(rec["inputs"])), extra=json.loads(json.dumps(rec["extra"])))
    with tempfile.TemporaryDirectory() as tmp:
        py, _ = write_reproducer(result, "conformance.targets.reference", None, Path(tmp))
        argv, sys.argv = sys.argv, [str(py)]
        try:
            with contextlib.redirect_stdout(io.StringIO()) as out, np.printoptions():  # the script sets them
                g = {"__name__": "__main__", "__file__": str(py)}
                with contextlib.suppress(SystemExit):  # the script exits 1 while the check fails
                    exec(compile(py.read_text(), str(py), "exec"), g)
                got = g["actual"]
        finally:
            sys.argv = argv
    assert "max abs error" in out.getvalue()
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


# --- rendering from results ---------------------------------------------------------------------------------------

class _Config:
    def __init__(self, **options):
        self.options = {"--mode": "eager", **options}
        self.stash: dict = {}

    def getoption(self, name, default=None):
        return self.options.get(name, default)


def _results() -> list[CheckResult]:
    ok = CheckResult("binary_crossentropy", "nn", "value", "float32", "eager", examples=25, max_abs=1e-7,
                     max_rel=3e-8, max_ulp=1, conventions=["keras-ops"],
                     samples=[(10.0 ** k, 1e-8 * (k % 3)) for k in range(-6, 6)])
    bad = CheckResult("rpn_loss_cls", "frcnn", "value", "float32", "eager", status="failed", examples=3,
                      max_abs=0.5, max_rel=float("inf"), max_ulp=2**40, max_ratio=float("inf"), conventions=[],
                      diagnosis="rpn_loss_cls matches FRCNN-SWAPPED-BCE", message=f"boom {XSS}")
    rec = failure_record({"num_anchors": 1, "y_true": np.array([[[[1.0, 0.0]]]]), "y_pred": np.array([[[[1.0]]]])},
                         np.array(15.94), np.array(15.42))
    bad.inputs, bad.extra = rec["inputs"], rec["extra"]
    timing = CheckResult("smooth_l1", "nn", "timing", "float32", "eager", extra={"time_s": 0.00125,
                                                                                "bandwidth_ratio": 0.83})
    hazard = CheckResult("decode", "yolov3", "stability", "float16", "eager", status="hazard", message=XSS)
    missing = CheckResult("loss", "centernet", "value", "float32", "eager", status="not provided",
                          message=f"not provided by {XSS}")
    return [ok, bad, timing, hazard, missing]


def _write(tmp_path: Path, results: list[CheckResult], spec: str = XSS) -> Path:
    from conformance.reporting.html import write_report
    from conformance.reporting.run_info import describe_run

    module = types.SimpleNamespace(__name__=XSS, __file__=f"/tmp/{XSS}.py")
    info = describe_run(spec, module, ["float32", "float16"], "eager")
    return write_report(_Config(), results, info, tmp_path / "r" / "report.html")


def test_report_escapes_every_string_from_the_impl(tmp_path: Path) -> None:
    html = _write(tmp_path, _results()).read_text()
    assert "<script" not in html  # the report has no script of its own, and the impl's are text
    assert "&lt;script&gt;document.title=" in html
    assert html.count("&lt;script&gt;") >= 4  # spec, module, failure message, hazard / not-provided messages


def test_report_is_self_contained(tmp_path: Path) -> None:
    html = _write(tmp_path, _results(), spec="mypkg.losses").read_text()
    assert not re.search(r"https?://|<link\b|\bsrc=|@import|url\((?!#)", html), "external reference in the report"
    assert html.count("<svg") == 1 and "<?xml" not in html and "<!DOCTYPE svg" not in html


def test_report_content(tmp_path: Path) -> None:
    path = _write(tmp_path, _results(), spec="mypkg.losses")
    html = path.read_text()
    # header
    for label in ("versions", "TensorFlow", "Keras", "NumPy", "loss-conformance", "device", "dtypes",
                  "float32, float16", "Hypothesis profile", "Hypothesis seed", "date", "wall time"):
        assert label in html, label
    # the matrix groups by family in registry order, with every category as a column
    fams = [m for m in re.findall(r'<tr class="fam"><th[^>]*>(\w+)</th>', html)]
    assert fams == ["nn", "frcnn", "yolov3"]  # centernet's only name is not provided: one line under the matrix
    header = re.search(r"<thead><tr><th>contract name</th>(.*?)</tr></thead>", html).group(1)
    assert re.findall(r"<th>(\w+)</th>", header) == ["value", "gradient", "stability", "badinput", "regression",
                                                      "timing"]
    row = re.search(r'<tr class="row st-fail"><th><a href="#n-rpn_loss_cls">.*?</tr>', html, re.S).group(0)
    assert ">FAIL<" in row and row.count("&ndash;") == 5
    assert 'class="row st-hazard"' in html and 'class="row st-np"' not in html
    assert re.search(r'id="not-provided">Not provided by the implementation \(1\): loss</p>', html)
    # per name: errors, convention, diagnosis, timing, plot, failure with expected vs actual and a reproducer
    assert "keras-ops" in html and "none matched" in html
    assert "Divergence diagnosis:</strong> rpn_loss_cls matches FRCNN-SWAPPED-BCE" in html
    assert "time 1.25 ms; bandwidth-bound ratio 0.83" in html
    assert "non-finite" in html and "inf (non-finite output)" in html  # max_rel and error / tolerance are inf
    assert "15.94" in html and "15.42" in html and "array([[[[1., 0.]]]])" in html
    repro = path.parent / "report-reproducers" / "rpn_loss_cls-value-float32-eager.py"
    assert repro.is_file() and repro.with_suffix(".npz").is_file()
    assert 'href="report-reproducers/rpn_loss_cls-value-float32-eager.py"' in html
    assert "impl.rpn_loss_cls(a['num_anchors'])(a['y_true'], a['y_pred'])" in repro.read_text()
    data = np.load(repro.with_suffix(".npz"))
    assert float(data["expected__0"]) == 15.94 and data["in__y_true"].shape == (1, 1, 1, 2)


# --- end to end: the suite on the documents' code, with pytest-xdist -------------------------------------------------

def _run_script(script: Path, *args: str, status: int = 1) -> str:
    """The reproducer's output; it exits 1 while the check fails, 0 once it passes."""
    proc = subprocess.run([sys.executable, str(script), *args], cwd=script.parent.parent, env=ENV,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == status, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def _max_errors(stdout: str) -> tuple[float, float]:
    m = re.search(r"^max abs error: (\S+), max rel error: (\S+)$", stdout, re.M)
    assert m, stdout
    return float(m.group(1)), float(m.group(2))


def test_suite_report_end_to_end(tmp_path: Path) -> None:
    """The suite (-n 2) on the documents' adapter for two names: rpn_loss_cls fails, smooth_l1 is not provided.

    One test (not a shared fixture), so that the project's own ``-n 2`` run does not repeat the suite per worker.
    """
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "conformance", "--impl=conformance.targets.documents_adapter",
         "-k", "smooth_l1 or rpn_loss_cls", "-m", "value or gradient", "-n", "2", "-p", "no:cacheprovider",
         f"--report={tmp_path / 'report.html'}"],
        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    path = tmp_path / "report.html"
    assert f"conformance report: {path}" in proc.stdout

    html = path.read_text()
    row = re.search(r'<tr class="row st-fail"><th><a href="#n-rpn_loss_cls">.*?</tr>', html, re.S).group(0)
    assert row.count(">FAIL<") == 2  # value and gradient, gathered from the xdist workers
    assert "Not provided by the implementation (1): smooth_l1</p>" in html  # one line, not a matrix row
    assert "FRCNN-SWAPPED-BCE" in html and "<svg" in html
    assert "conformance-gate (max_examples=" in html and "derandomized" in html
    assert "Expected (float64 oracle) vs actual" in html and "Standalone reproducer" in html

    scripts = sorted((tmp_path / "report-reproducers").glob("*.py"))
    assert [s.name for s in scripts] == ["rpn_loss_cls-gradient-float32-eager.py",
                                         "rpn_loss_cls-value-float32-eager.py"]
    value = scripts[1]
    assert not re.search(r"^\s*(import|from) (oracle|conformance)\b", value.read_text(), re.M)  # needs neither
    out = _run_script(value)
    assert "expected (float64 oracle):" in out and "actual:" in out
    abs_err, rel_err = _max_errors(out)
    assert abs_err > 1e-3 and rel_err > 1e-3  # the documents' divergence, reproduced without the suite
    # the same script on the reference implementation: its stored expected values are the spec's
    _, rel_ok = _max_errors(_run_script(value, "conformance.targets.reference", status=0))
    assert rel_ok < 1e-5

    if BROWSER:  # the real report in a real browser too (the browser tests below skip without one)
        dom = _chromium(tmp_path, path.as_uri(), "--dump-dom").stdout
        assert "Conformance matrix" in dom and "rpn_loss_cls" in dom and "FRCNN-SWAPPED-BCE" in dom and "<svg" in dom


# --- in a real browser ----------------------------------------------------------------------------------------------

def _chromium(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    cmd = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--enable-logging=stderr", "--v=0", f"--user-data-dir={tmp_path / 'chromium-profile'}", *args, url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not re.search(r"Uncaught|CONSOLE\(\d+\)\]? .*[Ee]rror", proc.stderr), proc.stderr[-3000:]
    return proc


@needs_browser
def test_browser_screenshot(tmp_path: Path) -> None:
    import matplotlib.image

    path = _write(tmp_path, _results(), spec="mypkg.losses")
    png = tmp_path / "shot.png"
    _chromium(tmp_path, path.as_uri(), f"--screenshot={png}", "--window-size=1280,2000")
    img = matplotlib.image.imread(png)
    assert img.shape[:2] == (2000, 1280)
    rgb = (img[..., :3].reshape(-1, 3) * 255).astype(np.uint8)
    assert len(np.unique(rgb, axis=0)) > 50, "the screenshot is (nearly) one colour"
    red = (rgb[:, 0] > 180) & (rgb[:, 1] < 80) & (rgb[:, 2] < 80)
    green = (rgb[:, 1] > 100) & (rgb[:, 0] < 80) & (rgb[:, 2] < 80)
    assert red.sum() > 200 and green.sum() > 200, "no FAIL / pass marking visible in the first screen"


@needs_browser
def test_browser_shows_impl_script_as_text(tmp_path: Path) -> None:
    path = _write(tmp_path, _results())
    dom = _chromium(tmp_path, path.as_uri(), "--dump-dom").stdout
    title = re.search(r"<title>(.*?)</title>", dom, re.S).group(1)
    assert title == "Loss conformance report: &lt;script&gt;document.title='pwned'&lt;/script&gt;"
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom
    assert "<script" not in dom
    assert "Conformance matrix" in dom and "<svg" in dom and "Divergence diagnosis" in dom


def test_header_versions_name_installed_frameworks_whatever_their_distribution(monkeypatch) -> None:
    """tensorflow-cpu is TensorFlow; a framework that is not installed is left out, not "not installed"."""
    import importlib.metadata as md
    import sys

    from conformance.reporting import run_info

    real = md.version
    monkeypatch.delitem(sys.modules, "jax", raising=False)

    def version(dist: str) -> str:
        if dist in ("tensorflow", "jax"):
            raise md.PackageNotFoundError(dist)
        return "2.21.0" if dist == "tensorflow-cpu" else real(dist)

    monkeypatch.setattr(md, "version", version)
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    got = run_info.framework_versions()
    assert "TensorFlow 2.21.0" in got and not any(v.startswith("JAX") for v in got)
    assert all("not installed" not in v for v in got)
