"""Declared expectations (``--expect=FILE``): known failures that do not fail the run, as long as they stay true.

The file is TOML, one ``[[expected]]`` table per known failure::

    [[expected]]
    name = "rpn_loss_cls"                 # a contract name
    category = "value"                    # value, gradient, stability, badinput, regression or timing
    divergence = "FRCNN-SWAPPED-BCE"      # optional: match only when the diagnosis names this id
    reason = "the documents swap the arguments of the BCE (docs/contracts.md)"

A failed result of that name and category (any dtype, any mode) whose diagnosis names ``divergence``
(when given) gets status ``"expected"`` and its test is reported as xfailed.  An entry whose name and
category ran in the session and never failed is *unexpectedly passing*: its passing results get that
status and the run fails, so the file stays true.  Entries whose tests did not run (deselected, or the
name is not provided) are not judged.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance.reporting.results import CATEGORIES, CheckResult

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

KEYS = ("name", "category", "divergence", "reason")
REQUIRED = ("name", "category", "reason")
_RESULT = "conformance_result"  # the user_properties key the ``record`` fixture writes
_BENIGN = ("passed", "hazard", "skipped", "not provided")  # other results a converted test may carry


@dataclass(frozen=True)
class Entry:
    """One declared known failure; ``index`` counts the file's ``[[expected]]`` tables from 1."""

    name: str
    category: str
    reason: str
    index: int
    divergence: str | None = None

    @property
    def label(self) -> str:
        """How results and messages refer to the entry: ``entry 2 (rpn_loss_cls/value)``."""
        return f"entry {self.index} ({self.name}/{self.category})"

    def matches(self, result: CheckResult) -> bool:
        """True when ``result`` is a failure of this name and category whose diagnosis names the divergence."""
        if result.status != "failed" or (result.name, result.category) != (self.name, self.category):
            return False
        return self.divergence is None or names_id(result.diagnosis, self.divergence)


def names_id(diagnosis: str | None, divergence_id: str) -> bool:
    """True when the diagnosis text names ``divergence_id`` as a whole id (``SCE-NAIVE`` is not ``SCE``)."""
    if not diagnosis:
        return False
    return re.search(rf"(?<![A-Za-z0-9_-]){re.escape(divergence_id)}(?![A-Za-z0-9_-])", diagnosis) is not None


class Expectations:
    """The entries of one ``--expect`` file, and how they change results, test reports and the run's outcome."""

    def __init__(self, path: Path, entries: list[Entry]):
        self.path = path
        self.entries = entries

    def reason(self, entry: Entry) -> str:
        """The text an expected result carries: the reason and where it is declared."""
        return f"{entry.reason} [{self.path.name}, {entry.label}]"

    def match(self, result: CheckResult) -> Entry | None:
        """The first entry that ``result`` matches, if any."""
        return next((e for e in self.entries if e.matches(result)), None)

    def apply_to_report(self, report: pytest.TestReport, exc: BaseException | None) -> None:
        """Turn a failed test whose every failed result matches an entry into an xfail; rewrite those results.

        Only a failure the recorded results explain is converted (the exception carries one of them, or its
        text contains every failed result's message), so a time-out or a suite error after a matched result
        still fails.  The results are rewritten in ``report.user_properties``, which travel to the xdist
        controller with the report.
        """
        if report.when != "call" or not report.failed or exc is None:
            return
        recorded = [(i, CheckResult.from_json(v)) for i, (k, v) in enumerate(report.user_properties) if k == _RESULT]
        failed = [(i, r) for i, r in recorded if r.status == "failed"]
        if not failed or any(r.status not in ("failed", *_BENIGN) for _, r in recorded):
            return  # an error in the suite, a time-out, a crash: not what the entry declares
        matched = [(i, r, self.match(r)) for i, r in failed]
        if any(e is None for _, _, e in matched) or not _explains(exc, [r for _, r in failed]):
            return
        reasons = []
        for i, r, e in matched:
            r.status, r.expectation = "expected", self.reason(e)
            report.user_properties[i] = (_RESULT, r.to_json())
            reasons.append(r.expectation)
        report.outcome = "skipped"
        report.wasxfail = "; ".join(dict.fromkeys(reasons))

    def finish(self, results: list[CheckResult]) -> list[str]:
        """After the session: mark stale entries' results "unexpectedly passing"; return lines for the terminal.

        An entry is stale when its name and category ran and no result matched it: they passed (or had only
        hazards), or their failures all matched earlier entries.  An entry whose name and category failed in a
        way it does not match is reported too (that failure already fails the run).
        """
        lines = []
        for e in self.entries:
            ran = [r for r in results if (r.name, r.category) == (e.name, e.category)
                   and r.status in ("passed", "hazard", "failed", "expected")]  # not errors, time-outs, crashes
            if not ran or any(r.status == "expected" and r.expectation == self.reason(e) for r in ran):
                continue
            failed = [r for r in ran if r.status == "failed"]
            if failed:
                diagnoses = sorted({r.diagnosis or "no diagnosis" for r in failed})
                lines.append(f"conformance: {self.path.name} {e.label} did not match the failure "
                             f"(divergence {e.divergence}; diagnosis: {'; '.join(diagnoses)})")
                continue
            passing = [r for r in ran if r.status in ("passed", "hazard")]
            for r in passing:
                r.status, r.expectation = "unexpectedly passing", self.reason(e)
                r.message = (f"declared as failing in {self.path.name} {e.label} ({e.reason}), but it "
                             f"passed: remove or update the entry. {r.message or ''}").rstrip()
            what = "is unexpectedly passing" if passing else "matched no failure (earlier entries matched them)"
            lines.append(f"conformance: {self.path.name} {e.label} {what}: "
                         "remove or update the entry (the run fails until the file is true)")
        return lines


