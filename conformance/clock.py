"""Where a check's time goes: the implementation's calls, the oracle, and the rest (drawing inputs, the suite).

Process-wide accumulators, read as differences around one check (:func:`span`), so they work the same
in a pytest-xdist worker; the shares travel to the controller in ``CheckResult.extra["seconds"]``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_TOTALS = {"impl": 0.0, "oracle": 0.0}
_DEPTH = {"impl": 0, "oracle": 0}


@contextmanager
def timed(bucket: str) -> Iterator[None]:
    """Add the wall time of the ``with`` body to ``bucket`` ("impl" or "oracle"); nested spans count once."""
    _DEPTH[bucket] += 1
    t0 = time.perf_counter()
    try:
        yield
    finally:
        _DEPTH[bucket] -= 1
        if not _DEPTH[bucket]:
            _TOTALS[bucket] += time.perf_counter() - t0


class TimedRunner:
    """A runner whose ``value`` / ``value_and_grad`` calls count as implementation time; all else delegates."""

    def __init__(self, runner: Any):
        self._runner = runner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runner, name)

    def value(self, *args: Any, **kw: Any) -> Any:
        with timed("impl"):
            return self._runner.value(*args, **kw)

    def value_and_grad(self, *args: Any, **kw: Any) -> Any:
        with timed("impl"):
            return self._runner.value_and_grad(*args, **kw)


@contextmanager
def span(into: dict[str, Any]) -> Iterator[None]:
    """Record in ``into["seconds"]`` the total, implementation and oracle seconds spent in the ``with`` body."""
    before = dict(_TOTALS)
    t0 = time.perf_counter()
    try:
        yield
    finally:
        into["seconds"] = {"total": time.perf_counter() - t0,
                           **{k: _TOTALS[k] - before[k] for k in _TOTALS}}


def shares(seconds: list[dict[str, float]]) -> dict[str, float]:
    """Summed seconds over checks: total, impl, oracle, other (inputs + suite) and the suite/impl ratio."""
    tot = {k: sum(s.get(k, 0.0) for s in seconds) for k in ("total", "impl", "oracle")}
    tot["other"] = max(tot["total"] - tot["impl"] - tot["oracle"], 0.0)
    tot["ratio"] = tot["total"] / tot["impl"] if tot["impl"] > 0 else float("nan")
    return tot
