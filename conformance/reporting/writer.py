"""Writes the machine-readable JSON and the HTML report from the result model."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from conformance.reporting.results import ORDER as _ORDER
from conformance.reporting.results import CheckResult, json_safe, summarize
from conformance.reporting.run_info import RunInfo


def verdicts(results: list[CheckResult]) -> dict[str, dict[str, dict[str, Any]]]:
    """name -> category -> worst status, examples, max errors, conventions and diagnoses over dtypes and modes."""
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for r in results:
        v = table.setdefault(r.name, {}).setdefault(r.category, {
            "status": r.status, "examples": 0, "max_abs": 0.0, "max_rel": 0.0, "max_ulp": 0, "max_ratio": None,
            "conventions": None, "diagnoses": [], "expectations": []})
        if _ORDER[r.status] > _ORDER[v["status"]]:
            v["status"] = r.status
        v["examples"] += r.examples
        v["max_abs"], v["max_rel"] = max(v["max_abs"], r.max_abs), max(v["max_rel"], r.max_rel)
        v["max_ulp"] = max(v["max_ulp"], r.max_ulp)
        if r.max_ratio is not None:  # error / tolerance, the number the verdict rests on
            v["max_ratio"] = r.max_ratio if v["max_ratio"] is None else max(v["max_ratio"], r.max_ratio)
        if r.conventions is not None:
            v["conventions"] = sorted(set(r.conventions) & set(v["conventions"] if v["conventions"] is not None
                                                                else r.conventions))
        if r.diagnosis and r.diagnosis not in v["diagnoses"]:
            v["diagnoses"] = sorted([*v["diagnoses"], r.diagnosis])
        if r.expectation and r.expectation not in v["expectations"]:
            v["expectations"] = sorted([*v["expectations"], r.expectation])
    return {n: dict(sorted(c.items())) for n, c in sorted(table.items())}


def write_outputs(config: Any, results: list[CheckResult], info: RunInfo, start: float | None = None,
                  extra: dict[str, Any] | None = None) -> list[str]:
    """Write ``--report-json`` and ``--report`` if asked for; return "what: path" lines for the terminal.

    ``extra``: more keys for the JSON (a merge's identity and parts).  The JSON replaces the results written so far
    at the same path (:mod:`conformance.journal`, which then adds the run's identity) in one step.
    """
    written = []
    path = config.getoption("--report-json")
    if path:
        doc = {
            "impl": info.spec,
            "dtypes": info.dtypes,
            "mode": info.mode,
            "run": info.run,  # framework, backend (runner's framework and version), device
            "arithmetic": info.arithmetic,  # per low-precision dtype: how reductions were measured to accumulate
            "summary": summarize(results),
            "verdicts": verdicts(results),
            "results": [json.loads(r.to_json()) for r in results],
            **(extra or {}),
            "info": info.to_json(),  # the whole RunInfo: what a merge of parts needs to write the report
        }
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        partial = Path(f"{path}.writing")
        partial.write_text(json.dumps(json_safe(doc), indent=1, allow_nan=False))
        os.replace(partial, path)
        written.append(f"conformance JSON: {Path(path).resolve()}")
    html = config.getoption("--report")
    if html:
        from conformance.reporting.html import write_report

        out = write_report(config, results, info, Path(html), start)
        written.append(f"conformance report: {out}")
    return written

