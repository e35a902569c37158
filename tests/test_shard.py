"""Sharded runs merged into one report (``--shard``, ``python -m conformance report merge``), killed runs' partial
JSON, ``--isolate``, and the sweep's arguments."""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from conformance import plugin, shard, sweep
from conformance.contracts import REGISTRY
from conformance.reporting.merge import MergeError, check, load
from conformance.reporting.results import CheckResult
from conformance.reporting.run_info import RunInfo

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
ENV.pop("PYTEST_XDIST_WORKER", None)
CATEGORIES = ("badinput", "gradient", "regression", "stability", "value")


def _item(category: str, name: str, dtype: str = "float32") -> types.SimpleNamespace:
    return types.SimpleNamespace(module=types.SimpleNamespace(__name__=f"conformance.suite.test_{category}"),
                                 callspec=types.SimpleNamespace(params={"contract": REGISTRY[name]}),
                                 nodeid=f"conformance/suite/test_{category}.py::test_{category}[{name}-{dtype}-eager]")


ITEMS = [_item(c, n, d) for c in CATEGORIES for n in REGISTRY for d in ("float32", "float16")]


# --- the split ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("count", [1, 2, 3, 7, 400])
def test_every_check_in_exactly_one_shard_whatever_the_order(count: int) -> None:
    where = shard.assign(ITEMS, count, plugin.expected_cost)
    assert len(where) == len(ITEMS) and all(0 <= k < count for k in where)
    shuffled = list(range(len(ITEMS)))
    random.Random(count).shuffle(shuffled)
    again = shard.assign([ITEMS[i] for i in shuffled], count, plugin.expected_cost)
    assert {ITEMS[i].nodeid: k for i, k in zip(shuffled, again, strict=True)} == {
        i.nodeid: k for i, k in zip(ITEMS, where, strict=True)}  # depends on the checks, not their order


def test_a_name_category_stays_together_and_the_shards_are_balanced() -> None:
    where = shard.assign(ITEMS, 3, plugin.expected_cost)
    by_unit: dict[str, set[int]] = {}
    for item, k in zip(ITEMS, where, strict=True):
        by_unit.setdefault(item.nodeid.split("[")[0] + item.callspec.params["contract"].name, set()).add(k)
    assert all(len(s) == 1 for s in by_unit.values())  # both dtypes of a name's category in one shard
    loads = [sum(plugin.expected_cost(i) for i, k in zip(ITEMS, where, strict=True) if k == s) for s in range(3)]
    biggest_unit = max(2 * plugin.expected_cost(i) for i in ITEMS)
    assert max(loads) - min(loads) <= biggest_unit + 1e-6
    naive = [sum(plugin.expected_cost(i) for i in ITEMS[s::3]) for s in range(3)]  # against dealing in turn
    assert max(loads) - min(loads) <= max(naive) - min(naive)


@pytest.mark.parametrize("text, problem", [("2", "expected K/N"), ("0/3", "1 <= K <= N"), ("4/3", "1 <= K <= N"),
                                           ("a/b", "expected K/N"), ("1/0", "1 <= K <= N")])
def test_bad_shard_values_are_refused_naming_the_problem(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("<", ".")):
        shard.parse(text)


def test_the_shard_id_does_not_depend_on_how_the_suite_is_invoked() -> None:
    assert shard.check_id("conformance/suite/test_value.py::test_value[sigmoid-float32-eager]") == \
        shard.check_id("site-packages/conformance/suite/test_value.py::test_value[sigmoid-float32-eager]")


# --- refusing parts of different runs ------------------------------------------------------------------------------

def _part(path: Path, shard_k: tuple[int, int] | None = None, dtype: str = "float32", status: str = "passed",
          **changes) -> Path:
    identity = {"suite": "1.0", "impl": "pkg.losses", "options": {"keyword": "sigmoid", "hypothesis-seed": None},
                "cell": {"dtypes": [dtype], "mode": "eager", "framework": "auto"},
                "shard": {"index": shard_k[0], "count": shard_k[1]} if shard_k else None}
    identity.update(changes)
    r = CheckResult("sigmoid", "nn", "value", dtype, "eager", status=status, examples=25)
    doc = {**identity, "checks": [f"test_value.py::test_value[sigmoid-{dtype}-eager]"], "complete": True,
           "exitstatus": 0, "results": [json.loads(r.to_json())], "info": RunInfo("pkg.losses", [dtype]).to_json()}
    path.write_text(json.dumps(doc))
    return path


def test_parts_of_one_run_in_several_cells_are_accepted(tmp_path: Path) -> None:
    parts = [_part(tmp_path / "a.json", (1, 2)), _part(tmp_path / "b.json", (2, 2)),
             _part(tmp_path / "c.json", dtype="float16")]
    check([load(p) for p in parts])


