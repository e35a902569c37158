"""Single-bug variants ("mutants") of ``conformance.targets.reference``.

Each module starts from the reference (``from conformance.targets.reference import *``),
redefines exactly one contract function with one realistic bug, and declares:

- ``TARGETS``: the contract names to check (the redefined one);
- ``CATEGORIES``: the check categories expected to catch it (``"value"``, ``"gradient"``);
- ``DESCRIPTION``: the bug in one sentence;
- ``KIND``: the class of bug ("gradient-only", "batch>1", "non-square", "negative-extent",
  "unnormalised-probabilities", "precision", "formula", ...).

``tests/test_mutants.py`` runs the gate on every module here and requires it to fail.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

KINDS = ("gradient-only", "batch>1", "non-square", "negative-extent", "unnormalised-probabilities", "precision",
         "formula", "divergence", "clip-bound", "shape")


def names() -> list[str]:
    """Module names of the catalogue (``mNN_...``), sorted."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("m"))


def load(name: str) -> ModuleType:
    """Import one mutant module by its short name."""
    return importlib.import_module(f"{__name__}.{name}")
