"""Regression fixtures: format safety, deterministic generation, golden sets, replay and the gate's verdicts."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import oracle
from conformance import regression as rg
from conformance.contracts import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["smooth_l1", "bbox_iou", "rpn_loss_cls"]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}

SCALED = """
from conformance.targets.reference import *  # noqa: F403
from conformance.targets import reference as _ref


def {name}({args}):
    {body}
"""


def _mutant(tmp: Path, name: str, args: str, body: str) -> object:
    """A copy of the reference implementation with one function changed, loaded from a .py file."""
    from conformance.plugin import load_impl

    path = tmp / f"mutant_{name}_{zlib.crc32(body.encode())}.py"
    path.write_text(SCALED.format(name=name, args=args, body=body))
    return load_impl(str(path))


def _scaled_smooth_l1(tmp: Path, factor: str = "1.001") -> object:
    return _mutant(tmp, "smooth_l1", "x", f"return _ref.smooth_l1(x) * {factor}")


def _scaled_rpn_loss_regr(tmp: Path, factor: str = "1.001") -> object:
    body = f"f = _ref.rpn_loss_regr(num_anchors)\n    return lambda y_true, y_pred: f(y_true, y_pred) * {factor}"
    return _mutant(tmp, "rpn_loss_regr", "num_anchors", body)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "conformance", *args], capture_output=True, text=True, env=ENV,
                          cwd=ROOT, timeout=300)


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> Path:
    return rg.generate(tmp_path_factory.mktemp("fx") / "set", names=SMALL, per_name=2).path


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(src, dst)
    return dst


def _rewrite_manifest(root: Path, edit) -> None:
    """Apply ``edit`` to the manifest and re-seal it (digest), as a careful forger would."""
    m = json.loads((root / rg.MANIFEST).read_text())
    edit(m)
    m["digest"] = rg.digest(m)
    (root / rg.MANIFEST).write_text(json.dumps(m))


def _problems(root: Path) -> str:
    fset, probs = rg.verify(root)
    assert fset is None and probs
    with pytest.raises(rg.FixtureError):
        rg.load(root)
    return "\n".join(probs)


# ------------------------------------------------------------------------------------------------ format


def test_generation_is_byte_identical(tmp_path, small_set):
    again = rg.generate(tmp_path / "again", names=SMALL, per_name=2).path
    files = sorted(p.name for p in small_set.iterdir())
    assert files == sorted(p.name for p in again.iterdir())
    for f in files:
        assert (small_set / f).read_bytes() == (again / f).read_bytes(), f
    # and in a fresh process with another hash seed, through the command line
    env = {**ENV, "PYTHONHASHSEED": "12345"}
    out = tmp_path / "cli"
    proc = subprocess.run([sys.executable, "-m", "conformance", "fixtures", "generate", "--names", *SMALL,
                           "--per-name", "2", "--out", str(out)], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    for f in files:
        assert (small_set / f).read_bytes() == (out / f).read_bytes(), f


def test_draws_ignore_constants_of_loaded_modules(tmp_path, monkeypatch):
    """Hypothesis draws literals of loaded local modules; generation must not depend on what is imported."""
    contract = REGISTRY["class_loss_regr"]

    def draws() -> list[bytes]:
        return [d.ex["y_pred"].tobytes() for d in rg.draw_examples(contract, "float32", 0, 6)]

    before = draws()
    (tmp_path / "fixture_constants_mod.py").write_text(
        "VALUES = [0.123456789, 7.77, 1e-5, 2.5e-3, 3.14159, -0.75, 0.333, 0.9999, 12345, 17, 3, 5, 0.01]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "fixture_constants_mod", __import__("fixture_constants_mod"))
    assert draws() == before


def test_files_are_plain_npz_with_fixed_timestamps(small_set):
    fset = rg.load(small_set)
    case = fset.cases[0]
    with zipfile.ZipFile(small_set / case.file) as zf:
        assert {zi.date_time for zi in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    with np.load(small_set / case.file, allow_pickle=False) as z:
        assert all(z[k].dtype.kind in "biuf" for k in z.files)
    m = json.loads((small_set / rg.MANIFEST).read_text())
    assert m["schema_version"] == rg.SCHEMA_VERSION and m["oracle_version"] == oracle.__version__
    assert m["generator"]["seed"] == rg.DEFAULT_SEED
    entry = m["cases"][0]
    assert {"name", "kwargs", "dtype", "inputs", "cotangents", "expected", "sha256"} <= set(entry)
    assert entry["sha256"] == hashlib.sha256((small_set / entry["file"]).read_bytes()).hexdigest()


def test_expected_nan_for_degenerate_boxes_is_stored(small_set):
    cases = [c for c in rg.load(small_set).cases if "YOLO-ZERO-UNION" in c.tags]
    assert cases and all(np.isnan(c.expected["spec"].outputs[0]).any() for c in cases)


def _flip(root: Path, f: str) -> None:
    data = bytearray((root / f).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (root / f).write_bytes(bytes(data))


def _truncate(root: Path, f: str) -> None:
    (root / f).write_bytes((root / f).read_bytes()[:100])


TAMPER = {
    "modified": (_flip, "sha256 mismatch"),
    "truncated": (_truncate, "truncated"),
    "missing": (lambda root, f: (root / f).unlink(), "missing"),
    "stray": (lambda root, f: shutil.copy(root / f, root / "extra.npz"), "extra.npz: not listed"),
}


@pytest.mark.parametrize("how", list(TAMPER))
def test_tampered_files_are_refused_naming_the_file(tmp_path, small_set, how):
    root = _copy(small_set, tmp_path)
    victim = sorted(p.name for p in root.glob("*.npz"))[1]
    act, phrase = TAMPER[how]
    act(root, victim)
    msg = _problems(root)
    assert phrase in msg
    assert (victim in msg) or how == "stray"


def test_unknown_schema_version_is_refused(tmp_path, small_set):
    root = _copy(small_set, tmp_path)
    _rewrite_manifest(root, lambda m: m.update(schema_version=99))
    msg = _problems(root)
    assert "manifest.json" in msg and "unknown schema version 99" in msg


def test_hand_edited_manifest_is_refused(tmp_path, small_set):
    root = _copy(small_set, tmp_path)
    m = json.loads((root / rg.MANIFEST).read_text())
    m["cases"][0]["kwargs"]["num_anchors"] = 3
    (root / rg.MANIFEST).write_text(json.dumps(m))
    assert "digest mismatch" in _problems(root)
    (root / rg.MANIFEST).write_text((root / rg.MANIFEST).read_text()[:200])
    assert "not valid JSON" in _problems(root)
    (root / rg.MANIFEST).unlink()
    assert "manifest.json: missing" in _problems(root)


def test_unsafe_file_name_is_refused(tmp_path, small_set):
    root = _copy(small_set, tmp_path)
    _rewrite_manifest(root, lambda m: m["cases"][0].update(file="../outside.npz"))
    assert "unsafe or invalid file name '../outside.npz'" in _problems(root)


class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickled_payload_is_never_executed(tmp_path, small_set):
    root = _copy(small_set, tmp_path)
    marker = tmp_path / "executed"
    m = json.loads((root / rg.MANIFEST).read_text())
    entry = m["cases"][0]
    buf = zipfile.ZipFile(root / "evil.zip", "w")
    with np.load(root / entry["file"], allow_pickle=False) as z:
        for k in z.files:
            with buf.open(k + ".npy", "w") as f:
                arr = np.array([_Payload(marker)], dtype=object) if k == "cotangent.0" else z[k]
                np.lib.format.write_array(f, arr, allow_pickle=True)
    buf.close()
    data = (root / "evil.zip").read_bytes()
    (root / "evil.zip").unlink()
    (root / entry["file"]).write_bytes(data)
    _rewrite_manifest(root, lambda m: m["cases"][0].update(sha256=hashlib.sha256(data).hexdigest(),
                                                            bytes=len(data)))
    msg = _problems(root)
    assert entry["file"] in msg and "unreadable without pickle" in msg
    assert not marker.exists()


def test_cli_verify(tmp_path, small_set):
    ok = _cli("fixtures", "verify", str(small_set))
    assert ok.returncode == 0 and "OK" in ok.stdout
    root = _copy(small_set, tmp_path)
    victim = sorted(p.name for p in root.glob("*.npz"))[0]
    _flip(root, victim)
    bad = _cli("fixtures", "verify", str(root))
    assert bad.returncode == 1 and victim in bad.stderr and "sha256 mismatch" in bad.stderr


# ------------------------------------------------------------------------------------------------ committed set


DTYPES = ("float32", "float16", "bfloat16")
HALF = ("float16", "bfloat16")


def test_committed_set_is_small_complete_and_current():
    fset = rg.load("committed")
    size = sum(p.stat().st_size for p in rg.COMMITTED.iterdir())
    assert size <= 5_000_000
    for dtype in DTYPES:  # every name in every dtype the suite checks
        assert {c.name for c in fset.cases if c.dtype == dtype} == set(REGISTRY), f"{dtype}; {REGENERATE}"
    assert {c.dtype for c in fset.cases} == set(DTYPES)
    assert fset.tolerance == "spec" and fset.source["kind"] == "oracle"
    assert fset.manifest["oracle_version"] == oracle.__version__, "regenerate the committed set (docs/fixtures.md)"
    tags = {(c.name, t) for c in fset.cases for t in c.tags}
    for need in [("rpn_loss_cls", "FRCNN-SWAPPED-BCE"), ("rpn_loss_cls", "FRCNN-NORM-AXIS"),
                 ("rpn_loss_cls", "CONVENTIONS-DIFFER"), ("bbox_iou", "YOLO-ZERO-UNION"),
                 ("bbox_giou", "YOLO-ZERO-UNION"),
                 ("focal_loss", "CN-NO-POSITIVE"), ("loss", "CN-NO-POSITIVE"), ("rpn_loss_regr", "ZERO-MASK"),
                 ("reg_l1_loss", "ZERO-MASK"), ("class_loss_cls", "CLS-ALL-BATCH")]:
        assert need in tags, need


REGENERATE = ("regenerate it: python -m conformance fixtures generate --dtype float32,float16,bfloat16 "
              "--out conformance/regression/data --validate-with=conformance.targets.reference")


def test_committed_set_covers_every_target_and_matches_the_oracle():
    fset = rg.load("committed")
    uncovered = {(u["name"], u["dtype"]): set(u["tags"]) for u in fset.manifest["uncovered"]}
    assert all(dtype in HALF for _, dtype in uncovered), "float32 must cover every target"
    for name, contract in REGISTRY.items():
        for dtype in DTYPES:
            have = {t for c in fset.cases if c.name == name and c.dtype == dtype for t in c.tags}
            missing = {t.tag for t in rg.targets(contract)} - have
            assert missing == uncovered.get((name, dtype), set()), (
                f"the committed set has no {sorted(missing)} case of {name} in {dtype}; {REGENERATE}")
    for case in fset.cases:
        now = rg.oracle_expected(REGISTRY[case.name], case.inputs, case.cotangents, case.dtype)
        for alt, e in case.expected.items():
            for got, want in [*zip(e.outputs, now[alt].outputs, strict=True),
                              *[(g, w) for k in e.vjps for g, w in zip(e.vjps[k], now[alt].vjps[k], strict=True)]]:
                np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300, equal_nan=True,
                                           err_msg=f"{case.id} ({alt}): the oracle changed; {REGENERATE}")
            for k in e.kinks:
                assert all(np.array_equal(g, w) for g, w in zip(e.kinks[k], now[alt].kinks[k], strict=True)), (
                    f"{case.id} ({alt}): the oracle's kinks changed; {REGENERATE}")


def test_cli_verify_committed_covers_every_dtype():
    ok = _cli("fixtures", "verify", "committed")
    assert ok.returncode == 0, ok.stderr
    for dtype in DTYPES:
        assert f" {dtype} " in ok.stdout, ok.stdout


def test_a_dtype_without_cases_says_so_in_the_summary(small_set):
    from conformance.reporting.terminal import regression_gaps, render_summary
    from conformance.targets import reference

    fset = rg.load(small_set)  # float32 only
    results = [_replay(reference, n, fset, dtype="bfloat16") for n in SMALL]
    assert all(r.status == "skipped" and r.extra["no_cases"] for r in results)
    lines = regression_gaps(results, list(REGISTRY))
    assert lines == [f"regression: the fixture set {small_set} has no bfloat16 case: nothing replayed in bfloat16"]
    assert lines[0] in render_summary(results, "reference")
    # a set with cases of some names only (a name added after the set was generated)
    replayed = _replay(reference, "bbox_iou", rg.load("committed"), dtype="bfloat16")
    assert replayed.status == "passed"
    mixed = [replayed, replace(results[0], extra={**results[0].extra, "fixtures": "committed set"})]
    assert regression_gaps(mixed, list(REGISTRY)) == [
        "regression: the committed set has no bfloat16 case of smooth_l1 (not replayed)"]


def test_gate_replays_the_cases_of_each_dtype_under_test(tmp_path):
    report = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "conformance",
                           "--impl=conformance.targets.reference", "--dtype=bfloat16,float16,float64", "-m",
                           "regression", "-k", "smooth_l1", "-p", "no:cacheprovider", "-q", f"--report-json={report}"],
                          capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    got = {r["dtype"]: (r["status"], r["examples"]) for r in json.loads(report.read_text())["results"]}
    assert got["bfloat16"][0] == got["float16"][0] == "passed" and got["bfloat16"][1] >= 6, got
    assert got["float64"] == ("skipped", 0), got
    assert "regression: the committed set has no float64 case: nothing replayed in float64" in proc.stdout
    assert "no bfloat16 case" not in proc.stdout and "no float16 case" not in proc.stdout


def test_packaging_lists_the_committed_set():
    text = (ROOT / "pyproject.toml").read_text()
    assert '"regression/data/*"' in text and rg.COMMITTED.name == "data"


# ------------------------------------------------------------------------------------------------ replay


def _replay(impl, name: str, fset, impl_name: str = "impl", dtype: str = "float32"):
    return rg.replay(REGISTRY[name], impl, impl_name, dtype, "eager", fset)


def test_replay_committed_set_on_reference_passes():
    from conformance.targets import reference

    fset = rg.load("committed")
    results = [_replay(reference, n, fset) for n in REGISTRY]
    assert [(r.name, r.message) for r in results if r.status != "passed"] == []
    assert all(r.category == "regression" and r.examples >= 6 for r in results)
    assert next(r for r in results if r.name == "binary_crossentropy").conventions == ["keras-ops"]


def test_uncovered_conventions_cannot_differ_in_bfloat16():
    """Why CONVENTIONS-DIFFER has no bfloat16 case: where the conventions differ most (p = 0, t = 1: −log ε_k
    against −log 2ε_k, log 2 apart), the generator's value tolerance of bfloat16 (the worst case: it does not
    measure the platform) exceeds the difference; float32 tells them, and so does bfloat16's running bound."""
    from conformance.contracts.tags import conventions_differ
    from conformance.numerics import arithmetic

    contract, tag = REGISTRY["binary_crossentropy"], conventions_differ()
    ex = {"target": np.array([[1.0]]), "output": np.array([[0.0]])}
    arithmetic.reset()  # the generator's model: the platform not measured
    assert tag.holds(contract, ex, "float32") and not tag.holds(contract, ex, "bfloat16")
    try:  # with the kernels measured, BCE's running error bound tells them apart in bfloat16 too
        arithmetic.use(arithmetic.Arithmetic("bfloat16", "float32", "test", kernels={"log": 1.0, "log1p": 1.0}))
        assert tag.holds(contract, ex, "bfloat16")
    finally:
        arithmetic.reset()
    assert {"name": "binary_crossentropy", "dtype": "bfloat16", "tags": ["CONVENTIONS-DIFFER"]} in rg.load(
        "committed").manifest["uncovered"]


