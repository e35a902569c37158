"""The contract page (docs/contracts.md) is the whole contract, and everything that cites it resolves.

- every catalogue name has a full entry (formula, output, gradient; a broadcasting rule where it takes several
  tensors), every symbol of a formula is defined on the page, every constant printed equals the oracle's own value
  and no formula writes a constant's value instead of its symbol;
- nothing in the repository cites the spec file, its sections or its ids (``§``, ``LOSSES.md``, C1/C2), and every
  link into the page (README, docs, messages) names an anchor the page has;
- ``python -m conformance contracts NAME`` prints one entry; failures and report sections name their entry.
"""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.contracts import NAMES, REGISTRY
from conformance.reporting.contracts_page import DIVERGENCES, NOTATION, render, render_entry

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "docs" / "contracts.md").read_text()
IDENT = re.compile(r"(?<![A-Za-z0-9_α-ωΑ-Ω])[A-Za-zα-ωΑ-Ω][A-Za-z0-9_α-ωΑ-Ω]*")
# words a formula line may use besides symbols: the notation's functions and the few connectives the lines need
WORDS = {"log", "clip", "max", "min", "e", "sign", "numel", "logsumexp", "atan2", "π", "mod", "reshape", "gather",
         "None", "if", "else", "over", "of", "along", "and", "the", "running", "repeated", "channels", "shape",
         "is", "neither", "an", "element", "above", "keeps", "a", "last", "axis", "where", "included",
         "elementwise", "i", "j", "with"}


def _git_files() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [f for f in out if f.endswith((".py", ".md", ".toml", ".j2", ".cfg", ".ini", ".txt")) or "/" not in f]


def _entries():
    return [(n, REGISTRY[n]) for n in NAMES]


def test_page_is_current() -> None:
    assert PAGE == render(), "docs/contracts.md is stale: python -m conformance contracts > docs/contracts.md"


@pytest.mark.parametrize("name", NAMES)
def test_every_name_has_a_full_entry(name: str) -> None:
    c = REGISTRY[name]
    e = c.entry
    assert e is not None and e.formula and e.output and e.gradient, name
    if len(c.float_args) + len(c.int_args) > 1:
        assert e.broadcasting, f"{name} takes several tensors: its entry states the broadcasting rule"
    assert f'<a id="{name}"></a>' in PAGE
    for d in c.divergences:
        assert d in DIVERGENCES, f"{name}: divergence {d} is not defined on the page"


def _defined(c) -> set[str]:
    e = c.entry
    out = {w for s, _ in NOTATION for w in IDENT.findall(re.sub(r"\([^)]*\)", "", s))}
    out |= set(NAMES) | set(WORDS)
    call = c.call
    out |= {*call.positional, *call.keyword, *call.factory, *(k for k, _ in call.optional), *c.float_args,
            *c.int_args}
    out |= {k.symbol for k in e.constants}
    for key, _ in e.symbols:
        out |= {s.rstrip("²") for s in IDENT.findall(re.sub(r"\([^)]*\)", "", key))}
    for line in e.formula:  # the left-hand sides of the formula's own definitions
        for stmt in re.split(r";  |,  ", line.split("   (")[0]):
            m = re.match(r"\s*([^=←]+?)\s*(=|←)", stmt)
            if m and "(" not in m.group(1).split("[")[0]:
                out |= set(IDENT.findall(m.group(1).split("[")[0]))
    return out


@pytest.mark.parametrize("name", NAMES)
def test_every_symbol_of_a_formula_is_defined(name: str) -> None:
    c = REGISTRY[name]
    defined = _defined(c)
    undefined = set()
    for line in c.entry.formula:
        text = re.sub(r"^[a-z-]+:\s+", "", line.split("   (")[0])  # a convention's label, a trailing remark
        undefined |= {w for w in IDENT.findall(text) if not _is_defined(w, defined)}
    assert not undefined, f"{name}: symbols used in the formula but not defined on the page: {sorted(undefined)}"


def _is_defined(word: str, defined: set[str]) -> bool:
    """Defined itself, or an indexed member of a defined family: x_i with x (or x_k, x_1, ...) and i defined."""
    if word in defined:
        return True
    if word.endswith("_"):  # prob_(N−1): a subscript in parentheses
        return any(d.startswith(word) for d in defined)
    base, _, index = word.rpartition("_")
    family = base in defined or any(d.startswith(base + "_") for d in defined)
    return bool(base) and family and (index.isdigit() or index in defined)


def _oracle_value(source: str) -> float:
    """The oracle's value named by a constant's source, looked up here independently of the page code."""
    if source.endswith(")"):
        path, _, param = source[:-1].partition("(")
        module, _, fn = path.rpartition(".")
        return float(inspect.signature(getattr(importlib.import_module(module), fn)).parameters[param].default)
    module, _, attr = source.rpartition(".")
    return float(getattr(importlib.import_module(module), attr))


