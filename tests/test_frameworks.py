"""The suite runs JAX, PyTorch and Keras 3 (keras.ops) implementations as well as TensorFlow ones.

Each framework's bundled reference passes every category on a representative subset (a box name,
a cross-entropy and ``compute_loss``) under a reduced Hypothesis profile; the full catalogue under the
gate profile is marked ``slow``.  Each framework's mutants (``tests/mutants_jax``, ``mutants_torch``,
``mutants_keras``) are caught by the gate profile, as ``tests/test_mutants.py`` does for TensorFlow.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import judge
import pytest

from conformance import runners
from conformance.contracts import REGISTRY

ROOT = Path(__file__).resolve().parent.parent
HAS_JAX = importlib.util.find_spec("jax") is not None
HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_jax = pytest.mark.skipif(not HAS_JAX, reason="jax not installed (pip install loss-conformance[jax])")
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch not installed (pip install loss-conformance[torch])")
SUBSET = ("bbox_iou", "sigmoid_cross_entropy_with_logits", "compute_loss")
CATEGORIES = ("value", "gradient", "stability", "badinput", "regression")
SMOKE = "frameworks-smoke"  # the gate profile with 5 generated examples (the pinned ones all run)
# pytest in a subprocess, with the smoke profile registered before Hypothesis loads --hypothesis-profile.
PYTEST = ("import sys, pytest\n"
          "from hypothesis import settings\n"
          "from conformance.checks.profiles import register_profiles\n"
          "register_profiles()\n"
          f"settings.register_profile({SMOKE!r}, settings.get_profile('conformance-gate'), max_examples=5)\n"
          "sys.exit(pytest.main(sys.argv[1:]))\n")


def run_pytest(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    e = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    for k in ("PYTEST_XDIST_WORKER", runners.ENV):
        e.pop(k, None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-c", PYTEST, "-p", "no:cacheprovider", *args], cwd=ROOT,
                          capture_output=True, text=True, env=e, timeout=1200)


def _run_reference(tmp_path: Path, impl: str, framework: str, names: tuple[str, ...] | None,
                   profile: str | None, env: dict | None = None) -> dict:
    """The JSON report of the suite on ``impl``; asserts that pytest passed."""
    out = tmp_path / "report.json"
    args = ["--pyargs", "conformance", f"--impl={impl}", f"--framework={framework}", "--dtype=float32", "-q",
            f"--report-json={out}"]
    if names:
        args += ["-k", " or ".join(f"[{n}-" for n in names)]
    if profile:
        args.append(f"--hypothesis-profile={profile}")
    r = run_pytest(*args, env=env)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
    return json.loads(out.read_text())


def _assert_all_pass(doc: dict, names: tuple[str, ...]) -> None:
    for n in names:
        got = {c: v["status"] for c, v in doc["verdicts"][n].items()}
        assert set(got) == set(CATEGORIES), (n, got)
        assert all(s in ("passed", "hazard") for s in got.values()), (n, got)  # hazards: reported, not failed


# --- selection and detection ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("impl", "expected"), [
    ("conformance.targets.reference", "tf"),
    pytest.param("conformance.targets.reference_jax", "jax", marks=needs_jax),
    pytest.param("conformance.targets.reference_torch", "torch", marks=needs_torch),
    ("conformance.targets.reference_keras", "keras"),
])
def test_framework_detected_from_imports(impl: str, expected: str) -> None:
    assert runners.detect(importlib.import_module(impl)) == expected


def test_detect_is_tensorflow_when_unsure() -> None:
    import types

    assert runners.detect(types.SimpleNamespace(sigmoid=lambda x: x)) == "tf"


def test_unknown_framework_is_refused() -> None:
    with pytest.raises(ValueError, match="framework"):
        runners.select("mxnet")


@needs_jax
def test_using_restores_the_selection() -> None:
    before = runners.selected()
    with runners.using("jax") as module:
        assert runners.selected() is module and module.NAME == "jax"
        assert os.environ[runners.ENV] == "jax"
    assert runners.selected() is before


@needs_jax
def test_mode_of_another_framework_is_a_usage_error() -> None:
    r = run_pytest("--pyargs", "conformance", "--impl=conformance.targets.reference_jax", "--framework=jax",
                   "--mode=xla", "-q")
    assert r.returncode == 4, r.stdout[-3000:] + r.stderr[-3000:]
    assert "not a mode of the jax runner" in r.stdout + r.stderr


# --- the bundled references ---------------------------------------------------------------------------------------


@needs_jax
def test_jax_reference_passes_every_category(tmp_path: Path) -> None:
    doc = _run_reference(tmp_path, "conformance.targets.reference_jax", "jax", SUBSET, SMOKE)
    assert doc["mode"] == "jit" and doc["run"]["framework"] == "jax" and doc["run"]["backend"].startswith("jax ")
    assert doc["run"]["device"]
    _assert_all_pass(doc, SUBSET)


@needs_jax
def test_keras_reference_on_jax_passes_every_category(tmp_path: Path) -> None:
    doc = _run_reference(tmp_path, "conformance.targets.reference_keras", "keras", SUBSET, SMOKE,
                         env={"KERAS_BACKEND": "jax"})
    assert doc["run"]["framework"].startswith("keras ") and doc["run"]["backend"].startswith("jax ")
    _assert_all_pass(doc, SUBSET)


@needs_torch
def test_torch_reference_passes_every_category(tmp_path: Path) -> None:
    doc = _run_reference(tmp_path, "conformance.targets.reference_torch", "torch", SUBSET, SMOKE)
    assert doc["mode"] == "eager" and doc["run"]["backend"].startswith("torch ")
    _assert_all_pass(doc, SUBSET)


@needs_jax
@pytest.mark.parametrize("name", ["bbox_giou", "giou_loss"])
def test_jitted_box_gradient_residue_is_within_the_tolerance(name: str) -> None:
    """U/E is 1 for any h1 here, so d/dh1 is an exact 0 summed from terms of size |cot|; under jax.jit (and
    tf.function(jit_compile=True)) XLA's fused multiply-adds leave ~1e-9 of them, a rounding error to accept."""
    import numpy as np

    contract = REGISTRY[name]
    ex = {"boxes1": np.array([[0.0, 0.0, 1e6, 1.0]]), "boxes2": np.array([[0.0, 0.0, 1e6, 0.0]])}
    cot = np.array([2.5])
    with runners.using("jax") as runner:
        rounded, args = runner.prepare(contract, ex, "float32")
        r = runner.Runner(contract, importlib.import_module("conformance.targets.reference_jax").__dict__[name],
                          "jit")
        _, grads = r.value_and_grad(args, runner.cot_tensor(cot, "float32"))
    want = contract.expected_vjp(rounded, cot, "boxes1")
    tol = contract.tolerance.for_grad(rounded, "boxes1", want, cot, "float32")
    assert np.all(want == 0)
    assert np.all(np.abs(grads["boxes1"] - want) <= tol), (grads["boxes1"], tol)
    assert np.all(tol < 1e-2 * cot[0])  # a wrong derivative (order |cot|) still fails


