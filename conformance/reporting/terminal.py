"""The terminal summary: per contract name, which categories passed, failed, or were not provided."""

from __future__ import annotations

from typing import Any

from conformance.clock import shares
from conformance.reporting.results import CATEGORIES, CheckResult, summarize

SYMBOL = {"passed": "pass", "failed": "FAIL", "hazard": "hazard", "not provided": "not provided", "skipped": "skip",
          "error": "ERROR", "expected": "expected", "unexpectedly passing": "XPASS", "timeout": "TIMEOUT",
          "crashed": "CRASHED", "never ran": "NEVER RAN"}
# what each cell means, in a few words (always shown: the first six; the others when they occur)
LEGEND = {
    "passed": "within the derived tolerance on every example",
    "failed": "outside the tolerance, or a contract broken (details above)",
    "hazard": "the exact value is undefined or unrepresentable in the dtype: reported, not failed (--strict-hazards)",
    "expected": "a failure declared with --expect",
    "not provided": "the implementation does not define the name",
    "skipped": "no case of this category for the name (e.g. no bad-input case), or none in this dtype or mode",
    "error": "an error in the suite itself",
    "unexpectedly passing": "a failure declared with --expect passed: the run fails",
    "timeout": "ran past --timeout",
    "crashed": "the process running the implementation died",
    "never ran": "the run ended before this check started (a killed run's partial JSON, report merge)",
}
ALWAYS = ("passed", "failed", "hazard", "expected", "not provided", "skipped")
CELL = 11


def convention_note(results: list[CheckResult]) -> str | None:
    """The clipping convention one name matched over all its checks, said once."""
    sets = [set(r.conventions) for r in results if r.conventions]
    mixed = any(r.conventions == [] and r.status == "passed" for r in results)
    if not sets:
        return "mixed conventions" if mixed else None
    common = set.intersection(*sets)
    if mixed or not common:
        return "mixed conventions"
    return "matches " + " or ".join(sorted(common)) + (" (indistinguishable here)" if len(common) > 1 else "")


def regression_gaps(results: list[CheckResult], names: list[str]) -> list[str]:
    """One line per fixture set and dtype in which some provided name had no case to replay."""
    gaps: dict[tuple[str, str], list[str]] = {}
    replayed: dict[tuple[str, str], int] = {}
    for r in results:
        if r.category == "regression" and r.status != "not provided":
            key = (str(r.extra.get("fixtures", "fixture set")), r.dtype)
            if r.extra.get("no_cases"):
                gaps.setdefault(key, []).append(r.name)
            else:
                replayed[key] = replayed.get(key, 0) + 1
    lines = []
    for (label, dtype), missing in sorted(gaps.items()):
        missing = sorted(set(missing), key=lambda n: names.index(n) if n in names else len(names))
        label = label if label == "committed set" else f"fixture set {label}"
        if not replayed.get((label, dtype)):
            lines.append(f"regression: the {label} has no {dtype} case: nothing replayed in {dtype}")
        else:
            lines.append(f"regression: the {label} has no {dtype} case of {', '.join(missing)} (not replayed)")
    return lines


