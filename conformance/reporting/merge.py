"""``python -m conformance report merge``: the JSON of several runs (shards, dtypes, modes, frameworks) as one report.

A part is a ``--report-json`` file: the complete document of a run that ended, or the lines a killed run left
(:mod:`conformance.journal`).  The parts must be one run of one implementation: the same suite version,
implementation and judging options (profile, seed, ``-k``, ``-m``, ...; :data:`conformance.journal.JUDGING_OPTIONS`).
They may differ in their matrix cell (dtypes, mode, framework); the parts of one cell are either one unsharded
run or the shards 1..N of ``--shard=K/N``, each exactly once.  Anything else is refused, naming the files.

The merged report has the verdicts, summary table, coverage notes and exit status a single run of the whole matrix
would have.  A killed part adds a "crashed" result for each check it was running and a "never ran" result for each
check it did not reach, and fails the merge.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.reporting.results import CheckResult
from conformance.reporting.run_info import RunInfo

JOURNAL = "conformance_journal"  # the first line of a partial part (conformance.journal.JOURNAL)
FAILS = ("failed", "error", "unexpectedly passing", "timeout", "crashed", "never ran")
KILLED = ("the run ended while this check was running and left no result for it (killed: an abort or segfault in "
          "the implementation, the OOM killer, a CI job's time limit)")


class MergeError(ValueError):
    """The parts cannot be merged into one report: the message names the files and the difference."""


@dataclass
class Part:
    """One ``--report-json`` file."""

    path: Path
    identity: dict[str, Any]  # suite, impl, options, cell, shard (conformance.journal.identity)
    checks: list[str]  # the checks the part was to run
    results: list[CheckResult]
    info: RunInfo | None = None  # None for a killed run's lines
    complete: bool = True
    exitstatus: int = 0
    running: list[str] = field(default_factory=list)  # killed: started, not ended
    never_ran: list[str] = field(default_factory=list)  # killed: not started

    @property
    def cell(self) -> tuple[tuple[str, ...], str, str]:
        """(dtypes, mode, framework): the resolved mode and framework where the part recorded them."""
        c = self.identity.get("cell") or {}
        mode = self.info.mode if self.info else c.get("mode", "default")
        return tuple(c.get("dtypes", ())), mode, c.get("framework", "auto")

    @property
    def where(self) -> str:
        """The cell as text: ``float32,float16/eager`` (and the framework where given)."""
        dtypes, mode, framework = self.cell
        return f"{','.join(dtypes)}/{mode}" + ("" if framework == "auto" else f"/{framework}")

    @property
    def label(self) -> str:
        s = self.identity.get("shard")
        return f"{self.path.name} ({self.where}" + (f", shard {s['index']}/{s['count']})" if s else ")")


def load(path: str | Path) -> Part:
    """Read one part: a complete JSON document or a killed run's JSON lines; ``MergeError`` naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MergeError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return _from_lines(path, text)
    if not isinstance(doc, dict) or "checks" not in doc or "results" not in doc:
        raise MergeError(f"{path}: not a --report-json file of this suite version (no 'checks'): rerun the part")
    if "parts" in doc:
        files = ", ".join(str(p.get("file")) for p in doc["parts"])
        raise MergeError(f"{path}: a merged report: merge the runs' own files ({files})")
    return Part(path, {k: doc.get(k) for k in ("suite", "impl", "options", "cell", "shard")}, list(doc["checks"]),
                [CheckResult.from_json(json.dumps(r)) for r in doc["results"]], RunInfo.from_json(doc["info"]),
                bool(doc.get("complete", True)), int(doc.get("exitstatus", 0)))


def _from_lines(path: Path, text: str) -> Part:
    lines = text.splitlines()
    try:
        head = json.loads(lines[0]) if lines else {}
    except json.JSONDecodeError:
        head = {}
    if JOURNAL not in head:
        raise MergeError(f"{path}: neither a conformance JSON document nor the lines of a conformance run")
    started, ended, results = [], set(), []
    for line in lines[1:]:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:  # the last line, cut short when the run was killed
            continue
        if "start" in entry:
            started.append(entry["start"])
        elif "end" in entry:
            ended.add(entry["end"])
        elif "result" in entry:
            results.append(CheckResult.from_json(json.dumps(entry["result"])))
    checks = list(head.get("checks", []))
    running = [c for c in started if c not in ended]
    never = [c for c in checks if c not in set(started)]
    results += [r for r in (_placeholder(c, "crashed", KILLED) for c in running) if r is not None]
    results += [r for r in (_placeholder(c, "never ran", "the run ended before this check started")
                            for c in never) if r is not None]
    return Part(path, {k: head.get(k) for k in ("suite", "impl", "options", "cell", "shard")}, checks, results,
                None, False, 1, running, never)


def _placeholder(check: str, status: str, message: str) -> CheckResult | None:
    from conformance.isolation import result_from_nodeid

    return result_from_nodeid(check, status, f"{message}: {check}")


