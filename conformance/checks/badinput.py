"""Bad input: a conforming implementation raises (any exception) or returns NaN; a silent finite value fails.

Cases per contract name (SPARSE-LABEL-RANGE, CN-GATHER-RANGE, and the
channel-count and shape requirements of docs/contracts.md): out-of-range sparse labels,
out-of-range gather indices, wrong channel counts (not 8A, 2A, 8C; ``decode`` /
``loss_layer`` conv not A*(5+N)), and shapes that do not match (chosen so that
they cannot broadcast, except where the contract's own slicing makes a wrong
size broadcast silently).  Each case names the argument that is wrong; the
float64 oracle raises ``ValueError`` naming it (tests/test_badinput.py).

The cases live in the records (``Contract.bad_inputs``).  A name without cases is reported
"skipped".
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np

from conformance.checks.failure import ConformanceFailure, fail
from conformance.contracts.record import BadCase, Contract, Example
from conformance.numerics.dtypes import info
from conformance.numerics.outputs import as_tuple
from conformance.reporting.results import CheckResult
from conformance.runners.active import ContractViolation, Runner, prepare


def valid_example(contract: Contract) -> Example:
    """A valid input for ``contract``: its first pinned example, else the strategy's first (derandomized) draw."""
    pinned = contract.pinned()
    if pinned:
        return pinned[0]
    from hypothesis import HealthCheck, Phase, find, settings

    return find(contract.strategy(), lambda _: True, settings=settings(
        database=None, derandomize=True, phases=[Phase.generate], suppress_health_check=list(HealthCheck)))


