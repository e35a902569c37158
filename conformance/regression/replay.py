"""Regression fixtures: replay of a set against an implementation, and the pytest entry point."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from conformance.contracts import Contract
from conformance.regression.cases import judge_case
from conformance.regression.format import Case, FixtureError, FixtureSet, load_cached, resolve
from conformance.reporting.results import CheckResult, Recorder

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
        result.extra["no_cases"] = True  # the summary says so (reporting.terminal.regression_gaps)
        return result
    from conformance.checks.badinput import signature_problem
    from conformance.checks.engine import measure_arithmetic, runner_for
    from conformance.reporting.snippet import snippet

    problem = signature_problem(contract, getattr(impl, contract.name), lambda: cases[0].inputs)
    if problem:  # the same one message as in every other category
        result.status, result.message = "failed", problem
        return result
    runner = runner_for(contract, impl, mode)
    measure_arithmetic(mode, dtype)  # the tolerances charge reductions as this framework accumulates them
    rec = Recorder(result)
    failed: list[tuple[Case, list[str]]] = []
    diagnoses: list[str] = []
    for case in cases:
        fails, diagnosis = judge_case(contract, runner, case, fset.tolerance, rec)
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
    return [load_cached(resolve(s)) for s in (specs or ["committed"])]


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
