"""The contract database: one :class:`~conformance.contracts.record.Contract` per contract name.

The records are declared per family (``nn``, ``frcnn``, ``yolov3``, ``centernet``); users add
their own with :func:`register` (from a pytest plugin's ``pytest_conformance_contracts`` hook,
see the README).  Adding a loss to the catalogue means an oracle function, one record in its
family's module and the reference target's function.
"""

from __future__ import annotations

from conformance.contracts import centernet, frcnn, nn, yolov3
from conformance.contracts.record import BadCase, Call, Contract, Derived, Tag, TimingCase

FAMILIES = ("nn", "frcnn", "yolov3", "centernet")
REGISTRY: dict[str, Contract] = {c.name: c for m in (nn, frcnn, yolov3, centernet) for c in m.CONTRACTS}
NAMES: tuple[str, ...] = tuple(REGISTRY)  # the catalogue's names (registered user contracts come after)


def register(contract: Contract) -> Contract:
    """Add a user contract to the database (its name must be new, and the oracle must know it)."""
    if not isinstance(contract, Contract):
        raise TypeError(f"contract: expected a Contract, got {type(contract).__name__}")
    if contract.name in REGISTRY and REGISTRY[contract.name] is not contract:
        raise ValueError(f"contract: the name {contract.name!r} is already registered")
    REGISTRY[contract.name] = contract
    if contract.family not in FAMILIES:
        globals()["FAMILIES"] = (*FAMILIES, contract.family)
    return contract


__all__ = ["FAMILIES", "NAMES", "REGISTRY", "BadCase", "Call", "Contract", "Derived", "Tag", "TimingCase",
           "register"]
