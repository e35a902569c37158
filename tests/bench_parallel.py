"""Serial against pytest-xdist wall time of the default gate run, back to back (docs/benchmarks.md).

    python tests/bench_parallel.py                     # reference target, serial then -n 2, twice
    python tests/bench_parallel.py --workers 2 auto --rounds 3 --impl mypkg.losses

Each round first measures what the machine itself gives two processes (``machine_pair``: a
CPU-bound Python loop alone, then two copies at once, best of three each; on a shared virtual
machine two copies can take longer each than one alone), then runs the gate serially and once per ``--workers`` value,
and prints the wall times, their ratio, the load average before each run and the suite's own
summary line ("time in checks ...").  On a shared machine prefer the ratios within one round.
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


BURN = ("import time\nt = time.perf_counter()\ns = 0\nfor i in range(10_000_000):\n    s += i * i\n"
        "print(time.perf_counter() - t)")


def machine_pair(tries: int = 3) -> tuple[float, float]:
    """Seconds of one CPU-bound Python process alone, and of each of two run at once: the best of ``tries``."""
    def start() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", BURN], stdout=subprocess.PIPE, text=True)

    alone = min(float(start().communicate()[0]) for _ in range(tries))
    pairs = []
    for _ in range(tries):
        pair = [start(), start()]
        pairs.append(max(float(p.communicate()[0]) for p in pair))
    return alone, min(pairs)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--impl", default="conformance.targets.reference")
    p.add_argument("--workers", nargs="+", default=["2"])
    p.add_argument("--rounds", type=int, default=2)
    args, extra = p.parse_known_args(argv)
    for k in range(args.rounds):
        alone, pair = machine_pair()
        print(f"round {k + 1} machine: a CPU-bound loop takes {alone:.2f} s alone, {pair:.2f} s as a pair (best of 3): "
              f"two processes do {2 * alone / pair:.2f}x the work of one", flush=True)
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
