"""Regression fixtures: a versioned, pickle-free on-disk format, deterministic generation and replay.

A fixture set is a directory holding one ``.npz`` per case and a ``manifest.json``
(format: ``docs/fixtures.md``).  Cases are drawn from the contract strategies with a
fixed Hypothesis seed; their expected outputs and VJPs come from the oracle (``spec``
tolerances) or from an implementation's own behaviour (golden sets: ``golden`` a few
ulps, ``exact`` bitwise).  Nothing is ever unpickled: every file is checked against
the manifest's sha256 and read with ``allow_pickle=False``.

TensorFlow is imported only to call an implementation: replay, golden recording, ``validate_with``.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from conformance.contracts import REGISTRY
from conformance.numerics.dtypes import DTYPES

SCHEMA = "loss-conformance-fixtures"
SCHEMA_VERSION = 1
TOLERANCE_MODES = ("spec", "golden", "exact")
GOLDEN_ULPS = 4
DEFAULT_SEED = 0
DEFAULT_PER_NAME = 6
DRAW_BUDGET = 400
COMMITTED = Path(__file__).resolve().parent / "data"
MANIFEST = "manifest.json"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_FILE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\.npz$")
_KEY_RE = re.compile(r"^[A-Za-z0-9_.@-]+$")


class FixtureError(Exception):
    """A fixture set failed its schema or integrity checks (the message names the file and the problem)."""


# --------------------------------------------------------------------------------------------- the format


@dataclass(frozen=True)
class Expected:
    """One acceptable behaviour of a case: outputs, VJPs per argument, and kink masks (oracle sets only)."""

    outputs: tuple[np.ndarray, ...]
    vjps: dict[str, tuple[np.ndarray, ...]]
    kinks: dict[str, tuple[np.ndarray, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    """One fixture: rounded inputs, cotangents and the expected behaviour(s), keyed by convention or source."""

    id: str
    file: str
    name: str
    dtype: str
    tags: tuple[str, ...]
    inputs: dict[str, Any]
    cotangents: tuple[np.ndarray, ...]
    expected: dict[str, Expected]

    @property
    def cot(self) -> Any:
        """The cotangent as the gradient check takes it (a tuple for multi-output names)."""
        return self.cotangents if len(self.cotangents) > 1 else self.cotangents[0]


@dataclass(frozen=True)
class FixtureSet:
    """A verified fixture set loaded from ``path``."""

    path: Path
    manifest: dict
    cases: tuple[Case, ...]

    @property
    def tolerance(self) -> str:
        return self.manifest["tolerance"]

    @property
    def source(self) -> dict:
        return self.manifest["source"]

    @property
    def label(self) -> str:
        return "committed set" if self.path == COMMITTED else str(self.path)

    def cases_for(self, name: str, dtype: str) -> list[Case]:
        return [c for c in self.cases if c.name == name and c.dtype == dtype]


def digest(manifest: dict) -> str:
    body = {k: v for k, v in manifest.items() if k != "digest"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()).hexdigest()


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An ``.npz`` whose bytes depend only on ``arrays``: sorted members, fixed timestamps, no pickles."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for key in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(arrays[key], order="C"), allow_pickle=False)
            zi = zipfile.ZipInfo(key + ".npy", date_time=_ZIP_DATE)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.create_system = 3
            zi.external_attr = 0o644 << 16
            zf.writestr(zi, member.getvalue(), compresslevel=9)
    return buf.getvalue()


def _flatten(value: Any, key: str, arrays: dict[str, np.ndarray]) -> str | list[str]:
    """Store ``value`` (an array or a list of arrays) under ``key``; return the manifest reference."""
    if isinstance(value, (list, tuple)):
        return [_flatten(v, f"{key}.{i}", arrays) for i, v in enumerate(value)]
    arrays[key] = np.asarray(value)
    return key


def _json_scalar(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, (bool, int, float, str)) and not (isinstance(v, float) and not np.isfinite(v)):
        return v
    raise TypeError(f"configuration value {v!r} cannot be stored in a fixture manifest")


def _case_entry(case: Case) -> tuple[dict, dict[str, np.ndarray]]:
    arrays: dict[str, np.ndarray] = {}
    inputs, kwargs = {}, {}
    for k, v in case.inputs.items():
        if isinstance(v, (np.ndarray, list, tuple)):
            inputs[k] = _flatten(v, f"input.{k}", arrays)
        else:
            kwargs[k] = _json_scalar(v)
    cots = _flatten(list(case.cotangents), "cotangent", arrays)
    expected = {}
    for alt, e in case.expected.items():
        expected[alt] = {
            "outputs": _flatten(list(e.outputs), f"{alt}.output", arrays),
            "vjps": {k: _flatten(list(v), f"{alt}.vjp.{k}", arrays) for k, v in e.vjps.items()},
            "kinks": {k: _flatten(list(v), f"{alt}.kinks.{k}", arrays) for k, v in e.kinks.items()},
        }
    entry = {"id": case.id, "file": case.file, "name": case.name, "family": REGISTRY[case.name].family,
             "dtype": case.dtype, "tags": list(case.tags), "kwargs": kwargs, "inputs": inputs,
             "cotangents": cots, "expected": expected,
             "arrays": {k: {"dtype": a.dtype.str, "shape": list(a.shape)} for k, a in sorted(arrays.items())}}
    return entry, arrays


def write_set(out: Path, cases: Sequence[Case], header: dict) -> Path:
    """Write ``cases`` and their manifest to ``out``, replacing a fixture set already there."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise FixtureError(f"{out}: exists, is not empty and holds no {MANIFEST}; refusing to overwrite it")
    entries = []
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fixtures-", dir=out.parent) as tmp:
        for case in cases:
            entry, arrays = _case_entry(case)
            data = _npz_bytes(arrays)
            (Path(tmp) / case.file).write_bytes(data)
            entry.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
            entries.append(entry)
        manifest = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, **header, "cases": entries}
        manifest["digest"] = digest(manifest)
        (Path(tmp) / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True, allow_nan=False) + "\n")
        for old in [*out.glob("*.npz"), out / MANIFEST]:
            old.unlink(missing_ok=True)
        for f in sorted(Path(tmp).iterdir()):
            shutil.move(str(f), out / f.name)
    return out