BUGGY_JAX = """import jax.numpy as jnp


def smooth_l1(x):
    a = jnp.abs(x)
    return jnp.where(a <= 1, 0.5 * x * x, a - 0.4)  # reference_jax.smooth_l1 with 0.4 for 0.5
"""


@needs_jax
def test_jax_failure_reproducers_run_elsewhere(tmp_path: Path) -> None:
    """The printed snippet and the standalone script select JAX, say what they need and show the mismatch."""
    impl = tmp_path / "buggy_losses.py"
    impl.write_text(BUGGY_JAX)
    out, repro = tmp_path / "report.json", tmp_path / "repro"
    r = run_pytest("--pyargs", "conformance", f"--impl={impl}", "--framework=jax", "--dtype=float32", "-k",
                   "smooth_l1", "-m", "value", f"--report-json={out}", f"--reproducers-dir={repro}",
                   f"--report={tmp_path / 'report.html'}")
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-3000:]
    device = json.loads(out.read_text())["run"]["device"]  # the JAX runner's device, also in the HTML report
    html = (tmp_path / "report.html").read_text()
    assert f"<tr><th>device</th><td>{device}</td></tr>" in html and "visible to TensorFlow" not in html, device
    assert "needs only NumPy, JAX, the conformance package and your module" in r.stdout
    script = repro / "smooth_l1-value-float32-jit.py"
    assert "import tensorflow" not in script.read_text()
    message = json.loads(out.read_text())["results"][0]["message"]
    snippet = message.split("Reproduce:\n", 1)[1].split("\nFailing test case", 1)[0]
    assert "runners.select('jax')" in snippet
    (tmp_path / "snippet.py").write_text(snippet)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    e = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    e.pop(runners.ENV, None)
    printed = {}
    for path in (script, tmp_path / "snippet.py"):
        p = subprocess.run([sys.executable, str(path)], cwd=elsewhere, capture_output=True, text=True, env=e,
                           timeout=300)
        assert p.returncode == (1 if path == script else 0), p.stdout[-3000:] + p.stderr[-3000:]  # 1: still fails
        printed[path.name] = p.stdout
    assert "max abs error: 0.1," in printed[script.name], printed[script.name]  # |x| - 0.4 against |x| - 0.5
    lines = dict(line.split(":", 1) for line in printed["snippet.py"].splitlines() if ":" in line)
    impl_value, oracle_value = (float(lines[k].strip(" []").split()[0]) for k in ("impl", "oracle"))
    assert abs(impl_value - oracle_value - 0.1) < 1e-6, printed["snippet.py"]


