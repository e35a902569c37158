"""Where the wall time of one gate run goes, process by process (docs/benchmarks.md, "Parallel runs").

    python tests/bench_timeline.py                 # serial run of the reference target
    python tests/bench_timeline.py -n 2            # the same under pytest-xdist
    python tests/bench_timeline.py -n 2 --impl=mypkg.losses -k compute_loss

Runs the gate with this file loaded as a pytest plugin (``-p bench_timeline``), which appends a JSON line per
event (configured, collected, each test's call, session finished, exit) to a file, then prints the phases:
the controller's start-up, each worker's start-up, the checks (first call to last, with the summed call
time), and the controller's finish and exit.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

_OUT = os.environ.get("BENCH_TIMELINE_OUT")
_T0 = float(os.environ.get("BENCH_TIMELINE_T0", "0") or 0)


def _who() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _event(name: str, **extra: object) -> None:
    if _OUT:
        with open(_OUT, "a", encoding="utf-8") as f:
            f.write(json.dumps({"event": name, "who": _who(), "t": time.time() - _T0, **extra}) + "\n")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    _event("configured")
    atexit.register(_event, "exit")  # registered before the suite's own handlers: runs after them


def pytest_collection_finish(session: pytest.Session) -> None:
    _event("collected")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and not hasattr(report, "node"):  # only where it ran (xdist adds .node on the controller)
        _event("call", start=report.start - _T0, stop=report.stop - _T0)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    _event("finishing")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    _event("unconfigured")


def phases(events: list[dict], wall: float) -> list[str]:
    """Readable lines: per process its start-up and checks; the controller's finish."""
    by: dict[str, list[dict]] = {}
    for e in events:
        by.setdefault(e["who"], []).append(e)
    lines = []
    for who, es in sorted(by.items(), key=lambda kv: kv[0] != "main"):
        first = {e["event"]: e["t"] for e in reversed(es)}
        calls = [e for e in es if e["event"] == "call"]
        line = f"{who:5s} configured {first.get('configured', float('nan')):6.2f} s"
        if calls:
            start, stop = min(c["start"] for c in calls), max(c["stop"] for c in calls)
            summed = sum(c["stop"] - c["start"] for c in calls)
            line += f", checks {start:6.2f} → {stop:6.2f} s ({len(calls)} tests, calls summed {summed:.1f} s)"
        nan = float("nan")
        line += f", finishing {first.get('finishing', nan):6.2f} s, exit {first.get('exit', nan):6.2f} s"
        lines.append(line)
    lines.append(f"wall {wall:.2f} s")
    return lines


def main(argv: list[str]) -> None:
    args = list(argv)
    if not any(a.startswith("--impl") for a in args):
        args.append("--impl=conformance.targets.reference")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "events.jsonl"
        t0 = time.time()
        env = dict(os.environ, BENCH_TIMELINE_OUT=str(out), BENCH_TIMELINE_T0=repr(t0),
                   PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]))
        r = subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "conformance", "-p", "bench_timeline",
                            "-p", "no:cacheprovider", "-q", *args], env=env, cwd=tmp, capture_output=True, text=True)
        wall = time.time() - t0
        events = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    tail = [line for line in r.stdout.splitlines() if line.startswith(("time in checks", "FAILED", "ERROR"))]
    print("\n".join([*phases(events, wall), *tail, f"exit code {r.returncode}"]))


if __name__ == "__main__":
    main(sys.argv[1:])
