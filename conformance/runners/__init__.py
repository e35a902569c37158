"""Runners: calling an implementation in its own framework (TensorFlow, JAX, PyTorch; Keras 3 on any of them).

One module per framework with the same interface (``prepare``, ``Runner``, ``cotangent``, ``cot_tensor``,
``to_numpy``, ``MODES``, ``DEFAULT_MODE``): :mod:`~conformance.runners.tf`, :mod:`~conformance.runners.jax`,
:mod:`~conformance.runners.torch_runner`.  The plugin calls :func:`select` once at configure time (in every
xdist worker too); the checks import the selected one through :mod:`conformance.runners.active`
(the function here is :func:`selected`: ``conformance.runners.active`` is that module's name).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

FRAMEWORKS = ("tf", "jax", "torch", "keras")
MODULES = {"tf": "conformance.runners.tf", "jax": "conformance.runners.jax",
           "torch": "conformance.runners.torch_runner"}
KERAS_BACKENDS = {"tensorflow": "tf", "jax": "jax", "torch": "torch"}
KERAS_FALLBACK = "conformance.targets.reference_keras"
ENV = "CONFORMANCE_FRAMEWORK"  # the selection, for processes started by the run
_STATE: dict[str, Any] = {}


def keras_backend() -> str:
    """The Keras 3 backend: ``keras.backend.backend()`` if Keras is imported, else $KERAS_BACKEND (tensorflow)."""
    if "keras" in sys.modules and hasattr(sys.modules["keras"], "backend"):
        return sys.modules["keras"].backend.backend()
    return os.environ.get("KERAS_BACKEND", "tensorflow")


_IMPORT = re.compile(r"^\s*(?:import|from)\s+(tensorflow|jax|torch|keras)\b", re.MULTILINE)


def detect(module: Any) -> str:
    """The framework an impl module is written for, from what it imports; ``tf`` when unsure.

    Module objects among its globals and ``import``/``from`` lines of its source count.  JAX or PyTorch
    imported directly win; then TensorFlow; then Keras 3 alone (``keras.ops`` code: ``keras``).
    """
    seen: set[str] = set()
    for v in vars(module).values() if hasattr(module, "__dict__") else ():
        root = (getattr(v, "__name__", "") if isinstance(v, ModuleType) else getattr(v, "__module__", "") or "")
        root = root.split(".")[0]
        if root in ("tensorflow", "jax", "jaxlib", "torch", "keras"):
            seen.add("jax" if root == "jaxlib" else root)
    try:
        import inspect

        seen.update(_IMPORT.findall(inspect.getsource(module)))
    except (TypeError, OSError):
        pass
    for fw in ("jax", "torch"):
        if fw in seen:
            return fw
    if "tensorflow" in seen:
        return "tf"
    return "keras" if "keras" in seen else "tf"


def select(name: str | None = None, impl: Any = None) -> ModuleType:
    """Choose the runner for ``name`` (one of :data:`FRAMEWORKS`; None: :func:`detect` on ``impl``).

    ``keras`` follows the Keras backend (``KERAS_BACKEND``): tensorflow, jax or torch.  Returns the runner
    module and activates it (JAX: ``jax_enable_x64``; PyTorch: a per-run TorchInductor cache directory).
    """
    if name in (None, "", "auto"):
        name = detect(impl) if impl is not None else "tf"
    if name not in FRAMEWORKS:
        raise ValueError(f"framework: expected one of {FRAMEWORKS}, got {name!r}")
    backend = keras_backend() if name == "keras" else None
    if backend is not None and backend not in KERAS_BACKENDS:
        raise ValueError(f"framework keras: backend {backend!r} is not supported (KERAS_BACKEND: "
                         f"{', '.join(KERAS_BACKENDS)})")
    runner = KERAS_BACKENDS[backend] if backend else name
    module = importlib.import_module(MODULES[runner])
    if hasattr(module, "activate"):
        module.activate()
    if backend is not None and backend != "tensorflow":  # derived functions (decode) an impl lacks: keras.ops
        module.Runner.fallback_module = KERAS_FALLBACK
    _STATE.update(framework=name, runner=runner, module=module)
    os.environ[ENV] = name
    return module


@contextlib.contextmanager
def using(name: str, impl: Any = None) -> Iterator[ModuleType]:
    """:func:`select` ``name`` for a block (the project's own tests), then restore the previous selection."""
    state, env = dict(_STATE), os.environ.get(ENV)
    fallbacks = {m: sys.modules[m].Runner.fallback_module for m in MODULES.values() if m in sys.modules}
    try:
        yield select(name, impl)
    finally:
        _STATE.clear()
        _STATE.update(state)
        if env is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = env
        for m, fallback in fallbacks.items():
            sys.modules[m].Runner.fallback_module = fallback


def selected() -> ModuleType:
    """The selected runner module (selected from $CONFORMANCE_FRAMEWORK, else TensorFlow, if none was)."""
    if "module" not in _STATE:
        select(os.environ.get(ENV) or "tf")
    return _STATE["module"]


def framework() -> str:
    """The selected framework (``tf``, ``jax``, ``torch`` or ``keras``)."""
    selected()
    return _STATE["framework"]


def describe() -> dict[str, str]:
    """framework, backend (the runner's framework and version) and device, for reports."""
    module = selected()
    fw = _STATE["framework"]
    info = {"framework": fw, "backend": f"{module.NAME} {_version(module.NAME)}", "device": device_name(module)}
    if fw == "keras":
        info["framework"] = f"keras {_version('keras')}"
    return info


def _version(name: str) -> str:
    dist = {"tf": "tensorflow", "jax": "jax", "torch": "torch", "keras": "keras"}[name]
    mod = sys.modules.get(dist)
    return str(getattr(mod, "__version__", "?"))


def device_name(module: ModuleType) -> str:
    """The device the framework computes on by default, in words."""
    try:
        return module.device_name()
    except Exception as exc:  # a report must not fail on this
        return f"unknown ({type(exc).__name__})"