FULL_ENV = "CONFORMANCE_TEST_FULL_FRAMEWORKS"  # minutes per framework on 2 cores: not part of the default run
FULL = [pytest.param("conformance.targets.reference_jax", "jax", None, marks=needs_jax, id="jax"),
        pytest.param("conformance.targets.reference_keras", "keras", {"KERAS_BACKEND": "jax"}, marks=needs_jax,
                     id="keras-on-jax"),
        pytest.param("conformance.targets.reference_torch", "torch", None, marks=needs_torch, id="torch")]


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get(FULL_ENV), reason=f"the whole catalogue per framework: set {FULL_ENV}=1")
@pytest.mark.parametrize(("impl", "framework", "env"), FULL)
def test_reference_passes_the_whole_catalogue(tmp_path: Path, impl: str, framework: str, env: dict | None) -> None:
    doc = _run_reference(tmp_path, impl, framework, None, None, env=env)
    _assert_all_pass(doc, tuple(REGISTRY))


# --- mutants ------------------------------------------------------------------------------------------------------


def _catalogue(package: str) -> list[str]:
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        return importlib.import_module(package).names()
    except ImportError:  # the framework is not installed
        return []


def _assert_caught(package: str, mutant: str, framework: str) -> None:
    m = importlib.import_module(package).load(mutant)
    assert judge.caught(m, mutant, framework), (f"{mutant} ({m.KIND}: {m.DESCRIPTION}) passed every check of "
                                                f"{m.TARGETS} x {m.CATEGORIES}")


@needs_jax
@pytest.mark.parametrize("mutant", _catalogue("mutants_jax") if HAS_JAX else [])
def test_gate_catches_jax_mutant(mutant: str) -> None:
    _assert_caught("mutants_jax", mutant, "jax")


@needs_torch
@pytest.mark.parametrize("mutant", _catalogue("mutants_torch") if HAS_TORCH else [])
def test_gate_catches_torch_mutant(mutant: str) -> None:
    _assert_caught("mutants_torch", mutant, "torch")


# Keras fixes its backend when first imported: the Keras mutants run in a process of their own.
KERAS_MUTANT = """
import json, sys
sys.path.insert(0, {tests!r})
import judge
import mutants_keras
from conformance import runners
m = mutants_keras.load({mutant!r})
caught = judge.caught(m, {mutant!r}, "keras")
with runners.using("keras"):
    print(json.dumps({{"backend": runners.describe()["backend"], "caught": caught}}))
"""


@needs_jax
@pytest.mark.parametrize("mutant", sorted(p.stem for p in (ROOT / "tests" / "mutants_keras").glob("m*.py")))
def test_gate_catches_keras_mutant_on_jax(mutant: str) -> None:
    e = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3")
    e.pop(runners.ENV, None)
    r = subprocess.run([sys.executable, "-c", KERAS_MUTANT.format(tests=str(ROOT / "tests"), mutant=mutant)],
                       cwd=ROOT, capture_output=True, text=True, env=e, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["backend"].startswith("jax "), out
    assert out["caught"], f"{mutant} passed every check on Keras-on-JAX"


def test_torch_compile_cache_directory_is_removed_at_exit(monkeypatch) -> None:
    """``--mode=compile`` gives each run its own TorchInductor cache directory, removed when the process exits."""
    import atexit

    pytest.importorskip("torch")
    from conformance.runners import torch_runner

    at_exit = []
    monkeypatch.delenv(torch_runner.INDUCTOR_CACHE_ENV, raising=False)
    monkeypatch.setattr(atexit, "register", lambda fn, *args, **kw: at_exit.append((fn, args, kw)))
    torch_runner.activate()
    path = os.environ[torch_runner.INDUCTOR_CACHE_ENV]
    assert "conformance-inductor-" in path and os.path.isdir(path) and len(at_exit) == 1
    fn, args, kw = at_exit[0]
    fn(*args, **kw)
    assert not os.path.exists(path)
