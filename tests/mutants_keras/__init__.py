"""Single-bug variants ("mutants") of ``conformance.targets.reference_keras`` (the ``keras.ops`` reference).

The same interface as ``tests/mutants``: each module starts from the Keras reference
(``from conformance.targets.reference_keras import *``), redefines exactly one contract
function with one realistic bug of a ``keras.ops`` port, and declares ``TARGETS``,
``CATEGORIES``, ``DESCRIPTION`` and ``KIND`` (one of ``mutants.KINDS``).  Run on the TensorFlow
backend (``KERAS_BACKEND=tensorflow``), the gate must fail each one.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def names() -> list[str]:
    """Module names of the catalogue (``mNN_...``), sorted."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("m"))


def load(name: str) -> ModuleType:
    """Import one mutant module by its short name."""
    return importlib.import_module(f"{__name__}.{name}")
