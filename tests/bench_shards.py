"""Two shards side by side against one serial run, and the merge's own cost (docs/benchmarks.md, "Sharded runs").

    python tests/bench_shards.py                       # reference target, a small -k selection, twice
    python tests/bench_shards.py --rounds 3 --impl mypkg.losses -- -k "focal or giou" -m "value or gradient"

Each round runs the selection serially, then as ``--shard=1/2`` and ``--shard=2/2`` started together (two CI jobs
on one machine: the pair shares its cores as ``-n 2`` would), then each shard alone, one after the other (a shard's
time on a machine of its own, as on a CI matrix: the matrix's wall time is the longest shard's), then merges the
two parts with
``python -m conformance report merge``: JSON only, then JSON and HTML (the HTML's plots cost what a single run's
``--report`` costs), whole command and in-process.  Each round first measures what the machine gives two
processes (``bench_parallel.machine_pair``).  It prints the wall times and their ratios; compare the ratios within
one round on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SELECTION = ["-k", "sigmoid or softmax or smooth_l1 or focal", "-m", "value or gradient"]


def command(impl: str, out: Path, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", "--pyargs", "conformance", f"--impl={impl}", "-p", "no:cacheprovider",
            "-q", f"--report-json={out}", *extra]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--impl", default="conformance.targets.reference")
    p.add_argument("--rounds", type=int, default=2)
    args, extra = p.parse_known_args(argv)
    extra = [a for a in extra if a != "--"] or SELECTION
    tmp = Path(tempfile.mkdtemp(prefix="bench-shards-"))
    from bench_parallel import machine_pair

    for k in range(args.rounds):
        alone, pair = machine_pair()
        print(f"round {k + 1} machine: two CPU-bound processes do {2 * alone / pair:.2f}x the work of one", flush=True)
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        serial = subprocess.run(command(args.impl, tmp / "serial.json", extra), capture_output=True, text=True, cwd=tmp)
        t_serial = time.perf_counter() - t0
        t0 = time.perf_counter()
        procs = [subprocess.Popen(command(args.impl, tmp / f"shard{s}.json", [*extra, f"--shard={s}/2"]),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp) for s in (1, 2)]
        ends = []
        for proc in procs:
            proc.wait()
            ends.append(time.perf_counter() - t0)
        t_pair = max(ends)
        alone = []
        for s in (1, 2):
            t0 = time.perf_counter()
            subprocess.run(command(args.impl, tmp / f"alone{s}.json", [*extra, f"--shard={s}/2"]), capture_output=True,
                           cwd=tmp)
            alone.append(time.perf_counter() - t0)
        parts = [str(tmp / "shard1.json"), str(tmp / "shard2.json")]
        t0 = time.perf_counter()
        merge = subprocess.run([sys.executable, "-m", "conformance", "report", "merge", "--json", str(tmp / "m.json"),
                                *parts], capture_output=True, text=True, cwd=tmp)
        t_merge = time.perf_counter() - t0
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "conformance", "report", "merge", "--json", str(tmp / "m.json"),
                        "--html", str(tmp / "m.html"), *parts], capture_output=True, text=True, cwd=tmp)
        t_html = time.perf_counter() - t0
        from conformance.reporting.merge import merge as merge_in_process

        t0 = time.perf_counter()
        merge_in_process(parts, str(tmp / "m2.json"), None)
        t_inproc = time.perf_counter() - t0
        same = (json.loads((tmp / "m.json").read_text())["verdicts"] == json.loads((tmp / "serial.json").read_text())[
            "verdicts"]) if (tmp / "m.json").exists() else False
        checks = len(json.loads((tmp / "serial.json").read_text())["checks"])
        print(f"round {k + 1} (load before {load:.1f}, {checks} checks): serial {t_serial:.1f} s (exit "
              f"{serial.returncode}); two shards side by side {t_pair:.1f} s (shard ends {ends[0]:.1f} s, "
              f"{ends[1]:.1f} s): speed-up {t_serial / t_pair:.2f}x; each shard alone {alone[0]:.1f} s, "
              f"{alone[1]:.1f} s: "
              f"speed-up on two machines {t_serial / max(alone):.2f}x; merge (JSON) {t_merge:.2f} s whole command "
              f"(exit {merge.returncode}) = {t_merge / t_serial:.1%} of the serial run, {t_inproc:.3f} s in-process; "
              f"with the HTML {t_html:.2f} s; merged verdicts equal the serial run's: {same}", flush=True)


if __name__ == "__main__":
    main()