def _bind(fn: Callable, n_positional: int, keywords: list[str]) -> str | None:
    """inspect's reason why ``fn(<n positional>, **keywords)`` cannot bind, or None (also when it cannot tell)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # no introspectable signature: the checks will see
        return None
    try:
        sig.bind(*[None] * n_positional, **dict.fromkeys(keywords))
    except TypeError as exc:
        return f"{exc} (its signature is {getattr(fn, '__name__', type(fn).__name__)}{sig})"
    return None


def signature_problem(contract: Contract, fn: Callable, example: Callable[[], Example] | None = None) -> str | None:
    """Why ``fn`` cannot be called the way the contract calls it (wrong argument names or count), or None.

    Checked with ``inspect`` (nothing is computed), for a factory first the factory and then the function it
    returns for ``example()``'s factory arguments.  The message shows the expected call, from the record.
    """
    call = contract.call
    n_pos = 1 if call.packed else len(call.positional)
    keywords = [*call.keyword, *(k for k, _ in call.optional)]
    if call.factory:
        why = _bind(fn, len(call.factory), [])
        if why is None and example is not None:
            ex = example()
            try:
                inner = fn(*[ex[k] for k in call.factory])
            except Exception:  # the factory fails on valid arguments: the checks report it
                inner = None
            why = _bind(inner, n_pos, keywords) if inner is not None else None
    else:
        why = _bind(fn, n_pos, keywords)
    if why is None:
        return None
    return (f"{contract.name} cannot be called with the contract's arguments: {why}.\n"
            f"The suite calls it as\n    {contract.signature()}\n"
            "(docs/contracts.md); adapt the signature, or expose an adapter with these argument names.")


def valid_call_problem(contract: Contract, runner: Runner, dtype: str) -> str | None:
    """Why the implementation fails on a valid input (its signature, or what it raised), or None.

    Bad-input checks count raising as conforming, which means nothing unless a valid call works.
    """
    example = valid_example(contract)
    why = signature_problem(contract, runner.fn, lambda: example)
    if why:
        return why
    _, args = prepare(contract, example, dtype)
    try:
        runner.value(args)
    except ContractViolation:  # misbehaviour (mutated inputs, wrong output type) is a failure of its own
        raise
    except Exception as exc:
        return (f"{contract.name} raised {type(exc).__name__} on a valid input, so raising on bad inputs proves "
                f"nothing: {exc}\nThe suite calls it as\n    {contract.signature()}")
    return None


def cases_for(contract: Contract) -> tuple[BadCase, ...]:
    """The bad-input cases of ``contract`` (empty when it has none)."""
    return contract.bad_inputs


def judge(contract: Contract, runner: Runner, case: BadCase, dtype: str) -> tuple[bool, str]:
    """(conforming, what happened) for one case: raising or any NaN conforms, a finite output does not."""
    ex, args = prepare(contract, case.make(), dtype)
    try:
        out = runner.value(args)
    except ContractViolation:  # mutating the inputs or returning a non-tensor is not "raising on bad input"
        raise
    except Exception as exc:  # any exception conforms
        return True, f"raised {type(exc).__name__}"
    values = np.concatenate([np.ravel(np.asarray(o, dtype=np.float64)) for o in as_tuple(out)])
    if np.any(np.isnan(values)):
        return True, "returned NaN"
    if case.broadcast:
        return judge_broadcast(contract, case, ex, out, dtype)
    return False, f"returned a finite value {values.tolist()[:4]!r} (bad argument: {case.arg})"


def judge_broadcast(contract: Contract, case: BadCase, ex: Example, out: object, dtype: str) -> tuple[bool, str]:
    """(conforming, what happened) for a value returned on arguments that broadcast: it must be the oracle's value
    (any clipping convention) on ``case.broadcast`` broadcast to their common shape, within 64 units of roundoff."""
    full = {**ex, **dict(zip(case.broadcast, np.broadcast_arrays(*[ex[k] for k in case.broadcast]), strict=True))}
    actual = [np.asarray(o, dtype=np.float64) for o in as_tuple(out)]
    shapes = ", ".join(f"{k} {np.shape(ex[k])}" for k in case.broadcast)
    u = info(dtype).unit_roundoff
    for keywords in contract.oracle_keywords(dtype).values():
        expected = [np.asarray(e) for e in as_tuple(contract.expected(full, **keywords))]
        if [a.shape for a in actual] != [e.shape for e in expected]:
            return False, (f"returned shape {[a.shape for a in actual]} for {shapes}; broadcast first, the contract "
                           f"gives {[e.shape for e in expected]}")
        if all(np.allclose(a, e, rtol=64 * u, atol=64 * u) for a, e in zip(actual, expected, strict=True)):
            return True, "broadcast as the contract says"
    got = np.concatenate([a.ravel() for a in actual])[:4].tolist()
    want = np.concatenate([e.ravel() for e in expected])[:4].tolist()
    return False, f"returned {got!r} for {shapes}; broadcast first, the contract gives {want!r}"


def run_badinput(contract: Contract, runner: Runner, result: CheckResult, dtype: str, impl_name: str) -> CheckResult:
    """Judge every case of ``contract``; set ``result`` (passed / skipped) or raise ConformanceFailure."""
    cases = cases_for(contract)
    if not cases:
        result.status = "skipped"
        result.message = f"{contract.name}: no bad-input cases (no index, label or channel-count argument)"
        return result
    problem = valid_call_problem(contract, runner, dtype)
    if problem:
        result.status, result.message = "failed", problem
        exc = ConformanceFailure(problem)
        exc.conformance_result = result
        raise exc
    bad = []
    outcomes = {}
    for case in cases:
        ok, what = judge(contract, runner, case, dtype)
        outcomes[case.id] = what
        result.examples += 1
        if not ok:
            bad.append((case, what))
    result.extra["cases"] = outcomes
    if bad:
        result.status = "failed"
        lines = [f"{contract.name}: {len(bad)} / {len(cases)} bad input(s) gave a silent finite value "
                 "(a conforming implementation raises or returns NaN"
                 + ("; for arguments that broadcast, the broadcast value" if any(c.broadcast for c, _ in bad) else "")
                 + "):"]
        lines += [f"  {c.id}: {what}" + (f" ({c.spec})" if c.spec else "") for c, what in bad]
        ids = sorted({c.spec for c, _ in bad if c.spec})
        if ids:
            result.diagnosis = f"{contract.name} matches {' + '.join(ids)}"
            lines.append(f"Diagnosis: {result.diagnosis}")
        result.message = "\n".join(lines)
        try:
            first, _ = bad[0]
            ex, _ = prepare(contract, first.make(), dtype)
            fail(result.message, contract, ex, dtype, runner.mode, impl_name, "badinput")
        except ConformanceFailure as exc:
            exc.conformance_result = result
            raise
    else:
        result.message = "; ".join(f"{k}: {v}" for k, v in outcomes.items())
    return result