def _explains(exc: BaseException, failed: list[CheckResult]) -> bool:
    """True when the test's exception is the failure the failed results describe."""
    carried = getattr(exc, "conformance_result", None)
    if carried is not None:
        return getattr(carried, "status", None) in ("failed", "expected")
    text = str(getattr(exc, "msg", None) or exc)
    return bool(text) and all(r.message and (r.message in text or text in r.message) for r in failed)


def load(path: str | Path, names: Iterable[str], known_ids: dict[str, set[str]] | None = None) -> Expectations:
    """Read and validate an expectations file; raise ``pytest.UsageError`` naming the file, entry and problem.

    ``names`` are the registered contract names; ``known_ids`` (name -> divergence ids the suite can name for
    it), when given, also validates each ``divergence``.
    """
    p = Path(path)

    def bad(problem: str, index: int | None = None) -> pytest.UsageError:
        where = f"{p}" + (f": entry {index}" if index is not None else "")
        return pytest.UsageError(f"conformance: --expect={where}: {problem}")

    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise bad(f"cannot read the file ({exc.strerror or exc})") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise bad(f"not valid TOML: {exc}") from exc
    extra = sorted(set(doc) - {"expected"})
    if extra:
        raise bad(f"unknown top-level key(s) {', '.join(map(repr, extra))}; entries are [[expected]] tables")
    raw = doc.get("expected", [])
    if not isinstance(raw, list):
        raise bad("'expected' must be an array of tables ([[expected]])")
    names = set(names)
    entries: list[Entry] = []
    seen: dict[tuple, int] = {}
    for index, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise bad("not a table", index)
        unknown = sorted(set(item) - set(KEYS))
        if unknown:
            raise bad(f"unknown key(s) {', '.join(map(repr, unknown))} (allowed: {', '.join(KEYS)})", index)
        for key in REQUIRED:
            if key not in item:
                raise bad(f"missing {key!r}" + (" (say why the failure is expected)" if key == "reason" else ""),
                          index)
        for key, value in item.items():
            if not isinstance(value, str) or not value.strip():
                raise bad(f"{key!r} must be a non-empty string, got {json.dumps(value, default=str)}", index)
        name, category = item["name"], item["category"]
        if name not in names:
            close = sorted(n for n in names if n.startswith(name[:4]))[:5]
            raise bad(f"unknown contract name {name!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""),
                      index)
        if category not in CATEGORIES:
            raise bad(f"unknown category {category!r} (one of {', '.join(CATEGORIES)})", index)
        divergence = item.get("divergence")
        if divergence is not None and known_ids is not None and divergence not in known_ids.get(name, set()):
            known = ", ".join(sorted(known_ids.get(name, set()))) or "none"
            raise bad(f"divergence {divergence!r} is not an id the suite can diagnose for {name} (known: {known})",
                      index)
        key = (name, category, divergence)
        if key in seen:
            raise bad(f"duplicates entry {seen[key]} ({name}/{category}"
                      + (f", divergence {divergence}" if divergence else "") + ")", index)
        seen[key] = index
        entries.append(Entry(name, category, item["reason"].strip(), index, divergence))
    return Expectations(p, entries)


def known_ids(contracts: Iterable[Any]) -> dict[str, set[str]]:
    """name -> the ids a diagnosis can name for it: its divergences, oracle variants, tags and bad-input ids."""
    out: dict[str, set[str]] = {}
    for c in contracts:
        ids = set(c.divergences) | {t.tag for t in c.tags} | {b.spec for b in c.bad_inputs if b.spec}
        try:
            ids |= set(c.oracle.variants)
        except Exception:  # a user contract whose oracle entry has no variants
            pass
        out[c.name] = ids
    return out
