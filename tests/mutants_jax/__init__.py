"""Single-bug variants ("mutants") of ``conformance.targets.reference_jax``.

Mistakes of JAX's own: ``tests/mutants`` is written once for every framework and built for JAX too;
here are the bugs that come from JAX itself (how it differentiates ``jnp.maximum`` at a tie, ...).
The same interface as ``tests/mutants``' framework-specific modules: each module starts from the
JAX reference (``from conformance.targets.reference_jax import *``), redefines exactly one contract
function with one realistic bug, and declares ``TARGETS``, ``CATEGORIES``, ``DESCRIPTION`` and
``KIND`` (one of ``tests/mutants.KINDS``).  A correct JAX runner and the generic checks must fail each.
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
