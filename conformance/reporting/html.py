"""The self-contained HTML report: a conformance matrix, per-name details and standalone reproducers.

One HTML file (CSS inline, plots as inline SVG, no scripts, no external URLs) rendered
from ``conformance/reporting/templates/report.html.j2`` with autoescaping, so every string that
comes from the implementation (its module name, its exceptions' messages) is shown as
text.  For each failure carrying its example, a ``.py`` reproducer and its ``.npz``
inputs are written to ``<report stem>-reproducers/`` beside the report.
"""

from __future__ import annotations

import datetime as _dt
import io
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from conformance.contracts.entry import reference
from conformance.reporting.reproducer import decode, file_stem, message_head, write_reproducer
from conformance.reporting.results import CATEGORIES, ORDER, CheckResult
from conformance.reporting.run_info import RunInfo, arithmetic_lines

LABEL = {"passed": "pass", "failed": "FAIL", "hazard": "hazard", "not provided": "not provided",
         "skipped": "skipped", "error": "ERROR", "expected": "expected", "unexpectedly passing": "XPASS",
         "timeout": "TIMEOUT", "crashed": "CRASHED", "never ran": "NEVER RAN",
         None: "not run"}
CSS_CLASS = {"passed": "pass", "failed": "fail", "hazard": "hazard", "not provided": "np", "skipped": "skip",
             "error": "err", "expected": "xfail", "unexpectedly passing": "fail", "timeout": "fail", "crashed": "fail",
             "never ran": "fail",
             None: "none"}
DTYPE_ORDER = ("float32", "float16", "bfloat16", "float64")
UNIT_ROUNDOFF = {"float16": 2.0**-11, "bfloat16": 2.0**-8, "float32": 2.0**-24, "float64": 2.0**-53}
_RESERVED_EXTRA = {"expected", "actual", "cotangent", "tolerance", "relative_examples", "relative_last"}


