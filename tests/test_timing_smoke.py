"""CI smoke check of the timing benchmarks: tiny sizes, a few names, in a subprocess.

The production-size run is documented in docs/benchmarks.md; here we only check that the timing
tests run with ``--timing``, are deselected without it, fill the benchmark JSON's extra info and the
conformance report, and that a slowed-down or broken implementation fails.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from conformance import plugin
from conformance.checks import timing

ROOT = Path(__file__).resolve().parents[1]
EXTRA_KEYS = {"device", "device_kind", "tf_version", "dtype", "mode", "direction", "size", "bytes", "bound_s",
              "bandwidth_Bps", "time_s", "bandwidth_ratio"}


def _pytest(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    # PYTEST_XDIST_WORKER would make pytest-benchmark disable itself in the child.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    # --pyargs: the installed conformance package, editable or not (a path could mismatch a non-editable install).
    cmd = [sys.executable, "-m", "pytest", "--pyargs", "conformance.suite.test_timing", "-p", "no:cacheprovider",
           "-q", "--timing-size=tiny", "--benchmark-max-time=0.02", "--benchmark-min-rounds=3",
           "--rootdir", str(ROOT), *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)


SLOW_IMPL = '''
import time
from conformance.targets import reference as _ref
from conformance.targets.reference import *  # noqa: F403

def focal_loss(hm_pred, hm_true):
    time.sleep(0.02)  # a slowdown (runs on every eager call)
    return _ref.focal_loss(hm_pred, hm_true)

def class_loss_cls(y_true, y_pred):
    return _ref.class_loss_cls(y_true, y_pred) * float("nan")  # broken
'''


def test_timing_smoke_then_slowdown_and_broken_output_fail(tmp_path):
    # 1. The reference at tiny sizes: every mode and direction, JSON extra info and report filled; saved as baseline.
    bench, report = tmp_path / "bench.json", tmp_path / "report.json"
    storage = f"--benchmark-storage=file://{tmp_path / 'benchmarks'}"
    run = _pytest("--impl=conformance.targets.reference", "--timing", "-k", "focal_loss or class_loss_cls",
                  f"--benchmark-json={bench}", f"--report-json={report}", storage, "--benchmark-save=base",
                  cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    benchmarks = json.loads(bench.read_text())["benchmarks"]
    assert len(benchmarks) == 2 * 2 * 3  # names x (fwd, fwd+bwd) x (eager, function, xla)
    for b in benchmarks:
        e = b["extra_info"]
        assert EXTRA_KEYS <= set(e), sorted(EXTRA_KEYS - set(e))
        assert e["device_kind"] == "GPU" or e["note"] == "no GPU visible: timing the CPU"
        assert e["time_s"] == pytest.approx(b["stats"]["min"])
        assert e["bandwidth_ratio"] == pytest.approx(e["time_s"] / e["bound_s"])
        assert e["bytes"] > 0 and e["bandwidth_Bps"] > 0
    assert {b["extra_info"]["mode"] for b in benchmarks} == {"eager", "function", "xla"}
    results = [r for r in json.loads(report.read_text())["results"] if r["category"] == "timing"]
    assert len(results) == len(benchmarks)
    for r in results:
        assert r["status"] == "passed"
        assert {"time_s", "bound_s", "bandwidth_ratio", "bytes", "device"} <= set(r["extra"])

    # 2. A slowed-down focal_loss fails the baseline comparison; a NaN class_loss_cls fails its timing test.
    (tmp_path / "slow_losses.py").write_text(SLOW_IMPL)
    slow = _pytest("--impl=./slow_losses.py", "--benchmark-only", "--mode=eager", "-k",
                   "(focal_loss or class_loss_cls) and not fwdbwd", storage, "--benchmark-compare=0001",
                   "--benchmark-compare-fail=min:50%", f"--report-json={report}", cwd=tmp_path)
    out = slow.stdout + slow.stderr
    assert slow.returncode != 0, out[-4000:]
    regressed = re.search(r"Performance has regressed:\n((?:\t.*\n?)+)", out)  # one line per regressed benchmark
    assert regressed and "test_timing[focal_loss" in regressed.group(1), out[-4000:]
    status = {r["name"]: r["status"] for r in json.loads(report.read_text())["results"]}
    assert status == {"focal_loss": "passed", "class_loss_cls": "failed"}
    assert "non-finite" in out


class _Config(SimpleNamespace):
    def getoption(self, name: str, default=None):
        return self.options.get(name, default)


class _Item(SimpleNamespace):
    def get_closest_marker(self, name: str):
        return object() if name in self.markers else None


@pytest.mark.parametrize(("options", "kept"), [
    ({}, ["value"]),
    ({"--timing": True}, ["value", "timing"]),
    ({"--benchmark-only": True}, ["value", "timing"]),
    ({"--benchmark-enable": True}, ["value", "timing"]),
])
def test_timing_tests_deselected_unless_asked_for(options, kept):
    deselected = []
    config = _Config(options=options, stash={},
                     hook=SimpleNamespace(pytest_deselected=lambda items: deselected.extend(items)))
    items = [_Item(name="value", markers={"value"}), _Item(name="timing", markers={"timing"})]
    plugin.pytest_collection_modifyitems(config, items)
    assert [i.name for i in items] == kept
    assert [i.name for i in deselected] == ([] if "timing" in kept else ["timing"])


def test_sizes_and_bytes():
    prod = {c.id for c in timing.cases("production")}
    assert {"compute_loss-416-b8", "compute_loss-416-b32", "rpn_loss_regr-1x38x50x9", "class_loss_cls-1x256x21",
            "focal_loss-8x128x128x80", "loss-8x128x128x80-100obj"} <= prod
    assert {c.name for c in timing.cases("tiny")} == set(timing.timed_names())
    case = next(c for c in timing.cases("tiny") if c.name == "focal_loss")
    ex = case.example()
    n = ex["hm_pred"].size
    assert timing.bytes_moved(case.contract, ex, [()], "fwd", "float32") == 4 * (2 * n + 1)
    assert timing.bytes_moved(case.contract, ex, [()], "fwd+bwd", "float16") == 2 * (2 * n + 1 + 1 + n)


@pytest.mark.parametrize(("options", "ignored"), [({}, True), ({"--timing": True}, None),
                                                  ({"--benchmark-only": True}, None)])
def test_timing_module_not_collected_unless_asked_for(options, ignored):
    config = _Config(options=options, stash={})
    assert plugin.pytest_ignore_collect(plugin.TIMING_MODULE, config) is ignored
    assert plugin.TIMING_MODULE.is_file()
    assert plugin.pytest_ignore_collect(plugin.TIMING_MODULE.with_name("test_value.py"), config) is None
