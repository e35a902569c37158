"""Failures of a check: the exception and the messages it carries (inputs, reproduction snippet).

The one place where a failing example becomes an assertion message, shared by every check category.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.contracts import Contract
from conformance.numerics.compare import shape_mismatch
from conformance.numerics.outputs import as_tuple
from conformance.reporting.reproducer import failure_record
from conformance.reporting.snippet import brief, is_small, snippet


class ConformanceFailure(AssertionError):
    """An implementation disagrees with the oracle beyond tolerance."""


def fail(msg: str, contract: Contract, ex: dict, dtype: str, mode: str, impl_name: str, category: str,
         expected: Any = None, actual: Any = None, cot: Any = None, explain: Any = None,
         tolerance: Any = None) -> None:
    """Raise :class:`ConformanceFailure` with ``msg``, the inputs and a reproduction snippet as notes.

    ``tolerance`` (per element of ``expected``, flattened) lets the reproducer judge as the check did.
    ``explain`` (no arguments, a diagnosis or None) rides along as ``err.explain``: the engine calls it once,
    on the final (shrunk) failing example, not at every failing example Hypothesis tries.

    The failing example, expected and actual values ride along (``err.failure``) for the standalone reproducer.
    """
    __tracebackhide__ = True
    err = ConformanceFailure(msg)
    err.failure = failure_record(ex, expected, actual, cot, tolerance)  # for the report's standalone reproducer
    err.explain = explain
    err.example = ex
    err.add_note("Inputs (rounded to the dtype under test):\n" + describe_inputs(ex))
    if is_small(ex):
        err.add_note("Reproduce:\n" + snippet(contract, ex, dtype, mode, impl_name, category))
    else:  # a snippet would inline every array: the standalone reproducer reads them from its .npz
        err.add_note("Reproduce: run the standalone reproducer (the pytest plugin prints its path; inputs in its .npz)")
    raise err


def same_outputs(actual: Any, expected: Any) -> bool:
    """Whether ``actual`` has the number of outputs and the shapes of ``expected``."""
    acts, exps = as_tuple(actual), as_tuple(expected)
    return len(acts) == len(exps) and all(np.shape(a) == np.shape(e) for a, e in zip(acts, exps, strict=True))


def check_outputs(contract: Contract, ex: dict, actual: Any, expected: Any, dtype: str, mode: str, impl_name: str,
                  category: str) -> None:
    """Fail, with the inputs and a reproducer, where the impl returns another number of outputs or another shape."""
    __tracebackhide__ = True
    if same_outputs(actual, expected):
        return
    acts, exps = as_tuple(actual), as_tuple(expected)
    if len(acts) != len(exps):
        fail(f"{contract.name}: returned {len(acts)} output(s), the contract has {len(exps)}", contract, ex, dtype,
             mode, impl_name, category, expected, actual)
    for i, (a, e) in enumerate(zip(acts, exps, strict=True)):
        if np.shape(a) != np.shape(e):
            which = f" {i}" if len(exps) > 1 else ""
            args = ", ".join(f"{k} {np.shape(v)}" for k, v in ex.items() if np.ndim(v) or k in contract.float_args)
            fail(f"{contract.name}: wrong shape of output{which}: {shape_mismatch(np.shape(a), np.shape(e))}\n"
                 f"  argument shapes: {args}\n  the contract: {contract.shapes}", contract, ex, dtype, mode, impl_name,
                 category, expected, actual)


def describe_inputs(ex: dict) -> str:
    """One line per input: small arrays in full, large ones as shape, dtype and range."""
    return "\n".join(f"  {k} = {brief(v)}" for k, v in ex.items())


def call(contract: Contract, thunk: Any, ex: dict | None = None, cot: Any = None) -> Any:
    """``thunk()``, with an exception from the implementation turned into a :class:`ConformanceFailure`."""
    __tracebackhide__ = True
    try:
        return thunk()
    except ConformanceFailure:
        raise
    except Exception as exc:
        err = ConformanceFailure(f"{contract.name} raised {type(exc).__name__}: {exc}")
        if ex is not None:
            err.failure = failure_record(ex, cot=cot)
        raise err from exc
