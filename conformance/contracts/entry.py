"""The contract page's entry of one name: what a user implements from, beside the record it belongs to.

A :class:`~conformance.contracts.record.Contract` knows the call, the argument shapes, the divergences;
its :class:`Entry` adds what only prose can say (the full formula, each symbol's definition, the reduction,
broadcasting, layout, output) and names its constants by where the oracle keeps them, so that the page prints
the oracle's own values (:class:`Constant`), never a copy.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass

PAGE = "docs/contracts.md"


def anchor(name: str) -> str:
    """The anchor of ``name``'s entry on the contract page."""
    return name.lower().replace(" ", "-")


def reference(name: str) -> str:
    """Where the contract of ``name`` is written, for messages: the page's anchor and the command."""
    return f"{PAGE}#{anchor(name)} (python -m conformance contracts {name})"


@dataclass(frozen=True)
class Constant:
    """A constant of a formula: its symbol, where the oracle keeps it, and what it is.

    ``source`` is ``"module.NAME"`` (a module attribute) or ``"module.function(parameter)"`` (a default value).
    """

    symbol: str
    source: str
    meaning: str

    @property
    def value(self) -> float:
        return resolve(self.source)


def resolve(source: str) -> float:
    """The oracle's value named by ``source`` (see :class:`Constant`)."""
    if source.endswith(")"):
        path, _, param = source[:-1].partition("(")
        module, _, fn = path.rpartition(".")
        default = inspect.signature(getattr(importlib.import_module(module), fn)).parameters[param].default
        return float(default)
    module, _, attr = source.rpartition(".")
    return float(getattr(importlib.import_module(module), attr))


def number(value: float) -> str:
    """A constant as the page prints it."""
    return f"{value:g}"


@dataclass(frozen=True)
class Entry:
    """The contract of one name beyond the record's one-line summary.

    ``formula``: the full formula, one statement a line; ``symbols``: every symbol of the formula that is not an
    argument, a constant or in the page's notation, with its definition; ``output``: shape and dtype of each
    output; ``reduction``: reduced axes and whether they are kept; ``broadcasting``: the rule for arguments of
    different shapes (every multi-argument name states one); ``layout``: channel layouts and axes; ``notes``: kinks,
    hazards and the readings the contract makes where the documents leave a choice.
    """

    formula: tuple[str, ...]
    symbols: tuple[tuple[str, str], ...] = ()
    constants: tuple[Constant, ...] = ()
    output: str = ""
    reduction: str = ""
    broadcasting: str = ""
    layout: str = ""
    gradient: str = ""
    notes: tuple[str, ...] = ()