def write_report(config: Any, results: list[CheckResult], info: RunInfo, path: Path,
                 start: float | None = None) -> Path:
    """Render the report for ``results`` to ``path`` (and reproducers beside it); return the resolved path."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    repro_dir = path.parent / f"{path.stem}-reproducers"
    if repro_dir.is_dir():  # stale reproducers from an earlier run
        for old in [*repro_dir.glob("*.py"), *repro_dir.glob("*.npz")]:
            old.unlink()
    names = _names(results)
    sections = [_section(i, n, rs, info.spec, info.module_file, repro_dir, path.parent)
                for i, (n, rs) in enumerate(names.items()) if not not_provided(rs)]
    if any(r.category == "timing" for r in results):
        for sec in sections:
            if not any(v["r"].category == "timing" for v in sec["results"]):
                sec["no_timing"] = no_timing_reason(sec["name"])
    context = {
        "env": environment(config, info, start),
        "categories": CATEGORIES,
        "families": _matrix(names),
        "sections": sections,
        "counts": _counts(names),
        "not_provided": [n for n, rs in names.items() if not_provided(rs)],
        "label": LABEL,
        "css": CSS_CLASS,
    }
    env = Environment(loader=PackageLoader("conformance.reporting", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    path.write_text(env.get_template("report.html.j2").render(**context), encoding="utf-8")
    return path


# --- header ------------------------------------------------------------------------------------------------------

def _opt(config: Any, name: str) -> Any:
    try:
        return config.getoption(name, default=None)
    except (ValueError, TypeError):
        return None


def environment(config: Any, info: RunInfo, start: float | None = None) -> list[tuple[str, str]]:
    """(label, value) rows for the report's header."""
    seed = _opt(config, "--hypothesis-seed")
    if seed is not None:
        seed_text = str(seed)
    else:
        seed_text = "derandomized (fixed seed per test)" if info.derandomized else "random (not fixed)"
    now = time.time()
    profile = f"{info.profile} ({info.profile_settings})" if info.profile_settings else info.profile or "unknown"
    return [
        ("implementation", str(info.spec)),
        ("module", f"{info.module} ({info.module_file or 'no file'})"),
        ("versions", ", ".join(info.versions) or "unknown"),
        ("device", info.run.get("device", "unknown")),  # the selected framework's own device
        ("framework", ", ".join(f"{k} {v}" for k, v in info.run.items()) or "unknown"),
        ("dtypes", ", ".join(info.dtypes)),
        ("mode", info.mode),
        ("arithmetic", "; ".join(arithmetic_lines(info)) or "the dtype is the accumulator"),
        ("Hypothesis profile", profile),
        ("Hypothesis seed", seed_text),
        ("date", _dt.datetime.fromtimestamp(start or now).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")),
        ("wall time", f"{now - start:.1f} s" if start else "unknown"),
    ]


# --- matrix ------------------------------------------------------------------------------------------------------

def _names(results: list[CheckResult]) -> dict[str, list[CheckResult]]:
    """Results grouped by contract name, in registry order (unknown names last), each sorted."""
    from conformance.contracts import NAMES

    rank = {n: i for i, n in enumerate(NAMES)}
    grouped: dict[str, list[CheckResult]] = {}
    for r in results:
        grouped.setdefault(r.name, []).append(r)

    def key(r: CheckResult) -> tuple:
        cat = CATEGORIES.index(r.category) if r.category in CATEGORIES else len(CATEGORIES)
        dt = DTYPE_ORDER.index(r.dtype) if r.dtype in DTYPE_ORDER else len(DTYPE_ORDER)
        return cat, r.category, dt, r.dtype, r.mode

    return {n: sorted(grouped[n], key=key) for n in sorted(grouped, key=lambda n: (rank.get(n, len(rank)), n))}


def _worst(results: list[CheckResult]) -> str | None:
    return max((r.status for r in results), key=lambda s: ORDER.get(s, 0), default=None)


def _matrix(names: dict[str, list[CheckResult]]) -> list[dict]:
    """Families, each with rows (name, anchor, cells per category: status and per dtype/mode tooltip)."""
    from conformance.contracts import FAMILIES, REGISTRY

    families: dict[str, list[dict]] = {f: [] for f in FAMILIES}
    for name, rs in names.items():
        if not_provided(rs):
            continue  # listed on one line under the matrix
        family = REGISTRY[name].family if name in REGISTRY else (rs[0].family or "other")
        cells = []
        for cat in CATEGORIES:
            sub = [r for r in rs if r.category == cat]
            cells.append({"status": _worst(sub),
                          "title": "; ".join(f"{r.dtype}/{r.mode}: {r.status}" for r in sub) or "not run"})
        families.setdefault(family, []).append({"name": name, "anchor": _anchor(name), "status": _worst(rs),
                                                "cells": cells})
    return [{"family": f, "rows": rows} for f, rows in families.items() if rows]


def not_provided(rs: list[CheckResult]) -> bool:
    """Whether the implementation does not define this name (every result says so)."""
    return bool(rs) and all(r.status == "not provided" for r in rs)


def _counts(names: dict[str, list[CheckResult]]) -> dict[str, int]:
    counts = {"conform": 0, "fail": 0, "hazard": 0, "expected": 0, "not provided": 0}
    for rs in names.values():
        w = _worst(rs)
        if w == "expected":
            counts["expected"] += 1
        elif w in ("failed", "error", "unexpectedly passing", "timeout", "crashed", "never ran"):
            counts["fail"] += 1
        elif w == "hazard":
            counts["hazard"] += 1
        elif w == "passed":
            counts["conform"] += 1
        elif w == "not provided":
            counts["not provided"] += 1
    return counts


def _anchor(name: str) -> str:
    return "n-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)


# --- per name ----------------------------------------------------------------------------------------------------

def _num(x: float) -> str:
    x = float(x)
    if x != x:
        return "NaN"
    if abs(x) == float("inf"):
        return "inf" if x > 0 else "-inf"
    return f"{x:.3g}"


def unmeasured(r: CheckResult) -> str | None:
    """Why the relative and ULP columns say nothing, where they do not: no element qualified (an exact value above
    its tolerance) in any example, or in the failing one (a NaN or a value near 0 against its absolute floor)."""
    if r.category not in ("value", "gradient") or not r.examples:
        return None
    if not r.extra.get("relative_examples"):
        return "— (no exact value above its tolerance: the relative error says nothing)"
    if r.status in ("failed", "expected") and r.extra.get("relative_last") is False:
        return "— (the failing example has no exact value above its tolerance)"
    return None


_NP_SCALAR = re.compile(r"np\.(?:float|int|uint|bool_?)\d*\(([^()]*)\)")


def plain(text: str) -> str:
    """``np.float64(inf)`` and the like written as their values (``inf``)."""
    return _NP_SCALAR.sub(r"\1", text)


def _conventions(r: CheckResult) -> str | None:
    if r.conventions is None:
        return None
    if r.conventions:
        return " or ".join(r.conventions) + (" (indistinguishable on these examples)" if len(r.conventions) > 1
                                             else "")
    return "mixed: no single convention matched every example" if r.status == "passed" else "none matched"


def _section(idx: int, name: str, rs: list[CheckResult], spec: str, impl_file: str | None, repro_dir: Path,
             base: Path) -> dict:
    views = []
    for i, r in enumerate(rs):
        timing = _timing(r)
        skip = _RESERVED_EXTRA | ({"time_s", "bandwidth_ratio"} if timing else set())
        extra = [(k, table(v)) for k, v in r.extra.items() if k not in skip]
        views.append({
            "r": r,
            "id": f"{_anchor(name)}-{file_stem(r)}",
            # error statistics exist where measured: value and gradient checks (others record zeros)
            "ran": (r.status not in ("not provided", "skipped") or r.examples > 0)
            and (r.category in ("value", "gradient") or bool(r.max_ulp or r.max_rel or r.max_abs)),
            # error / tolerance decides the verdict; ULP and relative error are over elements whose exact value
            # exceeds its tolerance (near zero the tolerance is absolute and they say nothing)
            "ratio": ratio_text(r.max_ratio),
            "max_ulp": unmeasured(r) or (str(r.max_ulp) if r.max_ulp < 2**62 else "inf"),
            "max_rel": unmeasured(r) or _num(r.max_rel),
            "max_abs": _num(r.max_abs),
            "message": plain(r.message or ""),
            "conventions": _conventions(r),
            "extra": extra,
            "timing": timing,
            "plot": _plot(r, f"s{idx}-{i}") if (r.ratio_samples or r.samples) else None,
            "plot_caption": (f"{r.category}, {r.dtype}/{r.mode}: each example's largest error over its tolerance "
                             "against its largest output magnitude (left) and over all examples (right); dashed: "
                             "the tolerance (an example fails above 1)." if r.ratio_samples else
                             f"{r.category}, {r.dtype}/{r.mode}: relative error of each example against its largest "
                             f"output magnitude (left) and over all examples (right); dashed: unit roundoff of "
                             f"{r.dtype}."),
            "failure": (_failure(r, spec, impl_file, repro_dir, base) if r.status in ("failed", "error", "expected")
                        else None),
        })
    diagnoses = sorted({r.diagnosis for r in rs if r.diagnosis})
    declared = sorted({(r.status, r.category, r.expectation) for r in rs if r.expectation})
    hazard_dtypes = sorted({r.dtype for r in rs if r.status == "hazard" or r.extra.get("hazards")})
    return {"name": name, "anchor": _anchor(name), "status": _worst(rs), "family": rs[0].family,
            "contract": reference(name), "entry": _entry(name),
            "results": views, "diagnoses": diagnoses, "expectations": declared, "hazard_dtypes": hazard_dtypes,
            "no_timing": None}


def _entry(name: str) -> str | None:
    """The contract page's entry of ``name`` (Markdown source), or None for a name no record knows."""
    from conformance.contracts import REGISTRY
    from conformance.reporting.contracts_page import render_entry

    return render_entry(name) if name in REGISTRY else None


def no_timing_reason(name: str) -> str:
    """Why a name has no timing row when the timing category ran."""
    return (f"No timing case: the timing category times the losses a training step calls, at production sizes "
            f"(docs/benchmarks.md); the record of {name} defines none.")


def _timing(r: CheckResult) -> str | None:
    """"time 1.23 ms; bandwidth-bound ratio 0.8" for a timing result that carries them."""
    if r.category != "timing":
        return None
    parts = []
    t, ratio = r.extra.get("time_s"), r.extra.get("bandwidth_ratio")
    if isinstance(t, (int, float)):
        parts.append(f"time {t * 1e3:.4g} ms")
    if isinstance(ratio, (int, float)):
        parts.append(f"bandwidth-bound ratio {ratio:.3g}")
    return "; ".join(parts) or None


def ratio_text(ratio: float | None) -> str:
    """Error / tolerance for the table: ``–`` where not measured."""
    from conformance.numerics.compare import ratio_text as text

    return "\u2013" if ratio is None else text(ratio)


def _cell(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return _num(v) if not np.isfinite(v) else f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_cell(x) for x in v)
    return plain(str(v))


def table(v: Any, limit: int = 60) -> dict:
    """A value of ``CheckResult.extra`` as something the template shows as text or as a table.

    ``{"text": str}`` for a scalar or a list of scalars; ``{"head": [...], "rows": [[...]], "more": n}`` for a dict
    (key, value rows) or a list of dicts (one row each, the union of their keys as columns).
    """
    if isinstance(v, dict):
        rows = [[plain(str(k)), _cell(x)] for k, x in v.items()]
        return {"head": [], "rows": rows[:limit], "more": max(0, len(rows) - limit)}
    if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
        head = list(dict.fromkeys(k for x in v for k in x))
        rows = [[_cell(x.get(k, "")) for k in head] for x in v]
        return {"head": head, "rows": rows[:limit], "more": max(0, len(rows) - limit)}
    return {"text": _cell(v)}


def _text(v: Any) -> str:
    with np.printoptions(precision=17, threshold=200, linewidth=100):
        return repr(v)


def _errors(e: np.ndarray, a: np.ndarray | None) -> tuple[str, str]:
    if a is None or a.shape != e.shape:
        return "n/a", "n/a"
    with np.errstate(all="ignore"):
        same = (a == e) | (np.isnan(a) & np.isnan(e))
        diff = np.where(same, 0.0, np.abs(a - e))
        diff = np.where(np.isnan(diff), np.inf, diff)
        rel = np.where(same, 0.0, diff / np.abs(e))
        rel = np.where(np.isnan(rel), np.inf, rel)
    if diff.size == 0:
        return "0", "0"
    return _num(diff.max()), _num(rel.max())


def _failure(r: CheckResult, spec: str, impl_file: str | None, repro_dir: Path, base: Path) -> dict:
    """Message, shrunk inputs, expected vs actual, and the reproducer files of a failed result."""
    inputs = [(k, _text(decode(v))) for k, v in (r.inputs or {}).items()]
    comparisons = []
    actual = r.extra.get("actual", {}) if isinstance(r.extra.get("actual"), dict) else {}
    expected = r.extra.get("expected", {}) if isinstance(r.extra.get("expected"), dict) else {}
    for label, ev in expected.items():
        e = np.asarray(decode(ev), dtype=np.float64)
        av = actual.get(label)
        a = None if av is None else np.asarray(decode(av), dtype=np.float64)
        abs_err, rel_err = _errors(e, a)
        with np.printoptions(precision=9, threshold=60, linewidth=100):
            comparisons.append({"label": label, "expected": repr(e), "actual": "None" if a is None else repr(a),
                                "abs": abs_err, "rel": rel_err})
    repro = None
    try:
        files = write_reproducer(r, spec, impl_file, repro_dir)
    except Exception as exc:  # the report must still be written
        files = None
        repro = {"error": f"{type(exc).__name__}: {exc}"}
    if files:
        py, npz = files
        r.reproducer = str(py)
        repro = {"py": os.path.relpath(py, base), "npz": os.path.relpath(npz, base), "script": py.read_text(),
                 "command": f"python {os.path.relpath(py, base)}"}
    message = r.message or ""
    return {"message": message, "head": message_head(message), "inputs": inputs, "comparisons": comparisons,
            "repro": repro}


# --- plots -------------------------------------------------------------------------------------------------------

def _plot(r: CheckResult, prefix: str) -> Markup | None:
    """Relative error against output magnitude, and its histogram over all examples, as inline SVG."""
    import matplotlib
    from matplotlib.figure import Figure

    by_ratio = bool(r.ratio_samples)  # error / tolerance (what the verdict rests on), else relative error
    samples = np.asarray(r.ratio_samples or r.samples, dtype=np.float64).reshape(-1, 2)
    mag, rel = samples[:, 0], samples[:, 1]
    finite = np.isfinite(rel) & (rel < 1e300) & np.isfinite(mag)
    n_nonfinite = int((~finite).sum())
    mag, rel = mag[finite], rel[finite]
    if mag.size == 0:
        return None
    u = 1.0 if by_ratio else UNIT_ROUNDOFF.get(r.dtype, 2.0**-24)
    pos_rel = rel[rel > 0]
    floor = min(pos_rel.min() if pos_rel.size else u, u) / 10
    pos_mag = mag[mag > 0]
    mag_floor = (pos_mag.min() if pos_mag.size else 1.0) / 10
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": prefix, "font.size": 8}):
        fig = Figure(figsize=(7.2, 2.4))
        ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
        ax1.scatter(np.maximum(mag, mag_floor), np.maximum(rel, floor), s=8, alpha=0.6, color="#3465a4",
                    edgecolors="none")
        ax1.axhline(u, color="#888", lw=0.8, ls="--",
                    label="tolerance (fails above)" if by_ratio else f"unit roundoff ({r.dtype})")
        ax1.set_xscale("log")
        ax1.set_yscale("log")
        ax1.set_xlabel("max |output| of the example")
        ax1.set_ylabel("max error / tolerance" if by_ratio else "max relative error")
        ax1.legend(loc="best", frameon=False, fontsize=7)
        bins = np.linspace(np.log10(floor), max(np.log10(max(rel.max(), floor)), np.log10(u)) + 0.5, 25)
        ax2.hist(np.log10(np.maximum(rel, floor)), bins=bins, color="#73d216", edgecolor="white")
        ax2.axvline(np.log10(u), color="#888", lw=0.8, ls="--")
        ax2.set_xlabel(f"log10 {'error / tolerance' if by_ratio else 'relative error'} (exact at left edge)")
        ax2.set_ylabel("examples")
        title = f"{r.name} {r.category}, {r.dtype}/{r.mode}: {mag.size} example(s)"
        if n_nonfinite:
            title += f", {n_nonfinite} non-finite not shown"
        fig.suptitle(title, fontsize=8)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    return Markup(_inline_svg(buf.getvalue(), prefix))


def _inline_svg(svg: str, prefix: str) -> str:
    """Strip the XML prolog and namespace URLs; make element ids unique within the page."""
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    for i in sorted(ids, key=len, reverse=True):
        svg = svg.replace(f'id="{i}"', f'id="{prefix}-{i}"').replace(f"#{i})", f"#{prefix}-{i})")
        svg = svg.replace(f'href="#{i}"', f'href="#{prefix}-{i}"')
    return svg.replace("<svg ", '<svg role="img" ', 1)
