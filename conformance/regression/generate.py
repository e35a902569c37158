"""Regression fixtures: deterministic generation of a set from the oracle or from an implementation (golden)."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

import oracle
from conformance.checks.profiles import without_local_constants
from conformance.contracts import REGISTRY, Contract
from conformance.contracts.record import Tag
from conformance.numerics.compare import compare
from conformance.numerics.dtypes import info

# --------------------------------------------------------------------------------------------- generation
from conformance.regression.cases import as_tuple, concat, cotangent, judge_case, round_example
from conformance.regression.format import (
    DEFAULT_PER_NAME,
    DEFAULT_SEED,
    DRAW_BUDGET,
    Case,
    Expected,
    FixtureError,
    FixtureSet,
    load,
    load_cached,
    write_set,
)
from conformance.reporting.results import CheckResult, Recorder


def _variant_differs(variant: str) -> Callable[[Contract, dict, str], bool]:
    """The variant's value, or else its VJP for a cotangent of ones, differs from the contract beyond tolerance."""

    def holds(contract: Contract, ex: dict, dtype: str) -> bool:
        kw = next(iter(contract.oracle_keywords(dtype).values()))
        out = contract.expected(ex, **kw)
        spec = concat(as_tuple(out))
        if not np.all(np.isfinite(spec)):
            return False
        var = concat(as_tuple(contract.expected(ex, variants=(variant,), **kw)))
        if not compare(var, spec, contract.tolerance.for_value(ex, spec, dtype), dtype, variant).ok:
            return True
        cot = tuple(np.ones(np.shape(o)) for o in as_tuple(out))
        cot = cot if contract.n_outputs > 1 else cot[0]
        for k in contract.grad_args:
            pieces = zip(as_tuple(contract.expected_vjp(ex, cot, k, **kw)),
                         as_tuple(contract.expected_vjp(ex, cot, k, variants=(variant,), **kw)),
                         as_tuple(contract.kinks(ex, k, **kw)), strict=True)
            for i, (g, gv, kinks) in enumerate(pieces):
                g = np.asarray(g, dtype=np.float64)
                if np.all(np.isfinite(g)) and not compare(
                        gv, g, contract.tolerance.for_grad(ex, k, g, cot, dtype, i), dtype, variant, skip=kinks).ok:
                    return True
        return False

    return holds


def targets(contract: Contract) -> tuple[Tag, ...]:
    """What the cases of ``contract`` must cover beyond the first random draws (divergences and the record's tags)."""
    out = [Tag(v, f"the oracle variant {v} (docs/oracle.md) differs from the contract here (value or VJP)",
               _variant_differs(v)) for v in contract.oracle.variants]
    return (*out, *contract.tags)


HALF_LIMIT = 2.0**-24  # dtypes less precise than float32 may leave a target uncovered (listed in the manifest)


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
                  budget: int = DRAW_BUDGET, keep: Callable[[Draw], bool] | None = None,
                  uncovered: Callable[[list[str]], None] | None = None) -> list[Draw]:
    """Examples from the seeded strategy stream: one covering each target, and ``per_name`` diverse others.

    Deterministic: the stream comes from ``@hypothesis.seed`` (which overrides derandomize) with the generate
    phase only and no database.  It is read until ``pool_size`` valid examples are pooled and every target is
    covered (at most ``budget`` draws); the selection is a pure function of the pool.  Draws for which
    ``keep`` is false are dropped and the selection is redone without them.  A target no draw covers is an
    error, unless ``uncovered`` is given: it is then called with those targets, and the rest are selected.
    """
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as hseed

    goals = targets(contract)
    pool: list[Draw] = []
    pending = {t.tag for t in goals}
    ambiguous = getattr(contract, "ambiguous", None)
    kw = next(iter(contract.oracle_keywords(dtype).values()))
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
    if pending and uncovered is None:
        raise FixtureError(f"{contract.name} ({dtype}): no example among {budget} draws covers "
                           f"{sorted(pending)}; raise the budget or widen the strategy")
    if pending:
        uncovered(sorted(pending))
    order = [t.tag for t in goals if t.tag not in pending]
    verdict: dict[int, bool] = {}
    while True:
        try:
            chosen = _select(pool, order, per_name)
        except FixtureError as exc:
            raise FixtureError(f"{contract.name} ({dtype}): {exc} after dropping draws") from None
        for d in chosen:
            if d.index not in verdict:
                verdict[d.index] = keep is None or keep(d)
        if all(verdict[d.index] for d in chosen):
            return chosen
        pool = [d for d in pool if verdict.get(d.index, True)]


