"""The selected framework's runner (:func:`conformance.runners.select`), under the names the checks import.

``from conformance.runners.active import Runner, prepare`` binds functions that delegate at call time, so
the checks can import them before the plugin has selected a framework.  Other attributes (``MODES``,
``DEFAULT_MODE``, ...) are looked up on the selected module when imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conformance.contracts.record import Contract
from conformance.runners import selected as _active
from conformance.runners.base import ContractViolation, ModeError, cotangent  # noqa: F401

__all__ = ["ContractViolation", "ModeError", "Runner", "cot_tensor", "cotangent", "prepare", "to_numpy"]


def prepare(contract: Contract, ex: dict, dtype: str) -> tuple[dict, dict]:
    """Round float inputs to ``dtype``: (float64 view for the oracle, the framework's tensors and config)."""
    return _active().prepare(contract, ex, dtype)


def cot_tensor(cot: Any, dtype: str) -> Any:
    """The cotangent (float64 values exact in ``dtype``) as the framework's tensor(s) of ``dtype``."""
    return _active().cot_tensor(cot, dtype)


def to_numpy(out: Any) -> Any:
    """Impl output(s) as float64 NumPy arrays."""
    return _active().to_numpy(out)


def Runner(contract: Contract, fn: Callable, mode: str, impl: Any = None) -> Any:  # noqa: N802 (a class elsewhere)
    """The selected framework's ``Runner(contract, fn, mode, impl)``."""
    return _active().Runner(contract, fn, mode, impl)


def __getattr__(name: str) -> Any:
    if name.startswith("__"):  # the import system's probes (__path__, ...): never select on them
        raise AttributeError(name)
    return getattr(_active(), name)
