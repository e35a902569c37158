"""Runs one check category for one contract name with Hypothesis, outside or inside pytest.

The pytest test modules and the project's mutant self-tests both call
:func:`run_check`, so a mutant is judged in-process by exactly the gate's code.
"""

from __future__ import annotations

from typing import Any

from hypothesis import assume, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from conformance.checks.failure import ConformanceFailure
from conformance.checks.profiles import (  # noqa: F401
    DEFAULT_PROFILE,
    HEALTH,
    PROFILES,
    register_profiles,
    without_local_constants,
)
from conformance.checks.value import check_gradient, check_value
from conformance.clock import TimedRunner, span
from conformance.contracts import Contract
from conformance.numerics.tolerance import below_resolution, bgd_margin, clip_overflows, in_range, unresolvable
from conformance.reporting.results import CheckResult, Recorder
from conformance.runners.active import Runner

_RUNNERS: dict[tuple, Runner] = {}


def runner_for(contract: Contract, impl: Any, mode: str) -> Runner:
    key = (id(impl), contract.name, mode)
    if key not in _RUNNERS:
        _RUNNERS[key] = TimedRunner(Runner(contract, getattr(impl, contract.name), mode, impl))
    return _RUNNERS[key]


def measure_arithmetic(mode: str, dtype: str) -> None:
    """Measure, once per framework, mode and dtype, how the framework accumulates (the tolerance model's input)."""
    from conformance.runners import probe, selected

    probe.ensure(selected().NAME, mode, dtype)


def run_check(contract: Contract, category: str, impl: Any, impl_name: str, dtype: str, mode: str,
              hypothesis_settings: settings | None = None, seed: int | None = None,
              strict_hazards: bool = False) -> CheckResult:
    """Run ``category`` for ``contract`` against ``impl``; return the result, raising on failure.

    A name the impl does not define gives status ``"not provided"`` and no exception.
    ``seed`` applies ``hypothesis.seed`` to the test (it takes precedence over ``derandomize``).
    Stability hazards give status ``"hazard"``, or a failure with ``strict_hazards``.
    The seconds spent (total, in the implementation, in the oracle) go to ``result.extra["seconds"]``.
    """
    __tracebackhide__ = True
    result = CheckResult(contract.name, contract.family, category, dtype, mode)
    with span(result.extra), without_local_constants():  # the same draws wherever the suite is installed
        return _run(contract, category, impl, impl_name, dtype, mode, hypothesis_settings, seed, strict_hazards,
                    result)


