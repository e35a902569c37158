"""``python -m conformance sweep``: the suite over many Hypothesis seeds and dtypes, one table of false failures.

The project's own certification runs: a known-correct implementation (the bundled reference) under the thorough
profile with seed after seed, in every dtype.  Every failure there is a false failure of the tolerance model.
Each (seed, dtype) run is split into ``--shards`` parts run side by side (``--shard=K/N``), or given
``--workers`` pytest-xdist workers; ``--jobs`` runs that many pytest processes at once.  Each run writes its
``--report-json`` under ``--out``; the table counts, per contract name and dtype, the seeds in which any check
failed (failed, error, timeout, crashed) and lists the categories.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_PROFILE = "conformance-thorough"


def seeds(text: str) -> list[int]:
    """``"1-5"``, ``"1,3,7"`` or ``"1-3,10"`` as a list of seeds; ``ValueError`` naming the problem."""
    out: list[int] = []
    for part in str(text).split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            a, b = int(lo), int(hi or lo)
        except ValueError:
            raise ValueError(f"--seeds: expected seeds like 1-5 or 1,3,7, got {text!r}") from None
        if b < a:
            raise ValueError(f"--seeds: empty range {part.strip()!r}")
        out += [s for s in range(a, b + 1) if s not in out]
    return out


def add_parser(sub: Any) -> None:
    """The ``sweep`` sub-command's arguments."""
    p = sub.add_parser("sweep", help="false failures of a correct implementation over seeds and dtypes",
                       description=__doc__.split("\n\n")[1].replace("\n", " "))
    p.add_argument("--impl", default="conformance.targets.reference", help="a known-correct implementation "
                   "(default: the bundled reference)")
    p.add_argument("--seeds", default="1", help="Hypothesis seeds: 1-5, 1,3,7 (default 1)")
    p.add_argument("--dtype", action="append", metavar="DTYPE",
                   help="dtypes, repeatable or comma-separated (default: all four)")
    p.add_argument("--profile", default=DEFAULT_PROFILE, help=f"Hypothesis profile (default {DEFAULT_PROFILE})")
    p.add_argument("--shards", type=int, default=1, help="split each run into N shards (--shard=K/N)")
    p.add_argument("--workers", default=None, help="pytest-xdist workers per run (-n)")
    p.add_argument("--jobs", type=int, default=1, help="pytest processes at once (default 1)")
    p.add_argument("--out", default="conformance-sweep", help="where the runs' JSON go")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER,
                   help="after --: more pytest options for every run (e.g. -- -k focal -m value)")


def commands(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """(json path, pytest command) for every seed, dtype and shard."""
    from conformance.plugin import DTYPE_CHOICES

    dtypes = [d.strip() for item in (args.dtype or DTYPE_CHOICES) for d in item.split(",") if d.strip()]
    bad = [d for d in dtypes if d not in DTYPE_CHOICES]
    if bad:
        raise ValueError(f"--dtype: expected some of {', '.join(DTYPE_CHOICES)}, got {', '.join(bad)}")
    if args.shards < 1 or args.jobs < 1:
        raise ValueError("--shards and --jobs: expected at least 1")
    extra = [a for a in args.pytest_args if a != "--"]
    out = []
    for seed in seeds(args.seeds):
        for dtype in dtypes:
            for k in range(1, args.shards + 1):
                tag = f"-shard{k}of{args.shards}" if args.shards > 1 else ""
                path = str(Path(args.out) / f"seed{seed}-{dtype}{tag}.json")
                cmd = [sys.executable, "-m", "pytest", "--pyargs", "conformance", f"--impl={args.impl}",
                       f"--hypothesis-profile={args.profile}", f"--hypothesis-seed={seed}", f"--dtype={dtype}",
                       "-p", "no:cacheprovider", "-q", f"--report-json={path}",
                       *([f"--shard={k}/{args.shards}"] if args.shards > 1 else []),
                       *(["-n", str(args.workers)] if args.workers else []), *extra]
                out.append((path, cmd))
    return out


def run_all(cmds: Sequence[tuple[str, list[str]]], jobs: int) -> None:
    """Run the commands, ``jobs`` at a time, printing one line as each ends."""
    pending, running = list(cmds), []
    env = dict(os.environ, PYTHONHASHSEED=os.environ.get("PYTHONHASHSEED", "0"))
    while pending or running:
        while pending and len(running) < jobs:
            path, cmd = pending.pop(0)
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            running.append((path, time.perf_counter(),
                            subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)))
        time.sleep(0.2)
        for entry in [e for e in running if e[2].poll() is not None]:
            running.remove(entry)
            print(f"{entry[0]}: exit {entry[2].returncode} in {time.perf_counter() - entry[1]:.0f} s", flush=True)


def table(paths: Sequence[str]) -> list[str]:
    """Per name and dtype: seeds with a failing check out of the seeds run, and the failing categories."""
    from conformance.reporting.merge import FAILS, load

    runs: dict[tuple[str, str], set[str]] = {}
    failed: dict[tuple[str, str], dict[str, set[str]]] = {}
    for path in paths:
        if not Path(path).exists():
            print(f"{path}: missing (the run wrote no JSON)", file=sys.stderr)
            continue
        part = load(path)
        seed = str((part.identity.get("options") or {}).get("hypothesis-seed"))
        for r in part.results:
            runs.setdefault((r.name, r.dtype), set()).add(seed)
            if r.status in FAILS:
                failed.setdefault((r.name, r.dtype), {}).setdefault(r.category, set()).add(seed)
    rows = [("name", "dtype", "false failures", "categories (seeds)")]
    for (name, dtype), cats in sorted(failed.items()):
        n = len(set().union(*cats.values()))
        rows.append((name, dtype, f"{n}/{len(runs[(name, dtype)])} seeds",
                     "; ".join(f"{c} ({','.join(sorted(s, key=int))})" for c, s in sorted(cats.items()))))
    total = sum(len(s) for s in runs.values())
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}" for r in rows] if failed else []
    return [*lines, f"{len(failed)} of {len(runs)} name/dtype pairs had a false failure "
                    f"({total} name/dtype/seed runs)"]


def main(args: argparse.Namespace) -> int:
    """Run the sweep and print the table; exit 1 if any false failure, 2 on bad arguments."""
    try:
        cmds = commands(args)
    except ValueError as exc:
        print(f"error: sweep: {exc}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    run_all(cmds, args.jobs)
    lines = table([p for p, _ in cmds])
    print("\n".join(lines))
    print(f"{len(cmds)} pytest run(s) in {time.perf_counter() - t0:.0f} s")
    return 1 if len(lines) > 1 else 0
