"""Suite time per example against input size, per contract name (docs/benchmarks.md, "Where a run's time goes").

    python tests/bench_suite_scaling.py                       # every name, reference target, 30 examples each
    python tests/bench_suite_scaling.py --names compute_loss loss --examples 45 --impl mypkg.losses

For each name it draws ``--examples`` examples from the name's strategy as the gate does
(derandomized), timing each draw, and splits them by input size (total elements of the
array arguments) into thirds: the small, middle and large sizes the strategy draws.  Each
third is then run as the gradient check (value and VJP against the oracle, float32,
eager) on exactly those examples, and the table gives, per name and third, the median
size and the seconds per example: drawing (median), the implementation's calls, the oracle, and
the total.  A check with ``max_examples=N`` costs about N times the per-example total
(plus the pinned examples).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import time

import numpy as np
from hypothesis import Phase, given, settings

from conformance.checks import engine
from conformance.contracts import REGISTRY, Contract

engine.register_profiles()
GATE = settings.get_profile(engine.DEFAULT_PROFILE)


def size(ex: dict) -> int:
    """Total elements of the example's array arguments (lists of arrays included)."""
    return int(sum(np.size(a) for v in ex.values() for a in (v if isinstance(v, list) else [v])
                   if isinstance(a, np.ndarray)))


def drawn(contract: Contract, n: int) -> list[tuple[dict, float]]:
    """``n`` examples drawn as the gate draws them, each with the seconds since the previous one (its draw)."""
    out: list[tuple[dict, float]] = []
    last = [time.perf_counter()]

    @settings(GATE, max_examples=n, phases=(Phase.generate,))
    @given(ex=contract.strategy())
    def body(ex: dict) -> None:
        now = time.perf_counter()
        out.append((ex, now - last[0]))
        last[0] = time.perf_counter()

    body.__name__ = body.__qualname__ = f"gradient_{contract.name}_float32_eager"
    body()
    return out


def per_example(contract: Contract, impl: object, examples: list[dict]) -> dict[str, float]:
    """Seconds per example of the gradient check on exactly ``examples`` (total, impl, oracle)."""
    only = dataclasses.replace(contract, pinned=lambda: examples)
    result = engine.run_check(only, "gradient", impl, "impl", "float32", "eager",
                              hypothesis_settings=settings(GATE, phases=(Phase.explicit,)))
    return {k: v / len(examples) for k, v in result.extra["seconds"].items()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--impl", default="conformance.targets.reference")
    p.add_argument("--names", nargs="*", default=None)
    p.add_argument("--examples", type=int, default=30)
    args = p.parse_args(argv)
    impl = importlib.import_module(args.impl)
    names = args.names or [n for n in REGISTRY if getattr(impl, n, None) is not None]
    print("| name | third | median elements | draw ms | implementation ms | oracle ms | total ms per example |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        c = REGISTRY[name]
        pool = sorted(drawn(c, args.examples), key=lambda e: size(e[0]))
        thirds = np.array_split(np.arange(len(pool)), 3)
        per_example(c, impl, [pool[0][0]])  # warm-up: the first call of a function is not timed
        for label, idx in zip(("small", "middle", "large"), thirds, strict=True):
            exs = [pool[i][0] for i in idx]
            draw_s = float(np.median([pool[i][1] for i in idx]))  # median: the first gap includes start-up
            s = per_example(c, impl, exs)
            med = int(np.median([size(e) for e in exs]))
            print(f"| `{name}` | {label} | {med} | {1e3 * draw_s:.1f} | {1e3 * s['impl']:.1f} | "
                  f"{1e3 * s['oracle']:.1f} | {1e3 * (s['total'] + draw_s):.1f} |", flush=True)


if __name__ == "__main__":
    main()