def _run(contract: Contract, category: str, impl: Any, impl_name: str, dtype: str, mode: str,
         hypothesis_settings: settings | None, seed: int | None, strict_hazards: bool,
         result: CheckResult) -> CheckResult:
    __tracebackhide__ = True
    if getattr(impl, contract.name, None) is None:
        result.status = "not provided"
        result.message = f"not provided by {impl_name}"
        return result
    from conformance.checks.badinput import signature_problem, valid_example
    from conformance.impl import misfit

    problem = (misfit(contract.name, getattr(impl, contract.name))
               or signature_problem(contract, getattr(impl, contract.name), lambda: valid_example(contract)))
    if problem:  # one message for every category: the call itself does not fit the contract
        result.status, result.message = "failed", problem
        exc = ConformanceFailure(problem)
        exc.conformance_result = result
        raise exc
    runner = runner_for(contract, impl, mode)
    measure_arithmetic(mode, dtype)
    rec = Recorder(result)
    pinned: list = []  # filled below: the pinned examples are judged whatever their resolution (they cannot be redrawn)
    ambiguous = _discard(contract, rec, pinned, category)
    hazards = None

    if category == "badinput":
        from conformance.checks.badinput import run_badinput
        return run_badinput(contract, runner, result, dtype, impl_name)
    if category not in ("value", "gradient", "stability"):
        raise ValueError(f"category: unknown check category {category!r}")
    if category == "stability":
        from conformance.checks import stability
        hazards = stability.HazardLog()
    seen: list[int] = []  # id() of the example under test, so a failing pinned (explicit) example is recognised

    def build(explicit: bool, strategy: Any = None) -> Any:
        """The Hypothesis test for ``category``: with the pinned examples first, or drawn examples only."""
        from hypothesis import example

        strategy = strategy if strategy is not None else contract.strategy()
        if category == "value":
            @given(ex=strategy)
            def inner(ex: dict) -> None:
                __tracebackhide__ = True
                seen[:] = [id(ex)]
                assume(not ambiguous(ex, dtype))
                check_value(contract, runner, ex, dtype, rec, impl_name)
        elif category == "gradient":
            @given(ex=strategy, seed=st.integers(0, 2**31 - 1))
            def inner(ex: dict, seed: int) -> None:
                __tracebackhide__ = True
                seen[:] = [id(ex)]
                assume(not ambiguous(ex, dtype))
                check_gradient(contract, runner, ex, seed, dtype, rec, impl_name)
        else:
            @given(ex=contract.adversarial(dtype), seed=st.integers(0, 2**31 - 1))
            def inner(ex: dict, seed: int) -> None:
                __tracebackhide__ = True
                seen[:] = [id(ex)]
                assume(not stability.ambiguous(contract, ex, dtype))
                stability.check_stability(contract, runner, ex, seed, dtype, rec, impl_name, hazards)

        if explicit:
            for case in reversed(pinned):
                inner = (example(ex=case) if category == "value" else example(ex=case, seed=0))(inner)
        # A distinct name per (category, contract, dtype, mode) gives each its own derandomized seed and database key.
        inner.__name__ = inner.__qualname__ = f"{category}_{contract.name}_{dtype}_{mode}"
        if hypothesis_settings is not None:
            inner = hypothesis_settings(inner)
        if seed is not None:
            inner = hypothesis_seed(seed)(inner)
        return inner

    # the documents' typical sizes and known hard cases (value, gradient), or the adversarial cases (stability)
    pinned[:] = list(contract.stability_cases(dtype)) if category == "stability" else list(contract.pinned())
    try:
        try:
            build(explicit=True)()
        except (ConformanceFailure, AssertionError) as exc:
            if not seen or seen[0] not in {id(c) for c in pinned}:
                raise
            # Hypothesis does not shrink a pinned example: look for a small drawn one that fails too, and report it
            try:
                build(explicit=False)()
            except (ConformanceFailure, AssertionError) as small:
                small.add_note("(A pinned example fails too; shown: the smallest failing drawn example.)")
                small.__suppress_context__ = True  # keeps __cause__ (the implementation's own exception)
                raise small  # noqa: B904
            raise
    except (ConformanceFailure, AssertionError) as exc:
        result.status = "failed"
        explain(result, exc)
        if category in ("value", "gradient"):
            realistic_note(contract, exc, lambda s: build(explicit=False, strategy=s), result)
        notes = getattr(exc, "__notes__", [])
        result.message = "\n".join([str(exc), *notes])
        attach_failure(result, exc)
        if hazards is not None and hazards.counts:  # stability: hazards seen before the failure are reported too
            result.extra["hazards"] = dict(hazards.counts)
            result.message += "\n" + hazards.message()
        exc.conformance_result = result
        raise
    except Exception as exc:  # an error in the suite itself, reported as such
        result.status = "error"
        result.message = f"{type(exc).__name__}: {exc}"
        exc.conformance_result = result
        raise
    if hazards is not None:
        hazards.finish(result, strict_hazards)
    return result


def _discard(contract: Contract, rec: Recorder, pinned: list, category: str) -> Any:
    """Value/gradient examples not judged: a thresholded quantity within rounding distance of its threshold (or
    undefined there), out of the dtype's range (``in_range``), beyond the dtype's resolution (``unresolvable``),
    made non-finite by the clip constants in the dtype (``clip_overflows``) or, for the value check, with every value
    below the dtype's resolution (``below_resolution``): the last three counted in ``extra`` under their names, drawn
    examples only (a pinned one cannot be drawn again, and is judged)."""
    margin = contract.margin

    def discard(ex: dict, dtype: str) -> bool:
        if (margin is not None and not margin(ex) > bgd_margin(dtype)) or not in_range(contract, ex, dtype):
            return True
        if any(ex is p for p in pinned):
            return False
        for key, hazard in (("unresolvable", unresolvable), ("clip_overflow", clip_overflows),
                            ("below_resolution", below_resolution if category == "value" else None)):
            if hazard is not None and hazard(contract, ex, dtype):
                rec.result.extra[key] = rec.result.extra.get(key, 0) + 1
                return True
        return False

    return discard


