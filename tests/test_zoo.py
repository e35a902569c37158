"""The gate catches real loss bugs from public code: every entry of the zoo (``tests/zoo/``) fails it.

Each zoo module re-expresses one bug reported in a public project against one contract name
(``docs/zoo.md`` is the index).  As in ``tests/test_mutants.py``, it is judged in-process as the pytest gate
judges it (``tests/judge.py``: the gate's code and Hypothesis profile, minus its shrink phase); the stability and
bad-input categories run as the gate runs them too.  A stability check that reports only
hazards has not caught the bug.

``docs/zoo.md`` is checked against a run: its table lists every entry with its contract name and its declared
categories in bold, each of which catches it (the default test); the slow test runs every category and compares
the whole "caught by" column.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from urllib.parse import urlparse

import judge
import pytest
import zoo

from conformance.checks import engine
from conformance.contracts import REGISTRY

CATEGORIES = ("value", "gradient", "stability", "badinput")
DTYPE, MODE = "float32", "eager"
DOC = Path(__file__).resolve().parent.parent / "docs" / "zoo.md"


def doc_rows() -> dict[str, dict]:
    """docs/zoo.md's entries table: id -> contract name, declared (bold) and all "caught by" categories."""
    rows = {}
    for line in DOC.read_text().splitlines():
        m = re.match(r"\| (z\d\d) \|", line)
        if m:
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            caught = [c.strip() for c in cells[-1].split(",")]
            rows[m.group(1)] = {"name": cells[3].strip("`"), "caught": {c.strip("*") for c in caught},
                                "bold": {c.strip("*") for c in caught if c.startswith("**")}}
    return rows


def _run(name: str, category: str, impl: object, impl_name: str) -> str | None:
    """The failure message of one check, or ``None`` when it passes (or reports only hazards)."""
    return judge.failure(name, category, impl, impl_name, dtype=DTYPE, mode=MODE, passing=("passed", "hazard"))


def test_zoo_is_well_formed() -> None:
    names = zoo.names()
    assert len(names) >= 15
    reference = importlib.import_module("conformance.targets.reference")
    for n in names:
        m = zoo.load(n)
        assert m.TARGETS and set(m.TARGETS) <= set(REGISTRY), n
        assert m.CATEGORIES and set(m.CATEGORIES) <= set(CATEGORIES), n
        assert m.KIND in zoo.KINDS and m.DESCRIPTION, n
        url = urlparse(m.LINK)
        assert url.scheme == "https" and url.netloc and url.path.strip("/"), (n, m.LINK)
        assert m.SOURCE.count("/") == 1 and m.SOURCE.lower() in m.LINK.lower(), (n, m.SOURCE, m.LINK)
        for t in m.TARGETS:
            assert callable(getattr(m, t)), n
            assert getattr(m, t) is not getattr(reference, t, None), n
    assert len({zoo.load(n).LINK for n in names}) == len(names), "each entry has its own thread"


@pytest.mark.parametrize("entry", zoo.names())
def test_gate_catches_zoo_entry(entry: str) -> None:
    m = zoo.load(entry)
    caught = [f"{name} {category}: {msg.splitlines()[0]}"
              for name in m.TARGETS for category in m.CATEGORIES
              if (msg := _run(name, category, m, entry)) is not None]
    assert caught, f"{entry} ({m.SOURCE}: {m.DESCRIPTION}) passed every check of {m.TARGETS} x {m.CATEGORIES}"
    # docs/zoo.md says, in bold, that each declared category catches it
    assert len(caught) == len(m.TARGETS) * len(m.CATEGORIES), f"{entry}: docs/zoo.md says all of {m.CATEGORIES} " \
                                                              f"catch it; only these did: {caught}"


def test_zoo_doc_lists_every_entry_as_declared() -> None:
    rows = doc_rows()
    names = zoo.names()
    assert sorted(rows) == [n.split("_")[0] for n in names], "docs/zoo.md's table and tests/zoo/ differ"
    for n in names:
        m, row = zoo.load(n), rows[n.split("_")[0]]
        assert (row["name"],) == m.TARGETS, (n, row["name"])
        assert row["bold"] == set(m.CATEGORIES), (n, row["bold"], m.CATEGORIES)
        assert set(m.CATEGORIES) <= row["caught"] <= set(CATEGORIES), n
    text = DOC.read_text()
    assert f"Measured on all {len(names)} entries (z01-z{len(names):02d}, {len(names)} entries)" in text
    assert "not registered" not in text  # every entry's name is in the catalogue: it runs


def _caught_by_all(entry: str) -> set[str]:
    m = zoo.load(entry)
    caught = set()
    for category in CATEGORIES:
        try:
            engine.run_check(REGISTRY[m.TARGETS[0]], category, m, entry, DTYPE, MODE,
                             hypothesis_settings=judge.GATE)
        except AssertionError:
            caught.add(category)
    return caught


@pytest.mark.slow
@pytest.mark.parametrize("entry", zoo.names())
def test_zoo_doc_caught_by_matches_a_run(entry: str) -> None:
    """The whole "caught by" column, declared or not, is what the four categories give today."""
    assert _caught_by_all(entry) == doc_rows()[entry.split("_")[0]]["caught"], entry