# one or two names per family and the costly reductions (every name: --validate-with at generation, and the gate)
HALF_FAST = ["sigmoid_cross_entropy_with_logits", "binary_crossentropy", "rpn_loss_cls", "rpn_loss_regr",
             "class_loss_cls", "bbox_iou", "ciou_loss", "focal", "reg_l1_loss", "loss", "decode"]


def test_replay_half_dtypes_on_reference_passes():
    """The reference reproduces the float16 and bfloat16 cases (tolerances from the measured arithmetic)."""
    from conformance.numerics import arithmetic
    from conformance.targets import reference

    fset = rg.load("committed")
    for dtype in HALF:
        results = [_replay(reference, n, fset, dtype=dtype) for n in HALF_FAST]
        assert [(r.name, r.message) for r in results if r.status != "passed"] == [], dtype
        assert all(r.examples >= 6 for r in results), dtype
        assert arithmetic.measured(dtype)  # the replay installed the measurement it was judged by


def test_a_case_out_of_the_dtypes_range_is_not_judged_as_in_the_tiers():
    """bbox_giou-float16-005: the second box's area 2.5e-7 is below float16's smallest normal (out of range), and
    the reference's gradient there is NaN where the exact one is -282. The value and gradient tiers discard such an
    example; the replay does too, counts it, and the summary says so."""
    from conformance.numerics.tolerance import in_range
    from conformance.reporting.terminal import render_summary
    from conformance.targets import reference

    fset = rg.load("committed")
    case = next(c for c in fset.cases_for("bbox_giou", "float16") if c.id == "bbox_giou-float16-005")
    assert not in_range(REGISTRY["bbox_giou"], case.inputs, "float16")
    r = _replay(reference, "bbox_giou", fset, dtype="float16")
    assert r.status == "passed" and r.extra["out_of_range"] >= 1 and r.examples >= 3, (r.message, r.extra)
    assert any(line.startswith("regression cases out of the dtype's range") and "bbox_giou (float16 regression: "
               in line for line in render_summary([r], "x"))


