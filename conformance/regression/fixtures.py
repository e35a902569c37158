"""Regression fixtures: a versioned, pickle-free on-disk format, deterministic generation and replay.

A fixture set is a directory holding one ``.npz`` per case and a ``manifest.json``
(format: ``fixtures/README.md``).  Cases are drawn from the contract strategies with a
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
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

import oracle
from conformance.contracts import REGISTRY, Contract
from conformance.contracts.record import Tag
from conformance.numerics.compare import Comparison, compare
from conformance.numerics.dtypes import DTYPES, info, round_to
from conformance.numerics.tolerance import rounded
from conformance.reporting.results import CheckResult, Recorder

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
_KEY_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


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


def _digest(manifest: dict) -> str:
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
        manifest["digest"] = _digest(manifest)
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
    if manifest.get("digest") != _digest(manifest):
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
def _load_cached(root: Path) -> FixtureSet:
    return load(root)


def resolve(spec: str | Path) -> Path:
    """A fixture-set location: ``"committed"`` is the set bundled with the package."""
    return COMMITTED if str(spec) == "committed" else Path(spec).resolve()


# --------------------------------------------------------------------------------------------- generation


def round_example(contract: Contract, ex: dict, dtype: str) -> dict:
    """The example with its float tensors rounded to ``dtype`` (the oracle's view of the impl's inputs)."""
    return {k: rounded(dtype, v) if k in contract.float_args else v for k, v in ex.items()}


def extras(contract: Contract, dtype: str) -> dict[str, dict]:
    """Oracle keyword sets an implementation may match, keyed by convention (``"spec"`` without conventions)."""
    base = {"constants_dtype": dtype} if contract.constants_dtype else {}
    if contract.conventions:
        return {c: dict(base, convention=c) for c in oracle.CONVENTIONS}
    return {"spec": base}


def cotangent(contract: Contract, outputs: Any, seed: int, dtype: str) -> tuple[np.ndarray, ...]:
    """Random cotangents shaped like the output(s), rounded to ``dtype`` (as the gradient check draws them)."""
    rng = np.random.default_rng(seed)
    outs = outputs if contract.n_outputs > 1 else (outputs,)
    return tuple(round_to(dtype, rng.standard_normal(np.shape(o))) for o in outs)


def _tuple(x: Any) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _concat(xs: Sequence[Any]) -> np.ndarray:
    xs = [np.asarray(x, dtype=np.float64) for x in xs]
    return np.concatenate([np.ravel(x) for x in xs]) if len(xs) > 1 else xs[0]


def _variant_differs(variant: str) -> Callable[[Contract, dict, str], bool]:
    """The variant's value, or else its VJP for a cotangent of ones, differs from the spec beyond tolerance."""

    def holds(contract: Contract, ex: dict, dtype: str) -> bool:
        kw = next(iter(extras(contract, dtype).values()))
        out = contract.expected(ex, **kw)
        spec = _concat(_tuple(out))
        if not np.all(np.isfinite(spec)):
            return False
        var = _concat(_tuple(contract.expected(ex, variants=(variant,), **kw)))
        if not compare(var, spec, contract.tolerance.for_value(ex, spec, dtype), dtype, variant).ok:
            return True
        cot = tuple(np.ones(np.shape(o)) for o in _tuple(out))
        cot = cot if contract.n_outputs > 1 else cot[0]
        for k in contract.grad_args:
            pieces = zip(_tuple(contract.expected_vjp(ex, cot, k, **kw)),
                         _tuple(contract.expected_vjp(ex, cot, k, variants=(variant,), **kw)),
                         _tuple(contract.kinks(ex, k, **kw)), strict=True)
            for g, gv, kinks in pieces:
                g = np.asarray(g, dtype=np.float64)
                if np.all(np.isfinite(g)) and not compare(
                        gv, g, contract.tolerance.for_grad(ex, k, g, cot, dtype), dtype, variant, skip=kinks).ok:
                    return True
        return False

    return holds


def targets(contract: Contract) -> tuple[Tag, ...]:
    """What the cases of ``contract`` must cover beyond the first random draws (spec §6 and the record's tags)."""
    out = [Tag(v, f"the oracle variant {v} (spec §6 / docs/oracle.md) differs from the spec here (value or VJP)",
               _variant_differs(v)) for v in contract.oracle.variants]
    return (*out, *contract.tags)