def test_every_constant_on_the_page_equals_the_oracles() -> None:
    rows = re.findall(r"^\| (\S[^|]*?) \| ([^|`]+?) \| `(oracle\.[^`]+)` \|", PAGE, flags=re.M)
    assert len(rows) >= 20
    symbols = set()
    for symbol, value, source in rows:
        assert float(value) == pytest.approx(_oracle_value(source), rel=1e-6), (symbol, value, source)
        symbols.add(symbol)
    assert {"λ_rpn_regr", "λ_rpn_class", "λ_cls_regr", "λ_cls_class", "ε", "ε_k", "ε_c", "α", "β", "γ", "s_0",
            "w_wh"} <= symbols
    inline = re.findall(r"ε_k = ([0-9.e+-]+) \(`(oracle\.[^`]+)`\)", PAGE)
    assert inline and all(float(v) == _oracle_value(s) for v, s in inline)


def test_no_formula_retypes_a_constant() -> None:
    """A formula names its constants by symbol: a value written into it could drift from the oracle's."""
    for name, c in _entries():
        values = {k.value for k in c.entry.constants} | {1e-4, 1e-6, 1e-7, 0.1}
        for line in c.entry.formula:
            for num in re.findall(r"(?<![\w.])\d+\.\d+(?:e-?\d+)?|\d+e-?\d+", line):
                assert float(num) == 0.5 or float(num) not in values, f"{name}: {line!r} writes {num}"


def test_the_clipping_conventions_are_defined() -> None:
    assert '<a id="clipping-conventions"></a>' in PAGE
    assert "**keras-ops**" in PAGE and "**keras-legacy**" in PAGE
    assert "−log(2ε_k) ≈ 15.4249" in PAGE and "−log ε_k ≈ 16.1181" in PAGE


CITATION = re.compile(r"§|LOSSES|spec C\d|\bC[12]\b(?![-\w])|spec [A-Z]{2,}-|\bD-(?:FRCNN|YOLOV3|CENTERNET)")


def test_nothing_cites_the_spec_file_its_sections_or_its_ids() -> None:
    hits = []
    for f in _git_files():
        if f == "tests/test_contract_page.py":
            continue
        for i, line in enumerate((ROOT / f).read_text(errors="replace").splitlines(), 1):
            if CITATION.search(line) and not (f == "tests/test_oracle_nn.py" and 'convention="C1"' in line):
                hits.append(f"{f}:{i}: {line.strip()[:100]}")
    assert not hits, "citations of the spec (link to docs/contracts.md instead):\n" + "\n".join(hits)


def test_help_cites_nothing_outside_the_repository() -> None:
    for argv in (["-m", "conformance", "--help"], ["-m", "conformance", "contracts", "--help"],
                 ["-m", "pytest", "--help"]):
        out = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True).stdout
        assert out and not CITATION.search(out), argv
    assert "--impl" in out  # the plugin's options were among them


ANCHOR = re.compile(r"contracts\.md#([\w-]+)")


def test_every_link_into_the_page_resolves() -> None:
    anchors = set(re.findall(r'<a id="([\w-]+)"></a>', PAGE))
    bad = []
    for f in _git_files():
        for target in ANCHOR.findall((ROOT / f).read_text(errors="replace")):
            if target not in anchors and target != "NAME":
                bad.append(f"{f}: #{target}")
    assert not bad, bad


def test_markdown_links_resolve() -> None:
    bad = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", doc.read_text()):
            if not target.startswith("http") and not (doc.parent / target).exists():
                bad.append(f"{doc.name}: {target}")
    assert not bad, bad


def test_the_command_prints_one_entry(capsys) -> None:
    from conformance.__main__ import main

    assert main(["contracts", "rpn_loss_cls"]) == 0
    out = capsys.readouterr().out
    assert out == render_entry("rpn_loss_cls") and out in PAGE
    assert "| λ_rpn_class | 1 | `oracle.frcnn.LAMBDA_RPN_CLASS` |" in out and "| ε | 0.0001 |" in out
    assert main(["contracts", "no_such_name"]) == 2


def test_a_failure_names_its_entry() -> None:
    from conformance.reporting.results import CheckResult
    from conformance.reporting.terminal import failure_text

    r = CheckResult("reg_l1_loss", "centernet", "value", "float32", "eager", status="failed", message="boom")
    assert "Contract: docs/contracts.md#reg_l1_loss (python -m conformance contracts reg_l1_loss)" in failure_text(r)


def test_docs_name_no_absolute_path_of_a_machine() -> None:
    """Commands and quoted output use paths relative to the clone, ~, or a placeholder the reader replaces."""
    absolute = re.compile(r"(?:^|[^\w.~$/-])/(?:root|work|home|tmp|usr|Users|opt|var|mnt)/")
    hits = [f"{doc.name}:{i}: {line.strip()[:100]}"
            for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
            for i, line in enumerate(doc.read_text().splitlines(), 1) if absolute.search(line)]
    assert not hits, hits


def test_a_report_section_carries_its_entry(tmp_path: Path) -> None:
    from test_report import _results, _write

    html = _write(tmp_path, _results()).read_text()
    assert "Contract: docs/contracts.md#rpn_loss_cls (python -m conformance contracts rpn_loss_cls)" in html
    assert "λ_rpn_class·Σ v·BCE(z, y_pred) / Σ(ε + v)" in html  # the entry itself, inline
