"""Replay a serial run's per-test durations through pytest-xdist's ``load`` scheduler (docs/benchmarks.md).

    cd /tmp && pytest --pyargs conformance --impl=conformance.targets.reference -p no:cacheprovider -q \\
        --durations=0 > durations.txt
    pytest --pyargs conformance --impl=conformance.targets.reference -p no:cacheprovider -q --collect-only \\
        | grep :: > collected.txt
    python tests/bench_xdist_replay.py durations.txt collected.txt --workers 2 4 8 16

Prints, per worker count, the speed-up of the checks alone (start-up excluded) in
collection order and in the order the workers use (``conformance.parallel.xdist_order``).
The scheduler model follows pytest-xdist 3.8's ``LoadScheduling`` (first batches of
``n // workers // 4`` items, then refills of one or two when a worker runs low).
"""

from __future__ import annotations

import argparse
import heapq
import re
import types

from conformance import parallel, plugin


def durations(path: str) -> dict[str, float]:
    """Seconds per test id (setup + call + teardown) from pytest's ``--durations=0`` output."""
    out: dict[str, float] = {}
    for line in open(path, encoding="utf-8"):
        m = re.match(r"\s*([\d.]+)s (?:call|setup|teardown)\s+(\S+)", line)
        if m:
            out[m.group(2)] = out.get(m.group(2), 0.0) + float(m.group(1))
    return out


def as_item(nodeid: str) -> types.SimpleNamespace:
    """A stand-in for a collected suite item, enough for ``plugin.expected_cost``."""
    category = nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
    name = nodeid.split("[", 1)[1].split("-", 1)[0]
    return types.SimpleNamespace(nodeid=nodeid, module=types.SimpleNamespace(__name__=f"conformance.suite.{category}"),
                                 callspec=types.SimpleNamespace(params={"contract": types.SimpleNamespace(name=name)}))


def makespan(order: list[str], seconds: dict[str, float], workers: int) -> float:
    """Wall time of the checks on ``workers`` workers under the load scheduler's rules."""
    d = [seconds.get(i, 0.003) for i in order]  # pytest hides durations under 5 ms
    pending = list(range(len(order)))
    queue: dict[int, list[int]] = {w: [] for w in range(workers)}
    first = max(len(order) // workers // 4, 2)
    for w in range(workers):
        queue[w] += pending[:first]
        del pending[:first]
    events = [(d[queue[w][0]], w) for w in range(workers) if queue[w]]
    heapq.heapify(events)
    end = 0.0
    while events:
        now, w = heapq.heappop(events)
        done = queue[w].pop(0)
        end = max(end, now)
        if pending:
            low, high = max(2, len(pending) // workers // 4), max(2, len(pending) // workers // 2)
            if len(queue[w]) < low and not (d[done] >= 0.1 and len(queue[w]) >= 2):
                k = min(high - len(queue[w]), max(2 - len(queue[w]), len(order)))
                queue[w] += pending[:k]
                del pending[:k]
        if queue[w]:
            heapq.heappush(events, (now + d[queue[w][0]], w))
    return end


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("durations")
    p.add_argument("collected")
    p.add_argument("--workers", type=int, nargs="+", default=[2, 4, 8, 16])
    args = p.parse_args(argv)
    seconds = durations(args.durations)
    collected = [line.strip() for line in open(args.collected, encoding="utf-8") if "::" in line]
    serial = sum(seconds.get(i, 0.003) for i in collected)
    print(f"serial: {serial:.1f} s of checks, {len(collected)} tests; longest {max(seconds.values()):.1f} s")
    print("| workers | collection order | xdist_order |\n|---|---|---|")
    for n in args.workers:
        ours = [i.nodeid for i in parallel.xdist_order([as_item(c) for c in collected], n, plugin.expected_cost)]
        print(f"| {n} | {serial / makespan(collected, seconds, n):.2f}x | {serial / makespan(ours, seconds, n):.2f}x |")


if __name__ == "__main__":
    main()
