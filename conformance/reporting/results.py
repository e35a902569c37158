"""The one result model every output (terminal summary, JSON, HTML) reads."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

CATEGORIES = ("value", "gradient", "stability", "badinput", "regression", "timing")
STATUSES = ("passed", "failed", "hazard", "not provided", "skipped", "error", "expected", "unexpectedly passing",
            "timeout", "crashed")
# worst first when aggregating over dtypes and modes; "expected" is a failure declared with --expect, and
# "unexpectedly passing" a declared failure that no longer fails (it fails the run)
# "timeout": the test ran past its --timeout; "crashed": its process died (under pytest-xdist)
ORDER = {"crashed": 9, "timeout": 8, "failed": 7, "unexpectedly passing": 6, "error": 5, "expected": 4, "hazard": 3,
         "passed": 2, "skipped": 1, "not provided": 0}


@dataclass
class CheckResult:
    """Outcome of one check category for one contract name, dtype and mode."""

    name: str
    family: str
    category: str
    dtype: str
    mode: str
    status: str = "passed"
    examples: int = 0
    max_abs: float = 0.0
    max_rel: float = 0.0
    max_ulp: int = 0
    conventions: list[str] | None = None
    diagnosis: str | None = None
    message: str | None = None
    reproducer: str | None = None
    inputs: dict[str, Any] | None = None
    samples: list[tuple[float, float]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    expectation: str | None = None  # the --expect entry's reason, for "expected" and "unexpectedly passing"

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=_default)

    @classmethod
    def from_json(cls, text: str) -> CheckResult:
        return cls(**json.loads(text))


def _default(o: Any) -> Any:
    try:
        import numpy as np

        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, np.generic):
            return o.item()
    except ImportError:  # pragma: no cover
        pass
    return str(o)


class Recorder:
    """Accumulates per-example statistics for one :class:`CheckResult`."""

    MAX_SAMPLES = 400

    def __init__(self, result: CheckResult):
        self.result = result
        self._conventions: set[str] | None = None

    def example(self, max_abs: float, max_rel: float, max_ulp: int, magnitude: float | None = None) -> None:
        r = self.result
        r.examples += 1
        r.max_abs = max(r.max_abs, _finite(max_abs))
        r.max_rel = max(r.max_rel, _finite(max_rel))
        r.max_ulp = max(r.max_ulp, int(max_ulp))
        if magnitude is not None and len(r.samples) < self.MAX_SAMPLES:
            r.samples.append((float(magnitude), _finite(max_rel)))

    def conventions(self, matched: set[str]) -> None:
        self._conventions = set(matched) if self._conventions is None else self._conventions & matched
        self.result.conventions = sorted(self._conventions)


def _finite(x: float) -> float:
    x = float(x)
    return x if x == x and abs(x) != float("inf") else 1e300


def summarize(results: list[CheckResult]) -> dict[str, dict[str, str]]:
    """name -> category -> worst status over dtypes and modes."""
    order = ORDER
    table: dict[str, dict[str, str]] = {}
    for r in results:
        row = table.setdefault(r.name, {})
        cur = row.get(r.category)
        if cur is None or order[r.status] > order[cur]:
            row[r.category] = r.status
    return table