# --------------------------------------------------------------------------------------------- verification


def _refs(x: Any) -> list[str]:
    return [x] if isinstance(x, str) else list(x) if isinstance(x, list) else []


def _check_refs(where: str, x: Any, keys: set[str]) -> list[str]:
    ok = isinstance(x, str) or (isinstance(x, list) and x and all(isinstance(r, str) for r in x))
    if not ok:
        return [f"{where}: expected an array key or a list of array keys, got {x!r}"]
    bad = [r for r in _refs(x) if not _KEY_RE.match(r)]
    keys.update(_refs(x))
    return [f"{where}: invalid array key {r!r}" for r in bad]


def _check_case(i: int, c: Any, tolerance: str) -> tuple[list[str], set[str]]:
    """Schema problems of manifest case ``i`` and the array keys it references."""
    where = f"{MANIFEST}: case #{i}"
    if not isinstance(c, dict):
        return [f"{where}: not an object"], set()
    need = {"id": str, "file": str, "name": str, "dtype": str, "sha256": str, "bytes": int, "tags": list,
            "kwargs": dict, "inputs": dict, "cotangents": list, "expected": dict, "arrays": dict}
    probs = [f"{where}: field {k!r} missing or not a {t.__name__}" for k, t in need.items()
             if not isinstance(c.get(k), t)]
    if probs:
        return probs, set()
    where = f"{MANIFEST}: case {c['id']!r}"
    if not _FILE_RE.match(c["file"]):
        probs.append(f"{where}: unsafe or invalid file name {c['file']!r}")
    if c["name"] not in REGISTRY:
        probs.append(f"{where}: unknown contract name {c['name']!r}")
    if c["dtype"] not in DTYPES:
        probs.append(f"{where}: unknown dtype {c['dtype']!r}")
    if not re.fullmatch(r"[0-9a-f]{64}", c["sha256"]):
        probs.append(f"{where}: sha256 is not 64 hex digits")
    keys: set[str] = set()
    for k, v in c["inputs"].items():
        probs += _check_refs(f"{where}: inputs[{k!r}]", v, keys)
    probs += _check_refs(f"{where}: cotangents", c["cotangents"], keys)
    for k, v in c["kwargs"].items():
        if not isinstance(v, (bool, int, float, str)):
            probs.append(f"{where}: kwargs[{k!r}] is not a number or string")
    if not c["expected"]:
        probs.append(f"{where}: no expected behaviour")
    for alt, e in c["expected"].items():
        if not isinstance(e, dict) or not isinstance(e.get("outputs"), list) or not all(
                isinstance(e.get(f), dict) for f in ("vjps", "kinks")):
            probs.append(f"{where}: expected[{alt!r}] needs 'outputs' (list), 'vjps' and 'kinks' (objects)")
            continue
        probs += _check_refs(f"{where}: expected[{alt!r}].outputs", e["outputs"], keys)
        for f in ("vjps", "kinks"):
            for k, v in e[f].items():
                probs += _check_refs(f"{where}: expected[{alt!r}].{f}[{k!r}]", v, keys)
    if set(c["arrays"]) != keys:
        probs.append(f"{where}: 'arrays' lists {sorted(set(c['arrays']) ^ keys)} but the case references "
                     "otherwise")
    for k, meta in c["arrays"].items():
        if not (isinstance(meta, dict) and isinstance(meta.get("dtype"), str) and isinstance(meta.get("shape"), list)
                and all(isinstance(n, int) and n >= 0 for n in meta["shape"])):
            probs.append(f"{where}: arrays[{k!r}] needs a 'dtype' string and a 'shape' list")
        elif meta["dtype"][1:] not in ("b1", "i8", "i4", "u1", "f8", "f4"):
            probs.append(f"{where}: arrays[{k!r}] has dtype {meta['dtype']!r}, not a plain numeric one")
    if tolerance == "spec" and c["name"] in REGISTRY:
        grad_args = set(REGISTRY[c["name"]].grad_args)
        for alt, e in c["expected"].items():
            if isinstance(e, dict) and isinstance(e.get("vjps"), dict) and set(e["vjps"]) != grad_args:
                probs.append(f"{where}: expected[{alt!r}] VJPs for {sorted(e['vjps'])}, contract has "
                             f"{sorted(grad_args)}")
    return probs, keys


