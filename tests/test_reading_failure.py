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
