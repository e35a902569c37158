"""Sharpness of the value and gradient checks, from conformance JSON reports (docs/tolerances.md, "Sharpness").

    python tests/sharpness_table.py RUN.json [RUN.json ...]

prints, per contract name, the median over examples of each example's median tolerance / |exact value|
(``extra["sharpness"]``), per dtype and category, and the largest error / tolerance the run saw (the margin
of a correct implementation), as a Markdown table.
"""

from __future__ import annotations

import json
import sys

import numpy as np


def _num(x: object) -> float | None:
    return None if x is None else float(x)  # the JSON writes inf and NaN as strings


def table(paths: list[str]) -> str:
    rows: dict[str, dict[tuple[str, str], tuple[float, float | None]]] = {}
    cols: list[tuple[str, str]] = []
    for p in paths:
        for r in json.load(open(p))["results"]:
            s = r.get("extra", {}).get("sharpness")
            if r["category"] not in ("value", "gradient") or not s:
                continue
            col = (r["dtype"], r["category"])
            if col not in cols:
                cols.append(col)
            rows.setdefault(r["name"], {})[col] = (float(np.median([float(x) for x in s])), _num(r.get("max_ratio")))
    cols.sort()
    head = "| name | " + " | ".join(f"{d} {c}" for d, c in cols) + " |"
    lines = [head, "|---" * (len(cols) + 1) + "|"]
    for name, cells in rows.items():
        text = []
        for col in cols:
            m, ratio = cells.get(col, (None, None))
            text.append("" if m is None else f"{m:.3g}" + (f" ({ratio:.2g})" if ratio is not None else ""))
        lines.append(f"| `{name}` | " + " | ".join(text) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(sys.argv[1:]))
