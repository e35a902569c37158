"""The implementation under test: how ``--impl`` is resolved, imported and described.

``--impl`` accepts

- a dotted module (``mypkg.losses``), imported as usual, or from the current directory when it
  is not importable otherwise (``pytest``, unlike ``python -m pytest``, does not put the current
  directory on ``sys.path``);
- a path to a ``.py`` file (``./my_losses.py``);
- ``module:attribute`` (``mypkg.yolo:MODEL``): an object whose attributes are the contract names,
  such as an instance of a class that implements the losses as methods.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ImplError(Exception):
    """``--impl`` cannot be imported or resolved; the message says what was tried.

    ``found``: the file or module exists and the error came from running it (a SyntaxError, an import inside it).
    """

    found: bool = False


@dataclass(frozen=True)
class Impl:
    """A resolved implementation: what the user wrote, the object with the contract names, and where it lives."""

    spec: str
    obj: Any
    file: str | None  # absolute path of the module's source file, when known


def looks_like_path(spec: str) -> bool:
    """Whether ``--impl`` names a file rather than a module."""
    return spec.endswith(".py") or "/" in spec or "\\" in spec


FILE_PREFIX = "_conformance_impl_"  # the module name of an implementation imported from a file


def display_name(module: Any) -> str:
    """The implementation as its user knows it: the file's name for one imported from a file, else the module's."""
    name = getattr(module, "__name__", "?")
    file = getattr(module, "__file__", None)
    return Path(file).name if name.startswith(FILE_PREFIX) and file else name


def _from_file(path: Path) -> Any:
    if not path.is_file():
        raise ImplError(f"no such file: {path}")
    name = f"{FILE_PREFIX}{path.stem}"
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) == str(path):
        return sys.modules[name]
    mod_spec = importlib.util.spec_from_file_location(name, path)
    if mod_spec is None or mod_spec.loader is None:
        raise ImplError(f"cannot import {path} as a Python module")
    module = importlib.util.module_from_spec(mod_spec)
    sys.modules[name] = module
    sys.path.insert(0, str(path.parent))  # so the file's own sibling imports work
    try:
        mod_spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


def _module(spec: str) -> Any:
    if looks_like_path(spec):
        return _from_file(Path(spec).resolve())
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        top = spec.split(".")[0]
        cwd = os.getcwd()
        if exc.name != top or cwd in sys.path or not _in_current_dir(top):
            raise
        sys.path.insert(0, cwd)  # a module in the current directory, as `python -m pytest` would find it
        return importlib.import_module(spec)


def _in_current_dir(top: str) -> bool:
    """Whether the current directory holds module or package ``top`` (:func:`load` falls back to it)."""
    cwd = Path(os.getcwd())
    return (cwd / f"{top}.py").is_file() or (cwd / top / "__init__.py").is_file()


def _split(spec: str) -> tuple[str, str]:
    """``module:attribute`` → (module, attribute); a Windows drive's colon is not a separator."""
    module_spec, _, attribute = spec.partition(":") if ":" in spec and not _is_windows_drive(spec) else (spec, "", "")
    return module_spec, attribute


def load(spec: str) -> Impl:
    """Resolve ``spec`` (see the module docstring) to an :class:`Impl`; raise :class:`ImplError` on failure."""
    module_spec, attribute = _split(spec)
    try:
        module = _module(module_spec)
    except ImplError:
        raise
    except Exception as exc:
        err = ImplError(f"{type(exc).__name__}: {exc}")
        missing = isinstance(exc, ModuleNotFoundError) and (module_spec + ".").startswith((exc.name or "\0") + ".")
        err.found = not missing
        raise err from exc
    obj = module
    if attribute:
        try:
            for part in attribute.split("."):
                obj = getattr(obj, part)
        except AttributeError:
            raise ImplError(f"{module_spec} has no attribute {attribute!r}") from None
        if inspect.isclass(obj):
            raise ImplError(f"{spec} is a class; pass an instance (e.g. a module-level `MODEL = {attribute}(...)`)")
    file = getattr(module, "__file__", None)
    return Impl(spec, obj, str(Path(file).resolve()) if file else None)


def find(spec: str) -> None:
    """Raise :class:`ImplError` when ``spec`` names no file and no module, without running the module.

    A dotted name's parent packages are imported (as :func:`importlib.util.find_spec` does); anything else
    that can go wrong shows when the module is imported (:func:`load`).
    """
    module_spec = _split(spec)[0]
    if looks_like_path(module_spec):
        path = Path(module_spec).resolve()
        if not path.is_file():
            raise ImplError(f"no such file: {path}")
        return
    if _in_current_dir(module_spec.split(".")[0]):
        return  # load() falls back to the current directory
    try:
        found = importlib.util.find_spec(module_spec)
    except ModuleNotFoundError as exc:
        raise ImplError(f"ModuleNotFoundError: {exc}") from None
    except Exception:  # a parent package that fails to import: load() says so
        return
    if found is None:
        raise ImplError(f"ModuleNotFoundError: No module named {module_spec!r}")


def _is_windows_drive(spec: str) -> bool:
    return len(spec) > 2 and spec[1] == ":" and spec[2] in "\\/"


def misfit(name: str, obj: Any) -> str | None:
    """Why ``obj``, found under contract name ``name``, cannot be called as the contract's function; None if it can.

    A class (calling it builds an instance, not a loss) and a Keras ``Loss`` object (it takes ``(y_true, y_pred,
    sample_weight)`` and reduces over the batch, where the contract's functions return per-element or per-example
    values) are reported with what to pass instead.
    """
    what = f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__qualname__)}"
    if inspect.isclass(obj):
        return (f"{name} is a class ({what}), not a function: the suite calls {name}(...) as the contract says and "
                f"would get an instance of the class, not a loss. Bind {name} to a function (e.g. a method of an "
                f"instance: `MODEL = {obj.__name__}(...)` and --impl=module:MODEL), or write a small adapter module.")
    keras_loss = next((c for c in type(obj).__mro__ if c.__name__ == "Loss"
                       and c.__module__.split(".")[0] in ("keras", "tf_keras", "tensorflow")), None)
    if keras_loss is not None:
        fn = getattr(obj, "fn", None)
        hint = f" (it wraps {fn.__module__}.{fn.__name__})" if callable(fn) else ""
        return (f"{name} is a Keras Loss object ({type(obj).__module__}.{type(obj).__qualname__}){hint}, not the "
                f"contract's function: a Loss takes (y_true, y_pred, sample_weight) and reduces over the batch. Bind "
                f"{name} to a function with the contract's call (python -m conformance contracts lists them).")
    if not callable(obj):
        return f"{name} is not callable: found {type(obj).__name__} {what}"
    return None