def check(parts: list[Part]) -> None:
    """Refuse parts that are not one run: ``MergeError`` naming the files and what differs or is missing."""
    if not parts:
        raise MergeError("no parts given")
    first = parts[0]
    for key, what in (("suite", "suite version"), ("impl", "implementation"), ("options", "options")):
        for p in parts[1:]:
            if p.identity.get(key) != first.identity.get(key):
                a, b = first.identity.get(key), p.identity.get(key)
                if key == "options":
                    diff = sorted(k for k in {*(a or {}), *(b or {})} if (a or {}).get(k) != (b or {}).get(k))
                    a, b = {k: (a or {}).get(k) for k in diff}, {k: (b or {}).get(k) for k in diff}
                raise MergeError(f"{p.label} ran another {what} than {first.label}: {b} against {a}")
    cells: dict[tuple, list[Part]] = {}
    for p in parts:
        cells.setdefault(p.cell, []).append(p)
    for group in cells.values():
        shards = [p.identity.get("shard") for p in group]
        if None in shards:
            if len(group) > 1:
                raise MergeError(f"the same cell twice: {', '.join(p.label for p in group)}")
            continue
        counts = {s["count"] for s in shards}
        if len(counts) > 1:
            raise MergeError(f"shards of different splits (N = {sorted(counts)}): {', '.join(p.label for p in group)}")
        n = counts.pop()
        seen: dict[int, Part] = {}
        for p in group:
            k = p.identity["shard"]["index"]
            if k in seen:
                raise MergeError(f"shard {k}/{n} given twice: {seen[k].label} and {p.label}")
            seen[k] = p
        missing = [f"{k}/{n}" for k in range(1, n + 1) if k not in seen]
        if missing:
            raise MergeError(f"shard {', '.join(missing)} of {group[0].where} missing "
                             f"(given: {', '.join(p.label for p in group)})")
    dtypes_seen: dict[tuple[str, str, str], Part] = {}
    for p in parts:
        dtypes, mode, framework = p.cell
        for d in dtypes:
            other = dtypes_seen.setdefault((d, mode, framework), p)
            if other.cell != p.cell:
                raise MergeError(f"{d} in {mode} mode given by two runs: {other.label} and {p.label}")


def merged_info(parts: list[Part]) -> RunInfo:
    """One RunInfo for the matrix: the first complete part's, with every part's dtypes, modes and frameworks."""
    from conformance.plugin import DTYPE_CHOICES

    infos = [p.info for p in parts if p.info is not None]
    if not infos:  # only killed runs' lines: what the implementation provides is not known, so claim nothing
        names = list(dict.fromkeys(r.name for p in parts for r in p.results))
        base = RunInfo(parts[0].identity.get("impl") or "?", [], mode="?", names=names, provided=names)
    else:
        base = infos[0]
    dtypes = {d for p in parts for d in p.cell[0]}
    info = RunInfo.from_json(base.to_json())
    info.dtypes = [d for d in DTYPE_CHOICES if d in dtypes] + sorted(dtypes - set(DTYPE_CHOICES))
    info.mode = ", ".join(dict.fromkeys(p.cell[1] for p in parts))
    for key in ("framework", "backend"):
        values = list(dict.fromkeys(i.run.get(key) for i in infos if i.run.get(key)))
        if len(values) > 1:
            info.run[key] = ", ".join(values)
    if infos:
        info.provided = [n for n in info.names if any(n in i.provided for i in infos)]
        # every part's measured arithmetic, once per (dtype, source): a dtype matrix keeps each dtype's line
        seen = {(a.get("dtype"), a.get("source")): a for i in infos for a in i.arithmetic}
        info.arithmetic = list(seen.values())
    return info


def exit_status(parts: list[Part], results: list[CheckResult]) -> int:
    """1 where a single run would fail (a failing result; a part that failed or was killed), else a part's own."""
    strict = bool((parts[0].identity.get("options") or {}).get("strict-hazards"))
    if any(r.status in FAILS or (strict and r.status == "hazard") for r in results):
        return 1
    codes = [p.exitstatus for p in parts if p.exitstatus not in (0, 5) or not p.complete]
    if any(c == 1 for c in codes) or not all(p.complete for p in parts):
        return 1
    if codes:
        return codes[0]
    return 5 if not results else 0


class _Options:
    """What the writers ask a pytest config for, from the merge's arguments and the parts' options."""

    def __init__(self, values: dict[str, Any]):
        self.values = values

    def getoption(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)


def merge(paths: list[str | Path], json_out: str | None, html_out: str | None) -> tuple[int, list[str]]:
    """Merge the parts; write the JSON and the HTML; return the exit status and the terminal lines."""
    from conformance.reporting.terminal import render_summary
    from conformance.reporting.writer import write_outputs

    parts = [load(p) for p in paths]
    check(parts)
    results = [r for p in parts for r in p.results]
    info = merged_info(parts)
    status = exit_status(parts, results)
    first = parts[0].identity
    extra = {"suite": first.get("suite"), "impl": first.get("impl"), "options": first.get("options"),
             "cell": None, "shard": None, "checks": [c for p in parts for c in p.checks],
             "complete": all(p.complete for p in parts), "exitstatus": status,
             "parts": [{"file": str(p.path), "cell": list(p.cell), "shard": p.identity.get("shard"),
                        "complete": p.complete, "running": p.running, "never_ran": p.never_ran} for p in parts]}
    options = _Options({"--report-json": json_out, "--report": html_out,
                        "--hypothesis-seed": (first.get("options") or {}).get("hypothesis-seed")})
    lines = render_summary(results, info.spec, info.provided or None, info.profile or None, names=info.names or None)
    for p in parts:
        if not p.complete:
            lines.append(f"{p.label}: the run was killed while running {', '.join(p.running) or 'no check'}; "
                         f"{len(p.never_ran)} check(s) never ran" + (f": {', '.join(p.never_ran[:12])}"
                                                                    + (" ..." if len(p.never_ran) > 12 else "")
                                                                    if p.never_ran else ""))
    lines += write_outputs(options, results, info, None, extra)
    lines.append(f"merged {len(parts)} part(s): exit status {status}")
    return status, lines