def render_summary(results: list[CheckResult], impl: str, provided: list[str] | None = None,
                   profile: str | None = None, names: list[str] | None = None) -> list[str]:
    """The table of names that ran (worst status per category), the names not provided on one line, a legend.

    ``names``: every contract name in registry order (default: the registry of this process).
    """
    table = summarize(results)
    if not table:
        return []
    if names is None:
        from conformance.contracts import REGISTRY

        names = list(REGISTRY)
    if provided is None:
        provided = [n for n, row in table.items() if any(s != "not provided" for s in row.values())]
    shown = [n for n in names if n in table and (n in provided or any(s != "not provided"
                                                                       for s in table[n].values()))]
    shown += [n for n in table if n not in names]
    cats = [c for c in CATEGORIES if any(c in table[n] for n in shown)]
    width = max((len(n) for n in shown), default=4) + 2
    header = f"conformance summary for {impl}" + (f" (Hypothesis profile {profile})" if profile else "")
    lines = ["", header]
    if shown:
        lines.append("name".ljust(width) + "".join(c.ljust(CELL) for c in cats) + "convention / diagnosis")
    for name in shown:
        rs = [r for r in results if r.name == name]
        notes = [n for n in [convention_note(rs)] if n] + sorted({r.diagnosis for r in rs if r.diagnosis})
        row = table[name]
        cells = "".join(SYMBOL.get(row.get(c, ""), "-").ljust(CELL) for c in cats)
        lines.append(name.ljust(width) + cells + "; ".join(notes))
    missing = [n for n in names if n not in provided]
    lines.append(f"{len(provided)}/{len(names)} contract names provided by {impl}")
    if missing:
        lines.append(f"not provided ({len(missing)}): {', '.join(missing)}")
    loose = sum(1 for r in results if r.extra.get("finiteness_only") and r.category != "stability")
    if loose:  # docs/tolerances.md, "Tolerances wider than the output's range"
        lines.append(f"only finiteness checked (tolerance wider than the output's range) in {loose} check(s)")
    extreme = sum(1 for r in results if r.extra.get("finiteness_only") and r.category == "stability")
    if extreme:  # the stability tier's extremes are ill-conditioned by design
        lines.append(f"stability: {extreme} check(s) had extreme examples whose tolerance exceeds the output's range "
                     "(only their finiteness is judged there)")
    lines += _counted(results, "wide", "elements judged for finiteness only (tolerance wider than the output's "
                      "range; the rest of their example judged)")  # a pinned example with an unresolvable element
    lines += _counted(results, "below_resolution", "value examples below the dtype's resolution (the formula's own "
                      "rounding bound at least the value at every element), drawn again", category=False)
    lines += _counted(results, "unresolvable", "examples beyond the dtype's resolution (value tolerance wider than "
                      "the output's range), drawn again")
    empty = [f"{r.name} ({r.dtype} {r.category})" for r in results
             if r.category in ("value", "gradient") and r.status == "passed" and r.examples
             and not r.extra.get("relative_examples")]
    if empty:  # the draws held only undefined values, zeros or values within rounding of 0: nothing was judged
        lines.append("checks whose examples had no exact value above its tolerance (only NaN, 0 or values within "
                     f"rounding of 0: they judged little beyond finiteness): {', '.join(empty)}")
    lines += _counted(results, "out_of_range", "regression cases out of the dtype's range (an input or a named "
                      "intermediate such as a box area beyond it: not judged, as the value and gradient tiers "
                      "discard such examples)")
    lines += _counted(results, "clip_overflow", "examples the clip constants make non-finite in the dtype (1 − 1e-7 "
                      "rounds to 1: FP16-CLIP, the stability tier's hazard), drawn again")
    coarse = [f"{r.name} ({r.dtype}{'' if r.mode == 'eager' else ', ' + r.mode}: {r.extra['coarse']} of {r.examples})"
              for r in sorted(results, key=lambda r: (names.index(r.name) if r.name in names else len(names), r.dtype))
              if r.extra.get("coarse")]
    if coarse:  # docs/tolerances.md, "Tolerances as large as the value"
        lines.append(f"value tolerance at least the value itself (0 and twice the value pass), examples: "
                     f"{', '.join(coarse)}")
    lines += hazard_lines(results, names)
    lines += regression_gaps(results, names)
    secs = [r.extra["seconds"] for r in results if "seconds" in r.extra]
    if secs:  # docs/benchmarks.md, "Where a run's time goes"
        t = shares(secs)
        lines.append(f"time in checks {t['total']:.1f} s: implementation {t['impl']:.1f} s, oracle {t['oracle']:.1f} s "
                     f"({t['oracle'] / max(t['total'], 1e-9):.0%}), inputs and suite {t['other']:.1f} s; "
                     f"run / implementation time {t['ratio']:.1f}x")
    for status, head in (("expected", "expected failures (--expect)"),
                         ("unexpectedly passing", "declared failures that passed (XPASS: the run fails)")):
        rank = {n: i for i, n in enumerate(names)}
        ordered = sorted((r for r in results if r.status == status), key=lambda r: (
            rank.get(r.name, len(rank)), CATEGORIES.index(r.category) if r.category in CATEGORIES else 99))
        declared = dict.fromkeys(f"  {r.name}/{r.category}: {r.expectation}" for r in ordered)
        if declared:
            lines += [f"{head}:", *declared]
    seen = {r.status for r in results}
    lines.append("legend:")
    lines += [f"  {SYMBOL[s]:<13}{LEGEND[s]}" for s in LEGEND if s in ALWAYS or s in seen]
    lines.append(f"  {'-':<13}category not run")
    return lines


