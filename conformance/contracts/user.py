"""Registering a user's own contract: an oracle function in float64 NumPy and a record, in one call.

    from conformance.contracts.user import define

    def pytest_conformance_contracts():          # a pytest plugin module, loaded with -p MODULE
        return [define("varifocal_loss", oracle_fn, call=Call(("pred", "target")), strategy=examples,
                       float_args=("pred", "target"), grad_args=("pred",), vjp=oracle_vjp)]

Everything else is optional and has a default: the tolerance (the generic model: elementwise
magnitudes, the longest reduction), the adversarial strategy (the realistic one), no pinned examples,
no bad inputs, no timing cases.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

import oracle
from conformance.contracts.record import Call, Contract
from conformance.numerics.tolerance import Tolerance
from oracle.custom import define as define_oracle


def define(name: str, evaluate: Callable[..., Any], *, call: Call, strategy: Callable[[], st.SearchStrategy[dict]],
           float_args: tuple[str, ...], grad_args: tuple[str, ...], vjp: Callable[..., Any] | None = None,
           kinks: Callable[..., Any] | None = None, summary: str = "", shapes: str = "", family: str = "user",
           **record: Any) -> Contract:
    """Register ``name`` with the oracle (VJP by finite differences when ``vjp`` is None) and return its record.

    ``evaluate(**example)`` and ``vjp(cotangent, wrt, **example)`` take the example's keyword arguments and
    return float64 NumPy values; ``record`` passes any other :class:`Contract` field (``tolerance``,
    ``adversarial``, ``pinned``, ``bad_inputs``, ``divergences``, ...).
    """
    missing = set(grad_args) - set(float_args)
    if missing:
        raise ValueError(f"grad_args: {sorted(missing)} must also be float_args")
    if name not in oracle.SPECS:
        oracle.register(define_oracle(name, evaluate, grad_args, vjp, kinks, family))
    record.setdefault("tolerance", Tolerance())
    record.setdefault("adversarial", lambda dtype: strategy())
    return Contract(name, family, call, strategy, float_args, grad_args, summary=summary or name,
                    shapes=shapes or ", ".join(float_args), **record)