@contextmanager
def without_local_constants() -> Iterator[None]:
    """Keep literals of the loaded local modules out of the draws while generating.

    Hypothesis mixes constants found in the source of every *local* module in ``sys.modules``
    into its draws, so the stream would depend on which modules happen to be imported (the
    implementation under test included) and on unrelated source edits.  This patches the
    internal hook (``hypothesis.internal.conjecture.providers._get_local_constants``) with an
    empty pool for the duration; where a Hypothesis version lacks it, nothing is patched.
    """
    try:
        from hypothesis.internal.conjecture import providers
        from hypothesis.internal.constants_ast import Constants

        original = providers._get_local_constants
        cache = providers.CONSTANTS_CACHE.cache
    except (ImportError, AttributeError):  # pragma: no cover - other Hypothesis versions
        yield
        return
    empty = Constants()
    providers._get_local_constants = lambda: empty
    cache.clear()
    try:
        yield
    finally:
        providers._get_local_constants = original
        cache.clear()


class _Enough(BaseException):
    """Stops the seeded Hypothesis stream once the pool is full (not an Exception: Hypothesis lets it through)."""


def name_seed(seed: int, *parts: str) -> int:
    """A stable 32-bit seed for (``seed``, name, dtype, ...), independent of PYTHONHASHSEED."""
    return zlib.crc32(":".join([str(seed), *parts]).encode())


@dataclass(frozen=True)
class Draw:
    """One valid example of the seeded stream: its position, the rounded example and the targets it covers."""

    index: int
    ex: dict
    tags: tuple[str, ...]