def _read_manifest(root: Path) -> tuple[dict | None, list[str]]:
    path = root / MANIFEST
    if not root.is_dir():
        return None, [f"{root}: not a directory"]
    if not path.is_file():
        return None, [f"{path}: missing (not a fixture set?)"]

    def _no_constants(c: str) -> Any:
        raise ValueError(f"non-standard JSON constant {c}")

    try:
        manifest = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, [f"{path}: not valid JSON ({exc}); truncated or edited?"]
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA:
        return None, [f"{path}: not a {SCHEMA} manifest (field 'schema' is {manifest.get('schema')!r})"
                      if isinstance(manifest, dict) else f"{path}: not a {SCHEMA} manifest"]
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        return None, [f"{path}: unknown schema version {version!r} (this suite reads version {SCHEMA_VERSION}); "
                      "regenerate the set, or use the loss-conformance release that wrote it"]
    if manifest.get("digest") != digest(manifest):
        return None, [f"{path}: digest mismatch: the manifest was edited or corrupted after it was written"]
    probs = []
    if manifest.get("tolerance") not in TOLERANCE_MODES:
        probs.append(f"{path}: tolerance must be one of {TOLERANCE_MODES}, got {manifest.get('tolerance')!r}")
    if not isinstance(manifest.get("source"), dict) or not isinstance(manifest.get("cases"), list):
        probs.append(f"{path}: needs a 'source' object and a 'cases' list")
    return manifest, probs


