"""Bad input: a conforming implementation raises (any exception) or returns NaN; a silent finite value fails.

Cases per contract name (spec §6 SPARSE-LABEL-RANGE, CN-GATHER-RANGE, and the
channel-count and shape requirements of §3-§5): out-of-range sparse labels,
out-of-range gather indices, wrong channel counts (not 8A, 2A, 8C; ``decode`` /
``loss_layer`` conv not A*(5+N)), and shapes that do not match (chosen so that
they cannot broadcast, except where the contract's own slicing makes a wrong
size broadcast silently).  Each case names the argument that is wrong; the
float64 oracle raises ``ValueError`` naming it (tests/test_badinput.py).

The cases live in the records (``Contract.bad_inputs``).  A name without cases is reported
"skipped".
"""

from __future__ import annotations

import numpy as np

from conformance.checks.value import ConformanceFailure, _as_tuple, _fail
from conformance.contracts.record import BadCase, Contract
from conformance.reporting.results import CheckResult
from conformance.runners.tf import Runner, prepare


def cases_for(contract: Contract) -> tuple[BadCase, ...]:
    """The bad-input cases of ``contract`` (empty when it has none)."""
    return contract.bad_inputs


def judge(contract: Contract, runner: Runner, case: BadCase, dtype: str) -> tuple[bool, str]:
    """(conforming, what happened) for one case: raising or any NaN conforms, a finite output does not."""
    _, args = prepare(contract, case.make(), dtype)
    try:
        out = runner.value(args)
    except Exception as exc:  # any exception conforms
        return True, f"raised {type(exc).__name__}"
    values = np.concatenate([np.ravel(np.asarray(o, dtype=np.float64)) for o in _as_tuple(out)])
    if np.any(np.isnan(values)):
        return True, "returned NaN"
    return False, f"returned a finite value {values.tolist()[:4]!r} (bad argument: {case.arg})"


def run_badinput(contract: Contract, runner: Runner, result: CheckResult, dtype: str, impl_name: str) -> CheckResult:
    """Judge every case of ``contract``; set ``result`` (passed / skipped) or raise ConformanceFailure."""
    cases = cases_for(contract)
    if not cases:
        result.status = "skipped"
        result.message = f"{contract.name}: no bad-input cases (no index, label or channel-count argument)"
        return result
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
                 "(a conforming implementation raises or returns NaN):"]
        lines += [f"  {c.id}: {what}" + (f" (spec {c.spec})" if c.spec else "") for c, what in bad]
        ids = sorted({c.spec for c, _ in bad if c.spec})
        if ids:
            result.diagnosis = f"{contract.name} matches {' + '.join(ids)}"
            lines.append(f"Diagnosis: {result.diagnosis}")
        result.message = "\n".join(lines)
        try:
            first, _ = bad[0]
            ex, _ = prepare(contract, first.make(), dtype)
            _fail(result.message, contract, ex, dtype, runner.mode, impl_name, "badinput")
        except ConformanceFailure as exc:
            exc.conformance_result = result
            raise
    else:
        result.message = "; ".join(f"{k}: {v}" for k, v in outcomes.items())
    return result