def oracle_expected(contract: Contract, ex: dict, cot: tuple[np.ndarray, ...], dtype: str) -> dict[str, Expected]:
    out = {}
    with np.errstate(all="ignore"):
        for alt, kw in contract.oracle_keywords(dtype).items():
            outputs = tuple(np.asarray(o, dtype=np.float64) for o in as_tuple(contract.expected(ex, **kw)))
            c = cot if contract.n_outputs > 1 else cot[0]
            vjps = {k: tuple(np.asarray(g, dtype=np.float64) for g in as_tuple(contract.expected_vjp(ex, c, k, **kw)))
                    for k in contract.grad_args}
            kinks = {k: tuple(np.asarray(m, dtype=bool) for m in as_tuple(contract.kinks(ex, k, **kw)))
                     for k in contract.grad_args}
            out[alt] = Expected(outputs, vjps, kinks)
    return out


def _impl_expected(contract: Contract, runner: Any, ex: dict, cot: tuple[np.ndarray, ...],
                   dtype: str) -> dict[str, Expected]:
    from conformance.runners.active import cot_tensor, prepare

    _, args = prepare(contract, ex, dtype)
    out, grads = runner.value_and_grad(args, cot_tensor(cot if contract.n_outputs > 1 else cot[0], dtype))
    if any(g is None or (isinstance(g, list) and any(x is None for x in g)) for g in grads.values()):
        raise ValueError("a gradient is None")
    return {"golden": Expected(tuple(np.asarray(o, dtype=np.float64) for o in as_tuple(out)),
                               {k: tuple(np.asarray(g, dtype=np.float64) for g in as_tuple(v))
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
        "uncovered": [],
    }
    impl = _load_module(from_impl or validate_with) if (from_impl or validate_with) else None
    if impl is not None:
        import tensorflow as tf

        from conformance.checks.engine import measure_arithmetic, runner_for

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
            shapes = contract.expected(d.ex, **next(iter(contract.oracle_keywords(dtype).values())))
        cot = cotangent(contract, shapes, name_seed(seed, contract.name, dtype, str(d.index)), dtype)
        if from_impl:
            expected = _impl_expected(contract, runner_for(contract, impl, mode), d.ex, cot, dtype)
        else:
            expected = oracle_expected(contract, d.ex, cot, dtype)
        return Case("", "", contract.name, dtype, d.tags, d.ex, cot, expected)

    def passes(contract: Contract, dtype: str, d: Draw) -> bool:
        measure_arithmetic(mode, dtype)  # judged as the replay judges it
        probe = make_case(contract, dtype, d)
        fails, _ = judge_case(contract, runner_for(contract, impl, mode), probe, "spec",
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

        def missed(tags: list[str], name: str = name, dtype: str = dtype) -> None:
            header["uncovered"].append({"name": name, "dtype": dtype, "tags": tags})
            log(f"{name} ({dtype}): no draw among {DRAW_BUDGET} covers {', '.join(tags)} (in {dtype} the "
                "tolerance can exceed the difference); listed under 'uncovered' in the manifest")

        lenient = info(dtype).unit_roundoff > HALF_LIMIT
        if impl is not None:  # targets judged by the tolerances the replay will use, whatever name came first
            measure_arithmetic(mode, dtype)
        for i, d in enumerate(draw_examples(contract, dtype, seed, per_name, keep=keep,
                                            uncovered=missed if lenient else None)):
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
    load_cached.cache_clear()
    return load(out)


