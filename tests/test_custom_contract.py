"""A user-registered contract gets the whole pipeline: examples/custom_contract/run.sh passes a correct
implementation and fails a broken one (it exits 0 only when both happen)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "custom_contract"


def test_run_sh_passes_the_correct_and_fails_the_broken_implementation():
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(["bash", str(EXAMPLE / "run.sh")], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "varifocal_loss  pass       pass       pass" in (EXAMPLE / "good.log").read_text()
    assert "varifocal_loss  FAIL" in (EXAMPLE / "broken.log").read_text()


def test_finite_difference_fallback_matches_the_analytic_vjp():
    sys.path.insert(0, str(EXAMPLE))
    try:
        import varifocal_contract as vc
    finally:
        sys.path.remove(str(EXAMPLE))
    from oracle.custom import FD_RELATIVE_ACCURACY, finite_difference_vjp

    rng = np.random.default_rng(0)
    pred = rng.uniform(0.05, 0.95, (3, 4))
    target = np.where(rng.random((3, 4)) < 0.5, 0.0, rng.uniform(0.1, 1.0, (3, 4)))
    cot = rng.standard_normal((3, 4))
    want = vc.varifocal_vjp(cot, "pred", pred=pred, target=target)
    got = finite_difference_vjp(vc.varifocal_loss)(cot, "pred", pred=pred, target=target)
    scale = np.abs(cot) * (1 + np.abs(vc.varifocal_loss(pred, target)))
    assert np.all(np.abs(got - want) <= 100 * FD_RELATIVE_ACCURACY * np.maximum(scale, 1.0))
    assert not np.allclose(got, -want)  # the comparison can fail: the sign matters
