"""Real loss bugs from public code ("zoo"), each re-expressed against one contract name.

Same interface as ``tests/mutants/``: each module starts from the reference
(``from conformance.targets.reference import *``), redefines exactly one contract
function reproducing a bug that happened in a public project, and declares:

- ``TARGETS``: the contract names to check (the redefined one);
- ``CATEGORIES``: the check categories expected to catch it (``"value"``, ``"gradient"``,
  ``"stability"``, ``"badinput"``);
- ``DESCRIPTION``: the bug in one sentence;
- ``KIND``: the class of bug (:data:`KINDS`);
- ``LINK``: the public issue or pull-request thread where it was reported or fixed;
- ``SOURCE``: the project it happened in (``owner/repository``).

``docs/zoo.md`` is the index; ``tests/test_zoo.py`` runs the gate on every module here
and requires it to fail.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

KINDS = ("gradient-only", "precision", "zero-convention", "formula", "divergence", "non-square", "clip-bound",
         "division-by-zero", "bad-input")


def names() -> list[str]:
    """Module names of the zoo (``zNN_...``), sorted."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("z"))


def load(name: str) -> ModuleType:
    """Import one zoo module by its short name."""
    return importlib.import_module(f"{__name__}.{name}")
