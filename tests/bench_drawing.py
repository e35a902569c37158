"""Seconds spent drawing inputs per contract name, as the gate draws them (docs/benchmarks.md).

    python tests/bench_drawing.py                 # every name: 25 realistic + 25 adversarial (float32) examples
    python tests/bench_drawing.py 60 compute_loss,loss

Only drawing: the test body does nothing, so the time is Hypothesis' generation plus the
strategies' own NumPy work (derandomized, no shrinking, no database).
"""

from __future__ import annotations

import sys
import time

from hypothesis import Phase, given, settings

from conformance.checks.profiles import HEALTH
from conformance.contracts import REGISTRY


def seconds(strategy, name: str, n: int) -> float:
    """Wall seconds to draw ``n`` examples of ``strategy`` under the gate's settings."""
    @settings(max_examples=n, derandomize=True, database=None, deadline=None, suppress_health_check=HEALTH,
              phases=(Phase.explicit, Phase.generate))
    @given(ex=strategy)
    def body(ex: dict) -> None:
        pass

    body.__name__ = body.__qualname__ = name
    t0 = time.perf_counter()
    body()
    return time.perf_counter() - t0


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 25
    names = argv[1].split(",") if len(argv) > 1 else list(REGISTRY)
    total = {"realistic": 0.0, "adversarial": 0.0}
    for name in names:
        c = REGISTRY[name]
        row = {"realistic": seconds(c.strategy(), f"value_{name}", n),
               "adversarial": seconds(c.adversarial("float32"), f"stability_{name}", n)}
        for k, v in row.items():
            total[k] += v
        print(f"{name:42s} realistic {row['realistic']:6.2f} s  adversarial {row['adversarial']:6.2f} s", flush=True)
    print(f"{'total':42s} realistic {total['realistic']:6.2f} s  adversarial {total['adversarial']:6.2f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