# --- one failing test, as pytest prints it by default (--tb=auto) ----------------------------------------------------

HEAD_LINES = 24  # at most this many lines of the comparison and diagnosis
INPUT_LINES = 14  # and of the failing input


def hazard_lines(results: list[CheckResult], names: list[str]) -> list[str]:
    """One line per hazard id the run reported: where (name, category, dtypes), in how many elements; the reasons
    are in each check's message (--report, --report-json) and in docs/tolerances.md."""
    where: dict[str, dict[tuple[str, str], set[str]]] = {}
    count: dict[str, int] = {}
    for r in results:
        if r.status != "hazard":
            continue
        for hid, n in (r.extra.get("hazards") or {}).items():
            where.setdefault(hid, {}).setdefault((r.name, r.category), set()).add(r.dtype)
            count[hid] = count.get(hid, 0) + int(n)
    order = {n: i for i, n in enumerate(names)}

    def key(item: tuple) -> tuple:
        return order.get(item[0][0], len(order)), item[0]

    lines = [f"hazard {hid} ({count[hid]} element(s); reported, not failed): "
             + ", ".join(f"{n} {c} ({'/'.join(sorted(d))})" for (n, c), d in sorted(places.items(), key=key))
             for hid, places in sorted(where.items())]
    return lines + ["each hazard's reason, with an example: --report=PATH (or --report-json=PATH); the ids: "
                    "docs/tolerances.md"] if lines else []


def failure_text(result: CheckResult, reproducer: tuple[Any, Any] | None = None, frames: list[str] | None = None,
                 error: str | None = None) -> str:
    """The failure of one conformance test in at most about 50 lines, without the suite's own frames.

    The comparison (or the exception the implementation raised) and the diagnosis, where the contract is written,
    the smallest failing input found, the implementation's own frames when it raised, and the command that
    reproduces the failure.
    """
    from conformance.contracts.entry import reference
    from conformance.reporting.reproducer import decode, message_head
    from conformance.reporting.snippet import brief

    where = f"{result.name}: {result.category} check failed ({result.dtype}, {result.mode} mode)"
    head = [ln for ln in message_head(result.message or "").splitlines() if ln.strip()]
    if len(head) > HEAD_LINES:
        head = head[:HEAD_LINES] + [f"... ({len(head) - HEAD_LINES} more lines: --tb=long shows them)"]
    lines = [where, *head, f"Contract: {reference(result.name)}"]
    if frames:
        lines += ["The implementation raised it here:", *frames[-10:]]
    if result.inputs:
        message = result.message or ""
        if "A pinned example fails too" in message:
            how = "a pinned example fails too; this drawn one is smaller"
        elif "Falsifying explicit example" in message:
            how = "a pinned example; no drawn example failed"
        else:
            how = "shrunk by Hypothesis"
        lines.append(f"Smallest failing input found (rounded to {result.dtype}; {how}):")
        inputs = [f"  {k} = {brief(decode(v))}" for k, v in result.inputs.items()]
        if len(inputs) > INPUT_LINES:
            inputs = inputs[:INPUT_LINES] + [f"  ... ({len(inputs) - INPUT_LINES} more inputs in the .npz)"]
        lines += inputs
    if result.extra.get("realistic"):  # the smallest input was degenerate: a failure where users live
        lines += str(result.extra["realistic"]).splitlines()
    if reproducer:
        py, npz = reproducer
        from conformance.reporting.reproducer import needs

        lines += [f"Reproduce (needs only {needs()} and your module; inputs and expected values in the .npz):",
                  f"  python {py}", f"  python {py} mypkg.fixed_losses   # the same check on another module"]
    elif error:
        lines.append(f"No reproducer: {error}")
    lines.append("Full traceback and Hypothesis report: --tb=long")
    return "\n".join(lines)


def _counted(results: list[CheckResult], key: str, text: str, category: bool = True) -> list[str]:
    """One summary line naming each check that counted ``extra[key]`` (the stability tier's extremes apart:
    ill-conditioned by design), or none; docs/tolerances.md explains each count."""
    where = [f"{r.name} ({r.dtype}{' ' + r.category if category else ''}: {r.extra[key]})" for r in results
             if r.extra.get(key) and r.category != "stability"]
    return [f"{text}: {', '.join(where)}"] if where else []