@pytest.mark.parametrize("mutant, name", [("m43_compute_loss_mean_of_scales", "compute_loss"),
                                          ("m25_loss_layer_mean_over_all", "loss_layer")])
def test_replay_fails_on_a_mutant_in_bfloat16(mutant, name):
    import mutants

    r = _replay(mutants.load(mutant), name, rg.load("committed"), mutant, "bfloat16")
    assert r.status == "failed" and f"{name}-bfloat16-" in r.message and r.extra["failed_cases"], r.message
    assert r.dtype == "bfloat16" and f"value of {name}" in r.message


def test_replay_fails_on_broken_implementations(tmp_path):
    from conformance.targets import documents_adapter

    fset = rg.load("committed")
    r = _replay(documents_adapter, "rpn_loss_cls", fset, "documents")
    assert r.status == "failed" and "FRCNN-SWAPPED-BCE" in r.diagnosis
    assert "rpn_loss_cls-float32-" in r.message and "Diagnosis:" in r.message and r.reproducer
    outcome = {c["id"]: c["status"] for c in r.extra["cases"]}
    assert r.extra["failed_cases"] == [i for i, st in outcome.items() if st == "failed"] != []
    assert any("FRCNN-SWAPPED-BCE" in c["tags"] and c["status"] == "failed" for c in r.extra["cases"])
    r = _replay(documents_adapter, "smooth_l1", fset, "documents")
    assert (r.status, r.message) == ("not provided", "not provided by documents")
    r = _replay(_scaled_smooth_l1(tmp_path), "smooth_l1", fset)
    assert r.status == "failed" and "value of smooth_l1" in r.message
    r = _replay(_mutant(tmp_path, "rpn_loss_regr", "num_anchors", "return lambda y_true, y_pred: y_pred[0, 0, 0, 0]"),
                "rpn_loss_regr", fset)
    assert r.status == "failed" and "gradient of rpn_loss_regr" in r.message


