"""The terminal summary: per contract name, which categories passed, failed, or were not provided."""

from __future__ import annotations

from conformance.clock import shares
from conformance.contracts import REGISTRY
from conformance.reporting.results import CATEGORIES, CheckResult, summarize

SYMBOL = {"passed": "pass", "failed": "FAIL", "hazard": "hazard", "not provided": "n/p", "skipped": "skip",
          "error": "ERROR", "expected": "expected", "unexpectedly passing": "XPASS", "timeout": "TIMEOUT",
          "crashed": "CRASHED"}


def render_summary(results: list[CheckResult], impl: str, provided: list[str] | None = None,
                   profile: str | None = None) -> list[str]:
    table = summarize(results)
    if not table:
        return []
    cats = [c for c in CATEGORIES if any(c in row for row in table.values())]
    width = max(len(n) for n in table) + 2
    header = f"conformance summary for {impl}" + (f" (Hypothesis profile {profile})" if profile else "")
    lines = ["", header, "name".ljust(width) + "".join(c.ljust(11) for c in cats)
             + "convention / diagnosis"]
    notes: dict[str, set[str]] = {}
    for r in results:
        if r.conventions:
            notes.setdefault(r.name, set()).add("matches " + " or ".join(r.conventions))
        elif r.conventions == [] and r.status == "passed":
            notes.setdefault(r.name, set()).add("mixed conventions")
        if r.diagnosis:
            notes.setdefault(r.name, set()).add(r.diagnosis)
    for name in REGISTRY:
        if name not in table:
            continue
        row = table[name]
        cells = "".join(SYMBOL.get(row.get(c, ""), "-").ljust(11) for c in cats)
        lines.append(name.ljust(width) + cells + "; ".join(sorted(notes.get(name, ()))))
    if provided is None:
        provided = [n for n, row in table.items() if any(s != "not provided" for s in row.values())]
    missing = [n for n in REGISTRY if n not in provided]
    lines.append(f"{len(provided)}/{len(REGISTRY)} contract names provided by {impl}"
                 + (f"; not covered: {', '.join(missing)}" if missing else ""))
    loose = sum(1 for r in results if r.extra.get("finiteness_only"))
    if loose:  # docs/tolerances.md, "Tolerances wider than the output's range"
        lines.append(f"only finiteness checked (tolerance wider than the output's range) in {loose} check(s)")
    secs = [r.extra["seconds"] for r in results if "seconds" in r.extra]
    if secs:  # docs/benchmarks.md, "Where a run's time goes"
        t = shares(secs)
        lines.append(f"time in checks {t['total']:.1f} s: implementation {t['impl']:.1f} s, oracle {t['oracle']:.1f} s "
                     f"({t['oracle'] / max(t['total'], 1e-9):.0%}), inputs and suite {t['other']:.1f} s; "
                     f"run / implementation time {t['ratio']:.1f}x")
    for status, head in (("expected", "expected failures (--expect)"),
                         ("unexpectedly passing", "declared failures that passed (XPASS: the run fails)")):
        rank = {n: i for i, n in enumerate(REGISTRY)}
        ordered = sorted((r for r in results if r.status == status), key=lambda r: (
            rank.get(r.name, len(rank)), CATEGORIES.index(r.category) if r.category in CATEGORIES else 99))
        declared = dict.fromkeys(f"  {r.name}/{r.category}: {r.expectation}" for r in ordered)
        if declared:
            lines += [f"{head}:", *declared]
    return lines
