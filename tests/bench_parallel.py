"""Serial against pytest-xdist wall time of the default gate run, back to back (docs/benchmarks.md).

    python tests/bench_parallel.py                     # reference target, serial then -n 2, twice
    python tests/bench_parallel.py --workers 2 auto --rounds 3 --impl mypkg.losses

Each round runs the gate serially, then once per ``--workers`` value, and prints the wall
times, their ratio, the load average before each run and the suite's own summary line
("time in checks ...").  On a shared machine prefer the ratio within one round.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time


def run(impl: str, workers: str | None, extra: list[str]) -> tuple[float, str, int]:
    """Wall seconds, the suite's summary line and the exit code of one gate run."""
    cmd = [sys.executable, "-m", "pytest", "--pyargs", "conformance", f"--impl={impl}", "-p", "no:cacheprovider",
           "-q", *(["-n", workers] if workers else []), *extra]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=os.environ.get("TMPDIR", "/tmp"))
    wall = time.perf_counter() - t0
    summary = next((m.group(0) for m in re.finditer(r"time in checks .*", r.stdout)), "(no summary line)")
    failed = [line for line in r.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return wall, "\n    ".join([summary, *failed]), r.returncode


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--impl", default="conformance.targets.reference")
    p.add_argument("--workers", nargs="+", default=["2"])
    p.add_argument("--rounds", type=int, default=2)
    args, extra = p.parse_known_args(argv)
    for k in range(args.rounds):
        serial = None
        for workers in [None, *args.workers]:
            load = os.getloadavg()[0]
            wall, summary, rc = run(args.impl, workers, extra)
            serial = wall if workers is None else serial
            label = "serial" if workers is None else f"-n {workers}"
            ratio = f"  speed-up {serial / wall:.2f}x" if workers else ""
            print(f"round {k + 1} {label:8s} {wall:6.1f} s (exit {rc}, load before {load:.1f}){ratio}\n    {summary}",
                  flush=True)


if __name__ == "__main__":
    main()