def test_golden_set_catches_a_changed_implementation(tmp_path):
    from conformance.targets import reference

    names = ["smooth_l1", "rpn_loss_regr", "bbox_iou"]
    golden = rg.generate(tmp_path / "golden", names=names, per_name=2, from_impl="conformance.targets.reference")
    assert golden.tolerance == "golden" and golden.source["impl"] == "conformance.targets.reference"
    for n in names:
        assert _replay(reference, n, golden).status == "passed", n
    r = _replay(_scaled_rpn_loss_regr(tmp_path), "rpn_loss_regr", golden)
    assert r.status == "failed" and "(golden)" in r.message
    # a one-ulp nudge is inside "golden" (4 ulps) and outside "exact"
    nudged = _scaled_smooth_l1(tmp_path, "(1 + 2**-23)")
    assert _replay(nudged, "smooth_l1", golden).status == "passed"
    exact = rg.generate(tmp_path / "exact", names=["smooth_l1"], per_name=2, exact=True,
                        from_impl="conformance.targets.reference")
    assert exact.tolerance == "exact"
    assert _replay(reference, "smooth_l1", exact).status == "passed"
    assert _replay(nudged, "smooth_l1", exact).status == "failed"


# ------------------------------------------------------------------------------------------------ the gate


def _gate(tmp_path: Path, impl: Path, tag: str, *extra: str) -> tuple[int, dict]:
    report = tmp_path / f"{tag}.json"
    cmd = [sys.executable, "-m", "pytest", "--pyargs", "conformance", f"--impl={impl}", "-p", "no:cacheprovider",
           "-q", "-k", "smooth_l1 or sigmoid-float32", "-m", "value or regression",
           f"--report-json={report}", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=600)
    assert report.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.returncode, json.loads(report.read_text())


