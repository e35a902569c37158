"""Writes the machine-readable JSON and the HTML report from the result model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .results import CheckResult, summarize


def write_outputs(config: Any, results: list[CheckResult], spec: str, module: Any, dtypes: list[str]) -> list[str]:
    """Write ``--report-json`` and ``--report`` if asked for; return "what: path" lines for the terminal."""
    written = []
    path = config.getoption("--report-json")
    if path:
        doc = {
            "impl": spec,
            "dtypes": dtypes,
            "mode": config.getoption("--mode"),
            "summary": summarize(results),
            "results": [json.loads(r.to_json()) for r in results],
        }
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(doc, indent=1))
        written.append(f"conformance JSON: {Path(path).resolve()}")
    html = config.getoption("--report")
    if html:
        from .report import write_report

        out = write_report(config, results, spec, module, dtypes, Path(html))
        written.append(f"conformance report: {out}")
    return written