def _select(pool: Sequence[Draw], order: Sequence[str], per_name: int) -> list[Draw]:
    """The first draw covering each target, then distinct tag sets, then draws spread back from the end."""
    chosen: list[Draw] = []
    for tag in order:
        if not any(tag in d.tags for d in chosen):
            hit = next((d for d in pool if tag in d.tags), None)
            if hit is None:
                raise FixtureError(f"no remaining draw covers {tag}")
            chosen.append(hit)
    extra: list[Draw] = []
    seen = {frozenset(d.tags) for d in chosen}
    for d in pool:
        if len(extra) < per_name and d not in chosen and frozenset(d.tags) not in seen:
            extra.append(d)
            seen.add(frozenset(d.tags))
    rest = [d for d in pool if d not in chosen and d not in extra]
    need = min(per_name - len(extra), len(rest))
    # later draws are the more complex ones
    extra += [rest[len(rest) - 1 - (k * len(rest)) // need] for k in range(need)] if need > 0 else []
    return sorted(chosen + extra, key=lambda d: d.index)


def draw_examples(contract: Contract, dtype: str, seed: int, per_name: int, pool_size: int = 48,
                  budget: int = DRAW_BUDGET, keep: Callable[[Draw], bool] | None = None) -> list[Draw]:
    """Examples from the seeded strategy stream: one covering each target, and ``per_name`` diverse others.

    Deterministic: the stream comes from ``@hypothesis.seed`` (which overrides derandomize) with the generate
    phase only and no database.  It is read until ``pool_size`` valid examples are pooled and every target is
    covered (at most ``budget`` draws); the selection is a pure function of the pool.  Draws for which
    ``keep`` is false are dropped and the selection is redone without them.
    """
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as hseed

    goals = targets(contract)
    pool: list[Draw] = []
    pending = {t.tag for t in goals}
    ambiguous = getattr(contract, "ambiguous", None)
    kw = next(iter(extras(contract, dtype).values()))
    count = 0

    def consider(ex: dict) -> None:
        nonlocal count
        count += 1
        if ambiguous is not None and ambiguous(ex, dtype):
            return
        rounded = round_example(contract, ex, dtype)
        try:
            with np.errstate(all="ignore"):
                contract.expected(rounded, **kw)
                tags = tuple(t.tag for t in goals if t.holds(contract, rounded, dtype))
        except ValueError:
            return
        pool.append(Draw(count - 1, rounded, tags))
        pending.difference_update(tags)
        if len(pool) >= pool_size and not pending:
            raise _Enough

    @hseed(name_seed(seed, contract.name, dtype))
    @settings(max_examples=budget, database=None, phases=[Phase.generate], derandomize=False, deadline=None,
              suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet, report_multiple_bugs=False)
    @given(ex=contract.strategy())
    def stream(ex: dict) -> None:
        consider(ex)

    try:
        with without_local_constants():
            stream()
    except _Enough:
        pass
    if pending:
        raise FixtureError(f"{contract.name} ({dtype}): no example among {budget} draws covers "
                           f"{sorted(pending)}; raise the budget or widen the strategy")
    verdict: dict[int, bool] = {}
    while True:
        try:
            chosen = _select(pool, [t.tag for t in goals], per_name)
        except FixtureError as exc:
            raise FixtureError(f"{contract.name} ({dtype}): {exc} after dropping draws") from None
        for d in chosen:
            if d.index not in verdict:
                verdict[d.index] = keep is None or keep(d)
        if all(verdict[d.index] for d in chosen):
            return chosen
        pool = [d for d in pool if verdict.get(d.index, True)]


def _oracle_expected(contract: Contract, ex: dict, cot: tuple[np.ndarray, ...], dtype: str) -> dict[str, Expected]:
    out = {}
    with np.errstate(all="ignore"):
        for alt, kw in extras(contract, dtype).items():
            outputs = tuple(np.asarray(o, dtype=np.float64) for o in _tuple(contract.expected(ex, **kw)))
            c = cot if contract.n_outputs > 1 else cot[0]
            vjps = {k: tuple(np.asarray(g, dtype=np.float64) for g in _tuple(contract.expected_vjp(ex, c, k, **kw)))
                    for k in contract.grad_args}
            kinks = {k: tuple(np.asarray(m, dtype=bool) for m in _tuple(contract.kinks(ex, k, **kw)))
                     for k in contract.grad_args}
            out[alt] = Expected(outputs, vjps, kinks)
    return out


def _impl_expected(contract: Contract, runner: Any, ex: dict, cot: tuple[np.ndarray, ...],
                   dtype: str) -> dict[str, Expected]:
    from conformance.runners.tf import cot_tensor, prepare

    _, args = prepare(contract, ex, dtype)
    out, grads = runner.value_and_grad(args, cot_tensor(cot if contract.n_outputs > 1 else cot[0], dtype))
    if any(g is None or (isinstance(g, list) and any(x is None for x in g)) for g in grads.values()):
        raise ValueError("a gradient is None")
    return {"golden": Expected(tuple(np.asarray(o, dtype=np.float64) for o in _tuple(out)),
                               {k: tuple(np.asarray(g, dtype=np.float64) for g in _tuple(v))
                                for k, v in grads.items()})}


def _load_module(spec: str) -> Any:
    from conformance.impl import load

    try:
        return load(spec).obj
    except Exception as exc:
        raise FixtureError(str(exc)) from exc


def generate(out: str | Path, names: Iterable[str] | None = None, dtypes: Iterable[str] = ("float32",),
             seed: int = DEFAULT_SEED, per_name: int = DEFAULT_PER_NAME, from_impl: str | None = None,
             exact: bool = False, mode: str = "eager", validate_with: str | None = None, progress: bool = False,
             log: Callable[[str], None] = print) -> FixtureSet:
    """Generate a fixture set in ``out`` from the oracle or, with ``from_impl``, from an implementation (golden).

    ``validate_with`` (oracle sets only) drops, and lists in the manifest, each drawn case that this
    known-good implementation fails: each is a finding against the oracle, its kinks or the tolerances.
    Running it twice with the same arguments and library versions writes byte-identical files.
    """
    from tqdm import tqdm

    names = list(names or REGISTRY)
    dtypes = list(dict.fromkeys(dtypes))
    for n in names:
        if n not in REGISTRY:
            raise FixtureError(f"unknown contract name {n!r}; known: {', '.join(REGISTRY)}")
    for d in dtypes:
        info(d)
    if exact and from_impl is None:
        raise FixtureError("--exact applies to golden sets (--from-impl) only")
    if validate_with and from_impl:
        raise FixtureError("--validate-with applies to oracle sets only (a golden set records its impl)")
    import hypothesis

    header: dict[str, Any] = {
        "oracle_version": oracle.__version__,
        "generator": {"seed": seed, "per_name": per_name, "budget": DRAW_BUDGET, "hypothesis": hypothesis.__version__,
                      "numpy": np.__version__, "validated_with": validate_with},
        "tolerance": "spec",
        "source": {"kind": "oracle", "oracle_version": oracle.__version__},
        "tags": {},
        "dropped": [],
    }
    impl = _load_module(from_impl or validate_with) if (from_impl or validate_with) else None
    if impl is not None:
        import tensorflow as tf

        from conformance.checks.engine import runner_for

        if from_impl:
            header["tolerance"] = "exact" if exact else "golden"
            header["source"] = {"kind": "golden", "impl": from_impl, "mode": mode, "tensorflow": tf.__version__}
        missing = [n for n in names if getattr(impl, n, None) is None]
        if missing and from_impl:
            log(f"not provided by {from_impl} (skipped): {', '.join(missing)}")
            names = [n for n in names if n not in missing]
        elif missing:
            raise FixtureError(f"--validate-with={validate_with} does not provide {', '.join(missing)}")

    def make_case(contract: Contract, dtype: str, d: Draw) -> Case:
        with np.errstate(all="ignore"):
            shapes = contract.expected(d.ex, **next(iter(extras(contract, dtype).values())))
        cot = cotangent(contract, shapes, name_seed(seed, contract.name, dtype, str(d.index)), dtype)
        if from_impl:
            expected = _impl_expected(contract, runner_for(contract, impl, mode), d.ex, cot, dtype)
        else:
            expected = _oracle_expected(contract, d.ex, cot, dtype)
        return Case("", "", contract.name, dtype, d.tags, d.ex, cot, expected)

    def passes(contract: Contract, dtype: str, d: Draw) -> bool:
        probe = make_case(contract, dtype, d)
        fails, _ = _replay_case(contract, runner_for(contract, impl, mode), probe, "spec",
                                Recorder(CheckResult(contract.name, contract.family, "regression", dtype, mode)))
        if fails:
            lines = fails[0].splitlines()
            reason = "; ".join([lines[0], *[x for x in lines if x.startswith("Worst element")][:1]])
            header["dropped"].append({"name": contract.name, "dtype": dtype, "draw": d.index, "tags": list(d.tags),
                                      "reason": reason})
            log(f"{contract.name} ({dtype}): draw {d.index} dropped, {validate_with} fails it: {reason}")
        return not fails

    cases: list[Case] = []
    jobs = [(n, d) for n in names for d in dtypes]
    for name, dtype in tqdm(jobs, desc="fixtures", unit="name", disable=None if progress else True):
        contract = REGISTRY[name]
        for t in targets(contract):
            header["tags"][t.tag] = t.description
        keep = (lambda d, c=contract, dt=dtype: passes(c, dt, d)) if validate_with else None
        for i, d in enumerate(draw_examples(contract, dtype, seed, per_name, keep=keep)):
            try:
                case = make_case(contract, dtype, d)
            except Exception as exc:
                if not from_impl:
                    raise
                log(f"{name} ({dtype}): draw {d.index}: {from_impl} raised {type(exc).__name__}: {exc}; not recorded")
                continue
            cid = f"{name}-{dtype}-{i:03d}"
            cases.append(replace(case, id=cid, file=cid + ".npz"))
    header["tags"] = dict(sorted(header["tags"].items()))
    write_set(Path(out), cases, header)
    _load_cached.cache_clear()
    return load(out)


# --------------------------------------------------------------------------------------------- replay


def _ulp(dtype: str, x: np.ndarray) -> np.ndarray:
    d = info(dtype)
    with np.errstate(all="ignore"):
        mag = np.maximum(np.nan_to_num(np.abs(x), nan=0.0, posinf=0.0), d.tiny)
        return np.exp2(np.floor(np.log2(mag)) - d.mantissa_bits)


def _compare(mode: str, actual: Any, expected: np.ndarray, dtype: str, what: str,
             spec_tol: Callable[[], np.ndarray], skip: np.ndarray | None = None) -> tuple[Comparison, str]:
    """Compare under the set's tolerance mode; golden/exact also require the same NaN (and zero-sign) pattern."""
    a = np.asarray(actual, dtype=np.float64)
    if mode == "spec":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices where the exact value is undefined
            tol = spec_tol()
        return compare(a, expected, tol, dtype, what, skip=skip), ""
    tol = 0.0 if mode == "exact" else GOLDEN_ULPS * _ulp(dtype, expected)
    cmp = compare(a, expected, tol, dtype, what + f" ({mode})")
    if a.shape != expected.shape:
        return cmp, ""
    bad = np.isnan(expected) & ~np.isnan(a)
    if mode == "exact":
        bad |= (a == 0) & (expected == 0) & (np.signbit(a) != np.signbit(expected))
    if not bad.any():
        return cmp, ""
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    note = (f"{int(bad.sum())} element(s) differ in NaN or zero sign from the recorded behaviour; first at "
            f"index {idx}: actual {a[idx]!r}, recorded {expected[idx]!r}")
    return replace(cmp, mismatches=cmp.mismatches + int(bad.sum())), note


def _message(cmp: Comparison, note: str) -> str:
    return cmp.message() + (f"\n{note}" if note else "")


def _replay_case(contract: Contract, runner: Any, case: Case, mode: str,
                 rec: Recorder) -> tuple[list[str], str | None]:
    """Replay one case and record its statistics: (failure messages, empty if it conforms; diagnosis)."""
    from conformance.runners.tf import cot_tensor, prepare

    rounded, args = prepare(contract, case.inputs, case.dtype)
    for k in contract.float_args:
        if not all(np.array_equal(x, y, equal_nan=True) for x, y in zip(_tuple(rounded[k]), _tuple(case.inputs[k]),
                                                                        strict=True)):
            return [f"input {k!r} is not representable in {case.dtype} (a set generated by other tooling?)"], None
    dtype, grads, grad_error = case.dtype, None, None
    try:
        actual, grads = runner.value_and_grad(args, cot_tensor(case.cot, dtype))
    except Exception as exc:
        grad_error = exc
        try:
            actual = runner.value(args)
        except Exception as exc2:
            return [f"{contract.name} raised {type(exc2).__name__}: {exc2}"], None
    acts = _tuple(actual)
    value_cmps = {}
    for alt, e in case.expected.items():
        if len(acts) != len(e.outputs):
            value_cmps[alt] = None
            continue
        exp = _concat(e.outputs)
        value_cmps[alt] = _compare(mode, _concat(acts), exp, dtype, f"value of {contract.name}",
                                   lambda exp=exp: contract.tolerance.for_value(rounded, exp, dtype))
    fails: list[str] = []
    ok_value = {alt for alt, c in value_cmps.items() if c is not None and c[0].ok}
    best_v = min((c for c in value_cmps.values() if c is not None), key=lambda c: (c[0].mismatches, c[0].max_ulp),
                 default=None)
    if best_v is None:
        fails.append(f"{contract.name}: returned {len(acts)} output(s), the contract has {contract.n_outputs}")
    elif not ok_value:
        fails.append(_message(*best_v))
    grad_cmps: dict[str, list[tuple[Comparison, str]]] = {}
    none = [k for k in contract.grad_args if grads is not None and (grads.get(k) is None or any(
        g is None for g in _tuple(grads[k])))]
    if grad_error is not None:
        fails.append(f"gradient: {contract.name} raised {type(grad_error).__name__}: {grad_error}")
    elif none:
        fails.append(f"gradient of {contract.name} wrt {', '.join(none)} is None, but the spec says it flows")
    else:
        for alt, e in case.expected.items():
            cmps = []
            for k, want in e.vjps.items():
                kinks = e.kinks.get(k, (None,) * len(want))
                for i, (g, w, kk) in enumerate(zip(_tuple(grads[k]), want, kinks, strict=False)):
                    label = f"gradient of {contract.name} wrt {k}" + (f"[{i}]" if len(want) > 1 else "")
                    cmps.append(_compare(mode, g, w, dtype, label,
                                         lambda k=k, w=w: contract.tolerance.for_grad(rounded, k, w, case.cot, dtype),
                                         skip=kk))
            grad_cmps[alt] = cmps
        ok_grad = {alt for alt, cs in grad_cmps.items() if all(c.ok for c, _ in cs)}
        best_g = min(grad_cmps.values(), key=lambda cs: (sum(c.mismatches for c, _ in cs),
                                                         max((c.max_ulp for c, _ in cs), default=0)))
        if not ok_grad:
            fails.append("\n\n".join(_message(c, n) for c, n in best_g if not c.ok))
        if contract.conventions and mode == "spec":
            rec.conventions(ok_value & ok_grad)
    stats = [c for c, _ in ([best_v] if best_v else []) + (best_g if grad_cmps else [])]
    mag = float(np.nanmax(np.abs(_concat(acts)), initial=0.0)) if best_v else None
    rec.example(max((c.max_abs for c in stats), default=0.0), max((c.max_rel for c in stats), default=0.0),
                max((c.max_ulp for c in stats), default=0), magnitude=mag)
    diagnosis = None
    if fails and best_v is not None and not ok_value and mode == "spec":
        from conformance.checks.value import diagnose

        diagnosis = diagnose(contract, rounded, actual, dtype)
        if diagnosis:
            fails.append(f"Diagnosis: {diagnosis}")
    return fails, diagnosis


MAX_REPORTED_CASES = 3


def replay(contract: Contract, impl: Any, impl_name: str, dtype: str, mode: str, fset: FixtureSet) -> CheckResult:
    """Replay ``fset``'s cases of ``contract`` in ``dtype`` against ``impl``: one ``regression`` CheckResult."""
    result = CheckResult(contract.name, contract.family, "regression", dtype, mode)
    result.extra = {"fixtures": fset.label, "tolerance": fset.tolerance, "source": fset.source}
    if getattr(impl, contract.name, None) is None:
        result.status, result.message = "not provided", f"not provided by {impl_name}"
        return result
    cases = fset.cases_for(contract.name, dtype)
    if not cases:
        result.status, result.message = "skipped", f"no {dtype} cases of {contract.name} in the {fset.label}"
        return result
    from conformance.checks.engine import runner_for
    from conformance.reporting.snippet import snippet

    runner = runner_for(contract, impl, mode)
    rec = Recorder(result)
    failed: list[tuple[Case, list[str]]] = []
    diagnoses: list[str] = []
    for case in cases:
        fails, diagnosis = _replay_case(contract, runner, case, fset.tolerance, rec)
        result.extra.setdefault("cases", []).append(
            {"id": case.id, "tags": list(case.tags), "status": "failed" if fails else "passed"})
        if fails:
            failed.append((case, fails))
        if diagnosis:
            diagnoses.append(diagnosis)
    if failed:
        result.status = "failed"
        # A case where one divergence makes no difference is matched by fewer variants: keep the fullest.
        result.diagnosis = max(diagnoses, key=lambda d: d.count(" + "), default=None)
        result.extra["failed_cases"] = [c.id for c, _ in failed]
        src = fset.source
        origin = (f"oracle {src.get('oracle_version')}" if src.get("kind") == "oracle"
                  else f"golden from {src.get('impl')} ({src.get('mode')} mode)")
        head = (f"regression: {len(failed)} of {len(cases)} {dtype} case(s) of {contract.name} differ from the "
                f"{fset.label} ({origin}, {fset.tolerance} tolerance)")
        parts = [head]
        for case, fails in failed[:MAX_REPORTED_CASES]:
            tags = f" [{', '.join(case.tags)}]" if case.tags else ""
            parts.append(f"case {case.id}{tags} ({fset.path / case.file}):\n" + "\n".join(fails))
        if len(failed) > MAX_REPORTED_CASES:
            parts.append(f"... and {len(failed) - MAX_REPORTED_CASES} more: "
                         + ", ".join(c.id for c, _ in failed[MAX_REPORTED_CASES:]))
        result.message = "\n\n".join(parts)
        result.reproducer = snippet(contract, failed[0][0].inputs, dtype, mode, impl_name, "regression")
    return result


def fixture_sets(specs: Sequence[str] | None) -> list[FixtureSet]:
    """The sets named by ``--fixtures-dir`` (default: the committed set), verified and cached per process."""
    return [_load_cached(resolve(s)) for s in (specs or ["committed"])]


def pytest_replay(contract: Contract, impl: tuple[str, Any], dtype: str, mode: str, record: Callable,
                  config: Any) -> None:
    """Body of ``test_regression``: replay every selected set, record one result per set, fail or skip."""
    import pytest

    name, module = impl
    try:
        sets = fixture_sets(config.getoption("--fixtures-dir"))
    except FixtureError as exc:
        result = CheckResult(contract.name, contract.family, "regression", dtype, mode, status="error",
                             message=str(exc))
        record(result)
        pytest.fail(str(exc), pytrace=False)
    results = []
    for s in sets:
        try:
            results.append(replay(contract, module, name, dtype, mode, s))
        except Exception as exc:  # an error in the suite itself, reported as such
            record(CheckResult(contract.name, contract.family, "regression", dtype, mode, status="error",
                               message=f"{type(exc).__name__}: {exc}", extra={"fixtures": s.label}))
            raise
        record(results[-1])
    bad = [r for r in results if r.status == "failed"]
    if bad:
        pytest.fail("\n\n".join(r.message for r in bad), pytrace=False)
    if all(r.status in ("not provided", "skipped") for r in results):
        pytest.skip("; ".join(dict.fromkeys(r.message for r in results)))