def _verdict(doc: dict) -> dict:
    return {n: {c: (v["status"], v["examples"], v["conventions"], v["diagnoses"]) for c, v in cats.items()}
            for n, cats in doc["verdicts"].items()}


@pytest.mark.slow
def test_gate_report_exit_status_and_deterministic_verdicts(tmp_path):
    """The gate on an implementation with one scaled loss: twice serially, then under ``-n 2``.

    One test, so that xdist does not run the three subprocesses once per worker.
    """
    impl = tmp_path / "mutant_gate.py"
    impl.write_text(SCALED.format(name="smooth_l1", args="x", body="return _ref.smooth_l1(x) * 1.001"))
    (rc_a, a), (rc_b, b), (rc_c, c) = (_gate(tmp_path, impl, "a"), _gate(tmp_path, impl, "b"),
                                       _gate(tmp_path, impl, "c", "-n", "2"))
    # the report: pytest's exit status, per-name per-category verdicts with errors, conventions, diagnoses
    assert rc_a == 1
    v = a["verdicts"]
    assert v["smooth_l1"]["regression"]["status"] == "failed" and v["smooth_l1"]["regression"]["max_rel"] > 5e-4
    assert v["sigmoid"]["regression"]["status"] == "passed"
    assert a["summary"]["smooth_l1"] == {"value": "failed", "regression": "failed"}
    assert {"status", "examples", "max_abs", "max_rel", "max_ulp", "conventions", "diagnoses"} <= set(
        v["sigmoid"]["value"])
    # the same verdicts on every run ...
    assert (rc_b, _verdict(b)) == (rc_a, _verdict(a))
    # ... and under pytest-xdist
    assert (rc_c, _verdict(c)) == (rc_a, _verdict(a))


def test_half_precision_fixtures_hold_every_constants_alternative() -> None:
    """In float16 and bfloat16 the clip constants may be held in the dtype or in float32 (the mixed-precision
    pattern: arguments in the dtype, computation in float32); a committed case accepts each of the oracle's
    behaviours, so a mixed-precision implementation is not failed by the regression tier."""
    from conformance.contracts import REGISTRY
    from conformance.regression.format import COMMITTED, load

    seen = 0
    for case in load(COMMITTED).cases:
        c = REGISTRY[case.name]
        if c.conventions and case.dtype in ("float16", "bfloat16"):
            assert set(case.expected) == set(c.oracle_keywords(case.dtype)), case.id
            seen += 1
    assert seen > 40