@pytest.mark.parametrize("change, message", [
    ({"suite": "1.1"}, "c.json .* ran another suite version"),
    ({"impl": "other.losses"}, "c.json .* ran another implementation"),
    ({"options": {"keyword": "softmax", "hypothesis-seed": None}}, "c.json .*options.*keyword"),
])
def test_parts_of_another_run_are_refused_by_name(tmp_path: Path, change: dict, message: str) -> None:
    parts = [_part(tmp_path / "a.json", (1, 2)), _part(tmp_path / "b.json", (2, 2)),
             _part(tmp_path / "c.json", dtype="float16", **change)]
    with pytest.raises(MergeError, match=message):
        check([load(p) for p in parts])


def test_missing_duplicate_and_overlapping_parts_are_refused(tmp_path: Path) -> None:
    a, b = _part(tmp_path / "a.json", (1, 3)), _part(tmp_path / "b.json", (3, 3))
    with pytest.raises(MergeError, match=r"shard 2/3 of float32/eager missing \(given: a.json"):
        check([load(a), load(b)])
    with pytest.raises(MergeError, match="shard 1/3 given twice: a.json .* and a2.json"):
        check([load(a), load(_part(tmp_path / "a2.json", (1, 3))), load(b)])
    with pytest.raises(MergeError, match="the same cell twice"):
        check([load(_part(tmp_path / "x.json")), load(_part(tmp_path / "y.json"))])
    with pytest.raises(MergeError, match="junk.json: neither a conformance JSON"):
        check([load(_write(tmp_path / "junk.json", "hello\n"))])


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_matrix_of_dtypes_becomes_one_table(tmp_path: Path) -> None:
    from conformance.reporting.merge import merge

    a = _part(tmp_path / "a.json", (1, 1))
    b = _part(tmp_path / "b.json", dtype="float16", status="failed")
    status, lines = merge([a, b], str(tmp_path / "m.json"), str(tmp_path / "m.html"))
    doc = json.loads((tmp_path / "m.json").read_text())
    assert status == 1 and doc["exitstatus"] == 1 and doc["dtypes"] == ["float32", "float16"]
    assert doc["summary"] == {"sigmoid": {"value": "failed"}}
    assert doc["verdicts"]["sigmoid"]["value"]["examples"] == 50
    assert [(r["dtype"], r["status"]) for r in doc["results"]] == [("float32", "passed"), ("float16", "failed")]
    assert any(line.split()[:2] == ["sigmoid", "FAIL"] for line in lines)
    html = (tmp_path / "m.html").read_text()
    assert 'title="float32/eager: passed; float16/eager: failed"' in html
    status, _ = merge([a], str(tmp_path / "m1.json"), None)
    assert status == 0
    with pytest.raises(MergeError, match="m.json: a merged report: merge the runs' own files .*a.json"):
        load(tmp_path / "m.json")


def test_sweep_arguments() -> None:
    assert sweep.seeds("1-3,7,2") == [1, 2, 3, 7]
    with pytest.raises(ValueError, match="--seeds"):
        sweep.seeds("x")
    args = argparse.Namespace(impl="m", seeds="1-2", dtype=["float16"], profile="p", shards=2, workers=None, jobs=2,
                              out="o", pytest_args=["--", "-k", "focal"])
    cmds = sweep.commands(args)
    assert len(cmds) == 4 and all("--dtype=float16" in c and c[-2:] == ["-k", "focal"] for _, c in cmds)
    assert sorted(a for _, c in cmds for a in c if a.startswith("--shard")) == ["--shard=1/2"] * 2 + ["--shard=2/2"] * 2
    with pytest.raises(ValueError, match="--dtype"):
        sweep.commands(argparse.Namespace(**{**vars(args), "dtype": ["float8"]}))


# --- end to end: shards merged equal one run; a killed run's partial JSON --------------------------------------------

SELECTION = ["-k", "sigmoid or softmax or smooth_l1", "-m", "value or gradient"]


def _run(tmp: Path, impl: Path | str, tag: str, *extra: str) -> tuple[int, Path, str]:
    out = tmp / f"{tag}.json"
    proc = subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "conformance", f"--impl={impl}", "-q",
                           "-p", "no:cacheprovider", *SELECTION, f"--report-json={out}", *extra],
                          capture_output=True, text=True, env=ENV, cwd=tmp, timeout=900)
    return proc.returncode, out, proc.stdout[-3000:] + proc.stderr[-3000:]


def _merge(tmp: Path, *parts: Path) -> tuple[int, dict, str]:
    out = tmp / "merged.json"
    proc = subprocess.run([sys.executable, "-m", "conformance", "report", "merge", "--json", str(out), "--html",
                           str(tmp / "merged.html"), *map(str, parts)], capture_output=True, text=True, env=ENV,
                          cwd=tmp, timeout=300)
    return proc.returncode, json.loads(out.read_text()) if out.exists() else {}, proc.stdout + proc.stderr


