"""docs/real-world.md tells the truth: its verdict table is what a run of each library adapter gives today.

Each adapter runs the whole suite (default gate profile, float32, eager) in a subprocess; every row of the
doc's verdict table for that library is compared cell by cell with the run's JSON, and a diagnosis id the
doc names must be among the run's diagnoses.  Libraries not installed are skipped, saying which extra or
tox environment installs them (``tox -e real``); the library versions must be the ones the doc names.
"""

from __future__ import annotations

import json
import re
from importlib import metadata, util
from pathlib import Path

import pytest
from test_plugin import ROOT, run_pytest

DOC = ROOT / "docs" / "real-world.md"

# library label in the doc -> (distribution, importable module, adapters)
LIBRARIES = {
    "TensorFlow": ("tensorflow-cpu", "tensorflow", ["tensorflow.nn"]),
    "Keras": ("keras", "keras", ["conformance.targets.keras_losses", "conformance.targets.keras_boxes"]),
    "tf-keras": ("tf-keras", "tf_keras", ["conformance.targets.tf_keras_backend"]),
    "keras-cv": ("keras-cv", "keras_cv", ["conformance.targets.keras_cv_boxes"]),
    "tf-models-official": ("tf-models-official", "official", ["conformance.targets.tf_models_boxes"]),
}
CELL = {"passed": "pass", "failed": "FAIL", "hazard": "hazard", "skipped": "—", "not provided": "n/p"}


def doc_rows() -> list[dict[str, str]]:
    """The verdict table's rows as {column header: cell}."""
    lines = DOC.read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("| library | contract name |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for ln in lines[start + 2:]:
        if not ln.startswith("|"):
            break
        rows.append(dict(zip(header, (c.strip() for c in ln.strip("|").split("|")), strict=True)))
    return rows


def _label(library_cell: str) -> tuple[str, str]:
    name, version = library_cell.rsplit(" ", 1)
    return name, version


def test_doc_table_parses_and_names_known_libraries():
    rows = doc_rows()
    assert len(rows) >= 15
    for r in rows:
        assert _label(r["library"])[0] in LIBRARIES, r["library"]
        assert re.findall(r"`(\w+)`", r["contract name"]), r


@pytest.mark.parametrize("library", list(LIBRARIES))
def test_doc_verdicts_match_a_run(library, tmp_path):
    dist, module, adapters = LIBRARIES[library]
    if util.find_spec(module) is None:
        pytest.skip(f"{dist} is not installed (pip install '.[real]' or tox -e real; see docs/real-world.md)")
    rows = [r for r in doc_rows() if _label(r["library"])[0] == library]
    assert rows, f"no rows for {library}"
    versions = {_label(r["library"])[1] for r in rows}
    assert versions == {metadata.version(dist)}, f"doc names {versions}, installed {metadata.version(dist)}"
    verdicts: dict[str, dict] = {}
    for adapter in adapters:
        out = tmp_path / f"{adapter}.json"
        r = run_pytest("--pyargs", "conformance", f"--impl={adapter}", "-q", f"--report-json={out}", cwd=tmp_path)
        assert r.returncode in (0, 1), r.stdout[-3000:] + r.stderr[-3000:]
        for name, cats in json.loads(out.read_text())["verdicts"].items():
            if any(v["status"] != "not provided" for v in cats.values()):
                assert name not in verdicts, f"{name} provided by two adapters of {library}"
                verdicts[name] = cats
    categories = [c for c in ("value", "gradient", "stability", "regression", "badinput") if c in rows[0]]
    seen = set()
    mismatches = []
    for row in rows:
        for name in re.findall(r"`(\w+)`", row["contract name"]):
            seen.add(name)
            assert name in verdicts, f"{library}: doc lists {name}, the adapters do not provide it"
            for cat in categories:
                got = CELL.get(verdicts[name][cat]["status"], verdicts[name][cat]["status"])
                if got != row[cat]:
                    mismatches.append(f"{name}/{cat}: doc {row[cat]!r}, run {got!r}")
            for hid in re.findall(r"[A-Z][A-Z0-9]+(?:-[A-Z0-9]+)+", row["diagnosis"]):
                named = " ".join(d for v in verdicts[name].values() for d in v["diagnoses"])
                if hid not in named:
                    mismatches.append(f"{name}: doc names {hid}, the run's diagnoses are {named!r}")
    assert not mismatches, f"{library}: docs/real-world.md disagrees with the run:\n" + "\n".join(mismatches)
    assert seen == set(verdicts), f"{library}: provided but not in the doc: {sorted(set(verdicts) - seen)}"


def test_real_extra_is_declared():
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^real = \[.*"keras-cv==0\.9\.0"', text, re.M)
    tox = (ROOT / "tox.ini").read_text()
    assert "[testenv:real]" in tox and "--no-deps" in tox
    assert Path(ROOT / "docs" / "real-world.md").read_text().count("tox -e real") >= 1
