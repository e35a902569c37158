"""The one result model every output (terminal summary, JSON, HTML) reads."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

CATEGORIES = ("value", "gradient", "stability", "badinput", "regression", "timing")
STATUSES = ("passed", "failed", "hazard", "not provided", "skipped", "error", "expected", "unexpectedly passing",
            "timeout", "crashed", "never ran")
# worst first when aggregating over dtypes and modes; "expected" is a failure declared with --expect, and
# "unexpectedly passing" a declared failure that no longer fails (it fails the run)
# "timeout": the test ran past its --timeout; "crashed": its process died (under pytest-xdist); "never ran": the
# run ended before the check started (a killed run, read by ``report merge``)
ORDER = {"crashed": 9, "timeout": 8, "failed": 7, "never ran": 6.5, "unexpectedly passing": 6, "error": 5,
         "expected": 4, "hazard": 3, "passed": 2, "skipped": 1, "not provided": 0}


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
    # max error / tolerance over all examples (the verdict: fails above 1; inf: a non-finite output where the exact
    # value is finite); None where not measured.  max_rel and max_ulp are over elements whose exact value exceeds
    # their tolerance (where they mean something), max_abs over all.
    max_ratio: float | None = None
    conventions: list[str] | None = None
    diagnosis: str | None = None
    message: str | None = None
    reproducer: str | None = None
    inputs: dict[str, Any] | None = None
    samples: list[tuple[float, float]] = field(default_factory=list)  # (max |output|, max relative error)
    ratio_samples: list[tuple[float, float]] = field(default_factory=list)  # (max |output|, max error / tolerance)
    extra: dict[str, Any] = field(default_factory=dict)
    expectation: str | None = None  # the --expect entry's reason, for "expected" and "unexpectedly passing"

    def to_json(self) -> str:
        """JSON with non-finite numbers as the strings ``"inf"``, ``"-inf"`` and ``"nan"`` (JSON has none)."""
        return json.dumps(json_safe(asdict(self)), default=_default, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> CheckResult:
        data = json.loads(text)
        for k in ("max_abs", "max_rel", "max_ratio"):
            if isinstance(data.get(k), str):
                data[k] = float(data[k])
        for k in ("samples", "ratio_samples"):
            data[k] = [tuple(float(x) for x in pair) for pair in data.get(k, [])]
        return cls(**data)


def json_safe(o: Any) -> Any:
    """``o`` with every non-finite float replaced by ``"inf"``, ``"-inf"`` or ``"nan"``."""
    if isinstance(o, float) and not math.isfinite(o):
        return "nan" if o != o else ("inf" if o > 0 else "-inf")
    if isinstance(o, dict):
        return {k: json_safe(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [json_safe(v) for v in o]
    try:
        import numpy as np

        if isinstance(o, np.floating):
            return json_safe(float(o))
    except ImportError:  # pragma: no cover
        pass
    return o


def _default(o: Any) -> Any:
    try:
        import numpy as np

        if isinstance(o, np.ndarray):
            return json_safe(o.tolist())
        if isinstance(o, np.generic):
            return json_safe(o.item())
    except ImportError:  # pragma: no cover
        pass
    return str(o)


class Recorder:
    """Accumulates per-example statistics for one :class:`CheckResult`."""

    MAX_SAMPLES = 400

    def __init__(self, result: CheckResult):
        self.result = result
        self._conventions: set[str] | None = None

    def example(self, max_abs: float, max_rel: float | None, max_ulp: int | None, magnitude: float | None = None,
                ratio: float | None = None) -> None:
        """One example's maxima; ``max_rel``/``max_ulp`` None where no exact value exceeds its tolerance."""
        r = self.result
        r.examples += 1
        r.max_abs = max(r.max_abs, float(max_abs)) if max_abs == max_abs else r.max_abs
        if max_rel is not None and max_rel == max_rel:
            r.max_rel = max(r.max_rel, float(max_rel))
            r.extra["relative_examples"] = r.extra.get("relative_examples", 0) + 1
        r.extra["relative_last"] = max_rel is not None  # the last (for a failure: the failing) example's
        if max_ulp is not None and max_ulp >= 0:
            r.max_ulp = max(r.max_ulp, int(max_ulp))
        if ratio is not None:
            r.max_ratio = float(ratio) if r.max_ratio is None else max(r.max_ratio, float(ratio))
        if magnitude is not None and len(r.samples) < self.MAX_SAMPLES:
            r.samples.append((float(magnitude), float(max_rel if max_rel is not None else 0.0)))
            if ratio is not None:
                r.ratio_samples.append((float(magnitude), float(ratio)))

    def comparisons(self, cmps: Any, magnitude: float | None = None) -> None:
        """One example judged by one or more :class:`~conformance.numerics.compare.Comparison` objects."""
        cmps = list(cmps)
        rels = [c.scaled_rel for c in cmps if c.scaled_rel is not None]
        ulps = [c.scaled_ulp for c in cmps if c.scaled_ulp is not None]
        self.example(max(c.max_abs for c in cmps), max(rels) if rels else None, max(ulps) if ulps else None,
                     magnitude=magnitude, ratio=max(c.max_ratio for c in cmps))
        sharp = [c.sharpness for c in cmps if getattr(c, "sharpness", None) is not None]
        samples = self.result.extra.setdefault("sharpness", [])
        if sharp and len(samples) < self.MAX_SAMPLES:
            samples.append(round(max(sharp), 6))

    def conventions(self, matched: set[str]) -> None:
        self._conventions = set(matched) if self._conventions is None else self._conventions & matched
        self.result.conventions = sorted(self._conventions)


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