def _verdicts(doc: dict) -> dict:
    return {n: {c: (v["status"], v["examples"], v["conventions"], v["diagnoses"]) for c, v in cats.items()}
            for n, cats in doc["verdicts"].items()}


MUTANT = """
from conformance.targets.reference import *  # noqa: F403
from conformance.targets import reference as _ref


def smooth_l1(x):
    return _ref.smooth_l1(x) * 1.001
"""


@pytest.mark.slow
def test_three_shards_merged_equal_one_run(tmp_path: Path) -> None:
    """Three shards of the reference with one broken name, merged: the verdicts, the summary and the exit status
    of one whole run (the passing names' included), the failure in the HTML report and its reproducer."""
    impl = _write(tmp_path / "scaled.py", MUTANT)
    rc, whole, out = _run(tmp_path, impl, "whole")
    shards = [_run(tmp_path, impl, f"shard{k}", f"--shard={k}/3") for k in (1, 2, 3)]
    assert all(s[1].exists() for s in shards), [s[2] for s in shards]
    mrc, merged, mout = _merge(tmp_path, *(s[1] for s in shards))
    single = json.loads(whole.read_text())
    assert (mrc, _verdicts(merged), merged["summary"]) == (rc, _verdicts(single), single["summary"]), mout
    assert rc == 1, out
    assert sorted(merged["checks"]) == sorted(single["checks"])  # every check in exactly one shard
    assert sum(len(json.loads(s[1].read_text())["checks"]) for s in shards) == len(single["checks"])
    rows = {line.split()[0]: line for line in mout.splitlines() if line.split()[:1] in (["smooth_l1"], ["sigmoid"])}
    assert "FAIL" in rows["smooth_l1"] and "FAIL" not in rows["sigmoid"], mout
    assert 'title="float32/eager: failed"' in (tmp_path / "merged.html").read_text()
    assert list((tmp_path / "merged-reproducers").glob("*smooth_l1*.py"))  # written beside the merged report


ABORTING = """
import os
from conformance.targets.reference import *  # noqa: F403


def smooth_l1(x):
    os.abort()
"""


@pytest.mark.slow
def test_a_killed_run_leaves_a_partial_json_that_merge_reads(tmp_path: Path) -> None:
    impl = _write(tmp_path / "aborting.py", ABORTING)
    rc, part, out = _run(tmp_path, impl, "killed")
    assert rc not in (0, 1) and part.exists(), out  # killed by SIGABRT: pytest wrote no report
    mrc, merged, mout = _merge(tmp_path, part)
    assert mrc == 1, mout
    summary = merged["summary"]
    # test_gradient runs before test_value: the gradient checks before smooth_l1 were judged, smooth_l1's was
    # running, and no value check ran
    assert summary["smooth_l1"] == {"gradient": "crashed", "value": "never ran"}, mout
    assert summary["sigmoid"] == {"gradient": "passed", "value": "never ran"}, mout
    assert "killed while running test_gradient.py::test_gradient[smooth_l1-float32-eager]" in mout
    assert "NEVER RAN" in (tmp_path / "merged.html").read_text()
    # --isolate: the abort is the crash of one check, and the run goes on to the end
    rc, whole, out = _run(tmp_path, impl, "isolated", "--isolate")
    doc = json.loads(whole.read_text())
    assert rc == 1 and doc["complete"], out
    assert doc["summary"]["smooth_l1"]["gradient"] == "crashed" and doc["summary"]["sigmoid"] == {
        "gradient": "passed", "value": "passed"}, out


def test_partial_lines_cut_short_are_read(tmp_path: Path) -> None:
    """The last line of a killed run may be cut in the middle: what precedes it is kept."""
    head = {"conformance_journal": 1, "suite": "1.0", "impl": "m", "options": {}, "shard": None,
            "cell": {"dtypes": ["float32"], "mode": "eager", "framework": "auto"},
            "checks": ["test_value.py::test_value[sigmoid-float32-eager]",
                       "test_value.py::test_value[softmax-float32-eager]"]}
    done = CheckResult("sigmoid", "nn", "value", "float32", "eager")
    text = "\n".join([json.dumps(head), json.dumps({"start": head["checks"][0]}),
                      json.dumps({"result": json.loads(done.to_json())}), json.dumps({"end": head["checks"][0]}),
                      json.dumps({"start": head["checks"][1]}), '{"result": {"name": "soft'])
    part = load(_write(tmp_path / "p.json", textwrap.dedent(text)))
    assert not part.complete and part.running == [head["checks"][1]] and part.never_ran == []
    assert [(r.name, r.status) for r in part.results] == [("sigmoid", "passed"), ("softmax", "crashed")]
