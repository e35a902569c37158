"""The pytest plugin as a user meets it: options, usage errors, selection, profiles, xdist."""

from __future__ import annotations

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


def test_unimportable_impl_is_a_usage_error():
    r = run_pytest("conformance", "--impl=no_such_package.losses", "-q")
    assert r.returncode == 4
    assert "could not import --impl=no_such_package.losses" in r.stderr + r.stdout


def test_impl_without_contract_names_is_a_usage_error(tmp_path):
    mod = tmp_path / "empty_losses.py"
    mod.write_text("def unrelated():\n    return 1\n")
    r = run_pytest("conformance", f"--impl={mod}", "-q")
    assert r.returncode == 4
    assert "provides none of the contract names" in r.stderr + r.stdout


def test_k_selects_one_name_and_missing_names_are_not_provided(tmp_path):
    mod = tmp_path / "partial_losses.py"
    mod.write_text("from conformance.targets.reference import smooth_l1, sigmoid\n")
    r = run_pytest("conformance", f"--impl={mod}", "-k", "smooth_l1", "-m", "value or gradient", "-v")
    assert r.returncode == 0, r.stdout[-3000:]
    ran = [line for line in r.stdout.splitlines() if "::test_" in line and ("PASSED" in line or "SKIPPED" in line)]
    assert ran and all("smooth_l1" in line for line in ran)
    r = run_pytest("conformance", f"--impl={mod}", "-k", "rpn_loss_cls", "-m", "value or gradient", "-rs")
    assert r.returncode == 0
    assert "not provided (26):" in r.stdout  # one line naming the names the module does not define
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
