"""Single-bug variants ("mutants") of ``conformance.targets.reference_torch``.

The PyTorch counterpart of ``tests/mutants``, with the same interface: each module starts
from the PyTorch reference (``from conformance.targets.reference_torch import *``),
redefines exactly one contract function with one realistic bug (here: PyTorch idioms that
are wrong for the contract), and declares ``TARGETS``, ``CATEGORIES``, ``DESCRIPTION`` and
``KIND`` as there.  The gate, run through the PyTorch runner, must fail each of them.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

KINDS = ("gradient-only", "batch>1", "non-square", "negative-extent", "unnormalised-probabilities", "precision",
         "formula", "divergence", "clip-bound")


def names() -> list[str]:
    """Module names of the catalogue (``mNN_...``), sorted."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("m"))


def load(name: str) -> ModuleType:
    """Import one mutant module by its short name."""
    return importlib.import_module(f"{__name__}.{name}")
