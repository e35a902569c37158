"""Single-bug variants ("mutants") of the reference catalogue, written once for every framework.

A mutant module redefines one or more :class:`conformance.targets.catalogue.Catalogue` methods with one
realistic bug, as functions of ``self`` over the array layer ``self.ops`` (the reference's own
formulas, one thing changed), and declares:

- ``TARGETS``: the contract names to check (those the redefined methods reach);
- ``CATEGORIES``: the check categories expected to catch it (``"value"``, ``"gradient"``);
- ``DESCRIPTION``: the bug in one sentence;
- ``KIND``: the class of bug ("gradient-only", "batch>1", "non-square", "negative-extent",
  "unnormalised-probabilities", "precision", "formula", ...).

:func:`load` builds the mutant for a framework (``REFERENCE.replaced(...)`` of that framework's reference
module), so one mutant is judged on TensorFlow, JAX, Keras 3 and PyTorch alike.  A mutant whose bug is one
framework's own mechanism (``tf.custom_gradient``, a ``tf.nn`` kernel's gradient convention) declares
``FRAMEWORKS = ("tf",)`` and defines the contract functions themselves.

``tests/test_mutants.py`` runs the gate on every module here and requires it to fail.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
from types import ModuleType

from conformance.targets.catalogue import Catalogue

KINDS = ("gradient-only", "batch>1", "non-square", "negative-extent", "unnormalised-probabilities", "precision",
         "formula", "divergence", "clip-bound", "shape")
REFERENCES = {"tf": "conformance.targets.reference", "jax": "conformance.targets.reference_jax",
              "keras": "conformance.targets.reference_keras", "torch": "conformance.targets.reference_torch"}


def names(framework: str | None = None) -> list[str]:
    """Module names of the catalogue (``mNN_...``), sorted; with ``framework``, those that can be built for it."""
    every = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("m"))
    return every if framework is None else [n for n in every if framework in frameworks(n)]


def frameworks(name: str) -> tuple[str, ...]:
    """The frameworks mutant ``name`` is built for."""
    return getattr(_source(name), "FRAMEWORKS", tuple(REFERENCES))


def replacements(name: str) -> dict:
    """The catalogue methods a generic mutant redefines: its own functions named after a Catalogue method."""
    source = _source(name)
    return {n: f for n, f in vars(source).items()
            if inspect.isfunction(f) and f.__module__ == source.__name__ and callable(getattr(Catalogue, n, None))}


@functools.cache
def load(name: str, framework: str = "tf") -> ModuleType:
    """Mutant ``name`` as an implementation module of ``framework`` (every contract name, one bug)."""
    source = _source(name)
    if framework not in frameworks(name):
        raise LookupError(f"{name} is written for {frameworks(name)} only, not {framework!r}")
    if hasattr(source, "FRAMEWORKS"):
        return source
    reference = importlib.import_module(REFERENCES[framework]).REFERENCE
    module = ModuleType(f"{source.__name__}[{framework}]", source.__doc__)
    module.__dict__.update({k: getattr(source, k) for k in ("TARGETS", "CATEGORIES", "DESCRIPTION", "KIND")})
    module.__dict__.update(reference.replaced(**replacements(name)))
    return module


def _source(name: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{name}")
