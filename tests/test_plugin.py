"""The pytest plugin as a user meets it: options, usage errors, selection, profiles, xdist."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.contracts import REGISTRY

ROOT = Path(__file__).resolve().parents[1]


def run_pytest(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    e = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    e.pop("PYTEST_XDIST_WORKER", None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd,
                          capture_output=True, text=True, env=e, timeout=600)


def test_missing_impl_is_a_usage_error():
    r = run_pytest("conformance", "-q")
    assert r.returncode == 4, r.stdout + r.stderr
    assert "--impl=MODULE" in r.stderr + r.stdout


# Serially and under pytest-xdist, where the workers import the implementation and the controller reports
# their usage error (a missing module or file is found by the controller itself, without importing anything).
SERIAL_AND_XDIST = pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])


@SERIAL_AND_XDIST
def test_unimportable_impl_is_a_usage_error(workers, tmp_path):
    r = run_pytest("conformance", "--impl=no_such_package.losses", "-q", *workers)
    assert r.returncode == 4, r.stdout + r.stderr
    assert "could not import --impl=no_such_package.losses: ModuleNotFoundError" in r.stderr
    r = run_pytest("conformance", f"--impl={tmp_path / 'missing.py'}", "-q", *workers)
    assert r.returncode == 4 and "no such file" in r.stderr, r.stdout + r.stderr
    mod = tmp_path / "broken_losses.py"
    mod.write_text("raise RuntimeError('the module fails at import')\n")
    r = run_pytest("conformance", f"--impl={mod}", "-q", f"--report-json={tmp_path / 'r.json'}", *workers)
    assert r.returncode == 4, r.stdout + r.stderr
    assert "RuntimeError: the module fails at import" in r.stderr and "Traceback" not in r.stdout + r.stderr
    assert not (tmp_path / "r.json").exists()  # no run, no report


@SERIAL_AND_XDIST
def test_impl_without_contract_names_is_a_usage_error(workers, tmp_path):
    mod = tmp_path / "empty_losses.py"
    mod.write_text("def unrelated():\n    return 1\n")
    r = run_pytest("conformance", f"--impl={mod}", "-q", *workers)
    assert r.returncode == 4, r.stdout + r.stderr
    assert "provides none of the contract names" in r.stderr


def test_xdist_controller_does_not_import_the_implementation(tmp_path):
    """Only the workers import it (and so TensorFlow); the summary and the JSON still name what they found."""
    log = tmp_path / "imported_by.txt"
    mod = tmp_path / "logged_losses.py"
    mod.write_text(f"import os\nwith open({str(log)!r}, 'a') as f:\n"
                   "    f.write(os.environ.get('PYTEST_XDIST_WORKER', 'controller') + '\\n')\n"
                   "from conformance.targets.reference import smooth_l1\n")
    r = run_pytest("conformance", f"--impl={mod}", "-k", "smooth_l1", "-m", "value", "-n", "2",
                   f"--report-json={tmp_path / 'r.json'}")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert sorted(log.read_text().split()) == ["gw0", "gw1"]
    assert f"1/{len(REGISTRY)} contract names provided by" in r.stdout
    assert "(Hypothesis profile conformance-gate)" in r.stdout
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["run"]["framework"] == "tf" and doc["run"]["backend"].startswith("tf ") and doc["mode"] == "eager"


def test_xdist_workers_share_the_cores(monkeypatch):
    """Each worker's thread pools get cores // workers threads; a variable the user set is kept."""
    from types import SimpleNamespace

    from conformance import parallel

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    for v in parallel.THREAD_VARIABLES:
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    chosen = parallel.limit_worker_threads(SimpleNamespace(option=SimpleNamespace(numprocesses=2, tx=["popen"] * 2)))
    assert chosen == {"TF_NUM_INTRAOP_THREADS": "4", "TF_NUM_INTEROP_THREADS": "4"}
    assert os.environ["OMP_NUM_THREADS"] == "3" and os.environ["TF_NUM_INTRAOP_THREADS"] == "4"
    for v in chosen:
        monkeypatch.delenv(v)
    chosen = parallel.limit_worker_threads(SimpleNamespace(option=SimpleNamespace(numprocesses=16, tx=["popen"] * 16)))
    assert chosen == {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


def test_k_selects_one_name_and_missing_names_are_not_provided(tmp_path):
    mod = tmp_path / "partial_losses.py"
    mod.write_text("from conformance.targets.reference import smooth_l1, sigmoid\n")
    r = run_pytest("conformance", f"--impl={mod}", "-k", "smooth_l1", "-m", "value or gradient", "-v")
    assert r.returncode == 0, r.stdout[-3000:]
    ran = [line for line in r.stdout.splitlines() if "::test_" in line and ("PASSED" in line or "SKIPPED" in line)]
    assert ran and all("smooth_l1" in line for line in ran)
    r = run_pytest("conformance", f"--impl={mod}", "-k", "rpn_loss_cls", "-m", "value or gradient", "-rs")
    assert r.returncode == 0
    assert "not provided (27):" in r.stdout  # one line naming the names the module does not define
    assert f"2/{len(REGISTRY)} contract names provided" in r.stdout


def test_gate_profile_is_default_even_under_ci(tmp_path):
    mod = tmp_path / "one_loss.py"
    mod.write_text("from conformance.targets.reference import smooth_l1\n")
    r = run_pytest("conformance", f"--impl={mod}", "-m", "value or gradient", "-q", env={"CI": "true"})
    assert r.returncode == 0, r.stdout[-3000:]
    assert "Hypothesis profile conformance-gate" in r.stdout
    r = run_pytest("conformance", f"--impl={mod}", "-m", "value or gradient", "-q",
                   "--hypothesis-profile=conformance-dev", "--hypothesis-seed=3")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "Hypothesis profile conformance-dev" in r.stdout


def test_pyargs_from_elsewhere_and_xdist(tmp_path):
    r = run_pytest("--pyargs", "conformance", "--impl=tensorflow.nn", "-k", "sigmoid and not cross",
                   "-m", "value or gradient", "-n", "2", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "sigmoid " in r.stdout and f"6/{len(REGISTRY)} contract names provided by tensorflow.nn" in r.stdout


@pytest.mark.parametrize("impl", ["conformance.targets.documents_adapter"])
def test_documents_fail_rpn_loss_cls_with_diagnosis(impl):
    r = run_pytest("conformance", f"--impl={impl}", "-k", "rpn_loss_cls", "-m", "value", "-q")
    assert r.returncode == 1
    assert "rpn_loss_cls matches FRCNN-SWAPPED-BCE + FRCNN-NORM-AXIS" in r.stdout