def _read_arrays(path: Path, entry: dict) -> tuple[dict[str, np.ndarray] | None, list[str]]:
    if not path.is_file():
        return None, [f"{path}: missing (listed in {MANIFEST})"]
    data = path.read_bytes()
    if len(data) != entry["bytes"]:
        what = "truncated" if len(data) < entry["bytes"] else "has extra bytes"
        return None, [f"{path}: {what} ({len(data)} bytes, the manifest says {entry['bytes']})"]
    got = hashlib.sha256(data).hexdigest()
    if got != entry["sha256"]:
        return None, [f"{path}: sha256 mismatch (file {got[:16]}..., manifest {entry['sha256'][:16]}...): "
                      "the file was modified after the set was written"]
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:  # a valid checksum over a file this suite would not write
        return None, [f"{path}: unreadable without pickle ({type(exc).__name__}: {exc})"]
    probs = []
    meta = entry["arrays"]
    if set(arrays) != set(meta):
        missing, extra = sorted(set(meta) - set(arrays)), sorted(set(arrays) - set(meta))
        probs.append(f"{path}: arrays do not match the manifest (missing {missing}, unexpected {extra})")
    bad = sorted(k for k, a in arrays.items() if k in meta and (a.dtype.str != meta[k]["dtype"]
                                                                or list(a.shape) != meta[k]["shape"]))
    if bad:
        probs.append(f"{path}: arrays {bad} differ in dtype or shape from the manifest")
    return (None if probs else arrays), probs


def _build(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    return [arrays[k] for k in value] if isinstance(value, list) else arrays[value]


def _pieces(value: Any, arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    return tuple(arrays[k] for k in _refs(value))


def verify(root: str | Path) -> tuple[FixtureSet | None, list[str]]:
    """Check a fixture set's schema and every file's size and sha256; return (the set or None, problems).

    ``root`` is a directory, or ``"committed"`` for the set bundled with the package.
    """
    root = resolve(root)
    manifest, probs = _read_manifest(root)
    if manifest is None or probs:
        return None, probs
    cases, listed = [], set()
    for i, entry in enumerate(manifest["cases"]):
        p, _ = _check_case(i, entry, manifest["tolerance"])
        if p:
            probs += p
            continue
        if entry["file"] in listed:
            probs.append(f"{MANIFEST}: file {entry['file']!r} is listed twice")
            continue
        listed.add(entry["file"])
        arrays, p = _read_arrays(root / entry["file"], entry)
        probs += p
        if arrays is None:
            continue
        inputs = {k: _build(v, arrays) for k, v in entry["inputs"].items()}
        inputs.update(entry["kwargs"])
        expected = {alt: Expected(_pieces(e["outputs"], arrays),
                                  {k: _pieces(v, arrays) for k, v in e["vjps"].items()},
                                  {k: _pieces(v, arrays) for k, v in e["kinks"].items()})
                    for alt, e in entry["expected"].items()}
        cases.append(Case(entry["id"], entry["file"], entry["name"], entry["dtype"], tuple(entry["tags"]), inputs,
                          _pieces(entry["cotangents"], arrays), expected))
    named = {e.get("file") for e in manifest["cases"] if isinstance(e, dict)}
    probs += [f"{root / f}: not listed in {MANIFEST}" for f in sorted(x.name for x in root.glob("*.npz"))
              if f not in named]
    return (None if probs else FixtureSet(root, manifest, tuple(cases))), probs


def load(root: str | Path) -> FixtureSet:
    """Load a verified fixture set, raising :class:`FixtureError` listing every problem."""
    fset, probs = verify(root)
    if probs:
        raise FixtureError(f"fixture set {root} failed verification:\n  " + "\n  ".join(probs))
    return fset


@lru_cache(maxsize=8)
def load_cached(root: Path) -> FixtureSet:
    return load(root)


def resolve(spec: str | Path) -> Path:
    """A fixture-set location: ``"committed"`` is the set bundled with the package."""
    return COMMITTED if str(spec) == "committed" else Path(spec).resolve()


