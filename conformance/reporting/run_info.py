"""What a run tested and with what: the implementation, the framework, versions, the Hypothesis profile.

Built in the process that imports the implementation (the serial run, or each pytest-xdist worker, which
sends it to the controller as JSON in ``workeroutput``), so that the controller of a parallel run never
imports the implementation or its framework.  The terminal summary, the JSON and the HTML report read it.
"""

from __future__ import annotations

import importlib.metadata
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from conformance.impl import display_name

FRAMEWORK_DISTS = (("TensorFlow", "tensorflow", ("tensorflow", "tensorflow-cpu")), ("JAX", "jax", ("jax",)),
                   ("PyTorch", "torch", ("torch",)), ("Keras", "keras", ("keras",)))


@dataclass
class RunInfo:
    """One run's facts; plain values only (it travels between processes as JSON)."""

    spec: str  # --impl as given
    dtypes: list[str]
    mode: str = "eager"
    module: str = "?"  # the implementation module's name
    module_file: str | None = None
    names: list[str] = field(default_factory=list)  # every registered contract name, in registry order
    provided: list[str] = field(default_factory=list)  # those the implementation defines
    run: dict[str, str] = field(default_factory=dict)  # framework, backend, device (conformance.runners.describe)
    versions: list[str] = field(default_factory=list)  # "TensorFlow 2.21.0", ... "Python 3.11.7"
    profile: str = ""  # the Hypothesis profile's name
    profile_settings: str = ""  # "max_examples=25, derandomize=True"
    derandomized: bool = False
    arithmetic: list[dict] = field(default_factory=list)  # per dtype measured: conformance.numerics.arithmetic

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunInfo:
        return cls(**data)


def version(dist: str) -> str:
    """The installed version of distribution ``dist``, or ``not installed``."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def framework_versions() -> list[str]:
    """``TensorFlow 2.21.0``-style entries for the frameworks installed (whatever their distribution's name)."""
    out = []
    for label, module, dists in FRAMEWORK_DISTS:
        found = getattr(sys.modules.get(module), "__version__", None)
        found = found or next((v for v in map(version, dists) if v != "not installed"), None)
        if found:
            out.append(f"{label} {found}")
    return out


def describe_run(spec: str, module: Any, dtypes: list[str], mode: str) -> RunInfo:
    """The :class:`RunInfo` of a run of ``module`` (imported as ``--impl=spec``), with the selected runner."""
    import platform

    import numpy as np
    from hypothesis import settings

    from conformance import runners
    from conformance.checks.profiles import DEFAULT_PROFILE
    from conformance.contracts import REGISTRY

    current_name = getattr(settings, "get_current_profile_name", None)  # Hypothesis >= 6.1xx
    profile = current_name() if current_name else DEFAULT_PROFILE
    current = settings.get_profile(profile)
    from conformance.numerics import arithmetic

    return RunInfo(
        spec=spec, dtypes=list(dtypes), mode=mode, module=display_name(module),
        module_file=getattr(module, "__file__", None), names=list(REGISTRY),
        provided=[n for n in REGISTRY if getattr(module, n, None) is not None], run=runners.describe(),
        versions=[*framework_versions(), f"NumPy {np.__version__}", f"loss-conformance {version('loss-conformance')}",
                  f"Hypothesis {version('hypothesis')}", f"Python {platform.python_version()}"],
        profile=profile, profile_settings=f"max_examples={current.max_examples}, derandomize={current.derandomize}",
        derandomized=bool(current.derandomize),
        arithmetic=[arithmetic.current(d).to_json() for d in dtypes if arithmetic.measured(d)],
    )


def arithmetic_lines(info: RunInfo) -> list[str]:
    """One line per dtype whose reductions the tolerance model charged (float32 and float64 say nothing new)."""
    from conformance.numerics.arithmetic import Arithmetic

    out = []
    for a in info.arithmetic:
        arith = Arithmetic(**a)
        if arith.dtype in ("float16", "bfloat16"):
            out.append(arith.line())
    return out