def explain(result: CheckResult, exc: BaseException) -> None:
    """Name the likely mistake of a failure once, on the final example (``exc.explain``; see checks.diagnosis)."""
    why = getattr(exc, "explain", None)
    try:
        text = why() if callable(why) else None
    except Exception as err:  # noqa: BLE001 (a diagnosis never hides the failure it explains)
        text = None
        result.extra["diagnosis_error"] = f"{type(err).__name__}: {err}"
    if text and exc.args and isinstance(exc.args[0], str):
        result.diagnosis = text
        exc.args = (f"{exc.args[0]}\nDiagnosis: {text}", *exc.args[1:])


def realistic_note(contract: Contract, exc: BaseException, build: Any, result: CheckResult) -> None:
    """Where the failing example lies outside the record's realistic domain, look for one inside it: its worst
    element and inputs (or that none was found) go to ``result.extra["realistic"]`` and a note on ``exc``."""
    from conformance.reporting.snippet import brief

    domain, ex = contract.realistic, getattr(exc, "example", None)
    if domain is None or ex is None or domain.holds(ex):
        return
    try:
        build(contract.strategy().filter(domain.holds))()
    except (ConformanceFailure, AssertionError) as real:
        real_ex = getattr(real, "example", None)
        worst = [ln for ln in str(real).splitlines() if ln.startswith(("Worst element", "Max error"))]
        named = _ordinary_diagnosis(result, real)
        text = "\n".join([f"The input above is degenerate; with {domain.description} it fails too:",
                          *(f"  {ln}" for ln in worst[-1:]),
                          *(f"  {k} = {brief(v)}" for k, v in (real_ex or {}).items()),
                          *([f"Diagnosis (on this input): {named}"] if named else [])])
    except Exception:  # noqa: BLE001 (the domain too rare to draw, a health check): nothing to add
        return
    else:
        text = f"The input above is degenerate; no failure was found with {domain.description}."
    result.extra["realistic"] = text
    exc.add_note(text)


def _ordinary_diagnosis(result: CheckResult, real: BaseException) -> str | None:
    """The diagnosis of the failure on a realistic input where the degenerate one gave none (a mistake's evidence
    is often clearer away from zero sizes and ties); recorded as the result's diagnosis."""
    if result.diagnosis is not None or not callable(why := getattr(real, "explain", None)):
        return None
    try:
        result.diagnosis = why() or None
    except Exception as err:  # noqa: BLE001 (a diagnosis never hides the failure it explains)
        result.extra["diagnosis_error"] = f"{type(err).__name__}: {err}"
    return result.diagnosis


def attach_failure(result: CheckResult, exc: BaseException) -> None:
    """Move the failing example, expected and actual that ``failure.fail`` attached to ``exc`` into ``result``."""
    failure = getattr(exc, "failure", None)
    if failure and result.inputs is None:
        result.inputs = failure["inputs"]
        result.extra.update(failure["extra"])


def pytest_check(contract: Contract, category: str, impl: tuple[str, Any], dtype: str, mode: str, record: Any,
                 strict_hazards: bool = False) -> None:
    """Body of the parametrized pytest tests: run, attach the result to the report, skip if not provided."""
    import pytest

    __tracebackhide__ = True
    name, module = impl
    try:
        result = run_check(contract, category, module, name, dtype, mode, strict_hazards=strict_hazards)
    except BaseException as exc:
        if hasattr(exc, "conformance_result"):
            attach_failure(exc.conformance_result, exc)
            record(exc.conformance_result)
        raise
    record(result)
    if result.status in ("not provided", "skipped"):
        pytest.skip(result.message)
