"""Standalone reproducers for failures: a ``.py`` script and ``.npz`` inputs beside the HTML report.

A failing check attaches :func:`failure_record` (the rounded example, the oracle's
expected values and the impl's actual values, JSON-friendly) to its exception; the
engine moves it into ``CheckResult.inputs`` and ``CheckResult.extra``.  From there
:func:`write_reproducer` writes a script for the run's framework (:func:`needs` says what it
imports): for TensorFlow only NumPy, TensorFlow and the implementation; for JAX, PyTorch and
Keras 3 it calls the implementation through the suite's runner.  The expected values are
stored in the ``.npz``, so no oracle runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np


def call_expression(name: str, ex: dict) -> str:
    """The literal call of contract ``name`` for example ``ex``, generated from the record's call description."""
    from conformance.contracts import REGISTRY

    return REGISTRY[name].call.text(name, ex)


# --- JSON-friendly examples -------------------------------------------------------------------------------------

def encode(v: Any) -> Any:
    """Arrays as ``{"array": nested list, "dtype", "shape"}`` (exact float64 round trip), sequences as lists.

    Dicts are encoded value by value.
    """
    if isinstance(v, np.ndarray):
        return {"array": v.tolist(), "dtype": str(v.dtype), "shape": list(v.shape)}
    if isinstance(v, (list, tuple)):
        return [encode(x) for x in v]
    if isinstance(v, dict):
        return {k: encode(x) for k, x in v.items()}
    if isinstance(v, np.generic):
        return v.item()
    return v


def decode(v: Any) -> Any:
    """Inverse of :func:`encode`."""
    if isinstance(v, dict) and "array" in v:
        return np.asarray(v["array"], dtype=v["dtype"]).reshape(v["shape"])
    if isinstance(v, list):
        return [decode(x) for x in v]
    if isinstance(v, dict):
        return {k: decode(x) for k, x in v.items()}
    return v


def labelled(prefix: str, out: Any) -> dict[str, Any]:
    """Output(s) or gradients as label -> array (``value``, ``value[1]``, ``d/dy_pred``, ``d/dconvs[0]``)."""
    if isinstance(out, dict):
        items: dict[str, Any] = {}
        for k, g in out.items():
            items.update(labelled(f"d/d{k}", g))
        return items
    if isinstance(out, (tuple, list)):
        return {f"{prefix}[{i}]": (None if o is None else np.asarray(o, dtype=np.float64)) for i, o in enumerate(out)}
    return {prefix: None if out is None else np.asarray(out, dtype=np.float64)}


def failure_record(ex: dict, expected: Any = None, actual: Any = None, cot: Any = None,
                   tolerance: Any = None) -> dict:
    """What a failing check attaches to its exception (``exc.failure``): inputs plus ``extra`` entries.

    ``expected``/``actual`` are the output(s) of a value check or dicts arg -> gradient of a gradient check;
    ``cot`` is the gradient check's cotangent.  All arrays are rounded-to-dtype float64 values.
    """
    extra: dict[str, Any] = {}
    if expected is not None:
        extra["expected"] = {k: encode(v) for k, v in labelled("value", expected).items()}
    if actual is not None:
        extra["actual"] = {k: encode(v) for k, v in labelled("value", actual).items()}
    if cot is not None:
        extra["cotangent"] = encode(list(cot) if isinstance(cot, tuple) else np.asarray(cot))
    if tolerance is not None:  # per element of the expected values, flattened in their order: the reproducer's verdict
        extra["tolerance"] = encode(np.asarray(tolerance, dtype=np.float64))
    return {"inputs": {k: encode(v) for k, v in ex.items()}, "extra": extra}


# --- script and npz ---------------------------------------------------------------------------------------------

def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


def message_head(message: str) -> str:
    """A failure message without the inputs, snippet and Hypothesis report that follow it."""
    return message.split("\nInputs (rounded", 1)[0].split("\nFailing test case:", 1)[0]


FRAMEWORK_NAMES = {"tf": "TensorFlow", "jax": "JAX", "torch": "PyTorch", "keras": "Keras 3"}


def needs(framework: str | None = None) -> str:
    """What a reproducer for ``framework`` (None: the selected one) needs besides the implementation, in words."""
    from conformance import runners

    fw = framework or runners.framework()
    if fw == "tf":
        return "NumPy, TensorFlow"
    what = FRAMEWORK_NAMES[fw] + (f" on {runners.keras_backend()}" if fw == "keras" else "")
    return f"NumPy, {what}, the conformance package"


def file_stem(result: Any) -> str:
    """``<name>-<category>-<dtype>-<mode>``: the reproducer's file name without suffix."""
    return f"{result.name}-{result.category}-{result.dtype}-{result.mode}"


def write_reproducer(result: Any, spec: str, impl_file: str | None, directory: Path) -> tuple[Path, Path] | None:
    """Write ``<stem>.py`` and ``<stem>.npz`` for a failed ``CheckResult`` carrying its example; None otherwise."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    from conformance import runners
    from conformance.contracts import REGISTRY
    from conformance.startup import STARTUP_NOISE

    if not result.inputs or result.name not in REGISTRY:
        return None
    framework = runners.framework()
    contract = REGISTRY[result.name]
    ex = {k: decode(v) for k, v in result.inputs.items()}
    arrays: dict[str, np.ndarray] = {}
    args = []  # (name, kind, npz key(s) or literal)
    for k, v in ex.items():
        if k in contract.float_args or k in contract.int_args:
            kind = "float" if k in contract.float_args else "int"
            if isinstance(v, list):
                keys = []
                for i, x in enumerate(v):
                    arrays[f"in__{k}__{i}"] = np.asarray(x)
                    keys.append(f"in__{k}__{i}")
                args.append((k, kind + "-list", keys))
            else:
                arrays[f"in__{k}"] = np.asarray(v)
                args.append((k, kind, f"in__{k}"))
        elif isinstance(v, np.ndarray):
            arrays[f"in__{k}"] = v
            args.append((k, "config-float-array" if np.issubdtype(v.dtype, np.floating) else "config-array",
                         f"in__{k}"))
        else:
            args.append((k, "literal", repr(v)))
    expected = []
    for i, (label, v) in enumerate(result.extra.get("expected", {}).items()):
        arrays[f"expected__{i}"] = decode(v)
        expected.append((label, f"expected__{i}"))
    suite_actual = {}
    for i, (label, v) in enumerate(result.extra.get("actual", {}).items()):
        if v is not None:
            arrays[f"suite_actual__{i}"] = decode(v)
            suite_actual[label] = f"suite_actual__{i}"
    if "tolerance" in result.extra:
        arrays["tolerance"] = np.ravel(decode(result.extra["tolerance"]))
    cot_keys: list[str] | str | None = None
    grad = "cotangent" in result.extra  # a failure of the gradient (a VJP with this cotangent)
    if grad:
        cot = decode(result.extra["cotangent"])
        if isinstance(cot, list):
            cot_keys = []
            for i, c in enumerate(cot):
                arrays[f"cot__{i}"] = np.asarray(c)
                cot_keys.append(f"cot__{i}")
        else:
            arrays["cot"] = np.asarray(cot)
            cot_keys = "cot"

    directory.mkdir(parents=True, exist_ok=True)
    stem = file_stem(result)
    py, npz = directory / f"{stem}.py", directory / f"{stem}.npz"
    np.savez(npz, **arrays)
    env = Environment(loader=PackageLoader("conformance.reporting", "templates"), autoescape=False,
                      undefined=StrictUndefined, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["py"] = repr
    text = env.get_template("reproducer.py.j2").render(
        r=result, spec=spec, impl_file=impl_file, npz_name=npz.name, args=args,
        call=call_expression(result.name, ex), expected=expected, suite_actual=suite_actual,
        wrt=list(contract.grad_args), cot_keys=cot_keys, grad=grad,
        needs_decode=any(d.function == "decode" for d in contract.call.derived),
        message_head="\n".join(message_head(result.message or "").splitlines()[:8]),
        inputs=[(k, key) for k, kind, key in args if kind != "literal"],
        literals=[(k, key) for k, kind, key in args if kind == "literal"],
        framework=framework, needs=needs(framework),
        keras_backend=runners.keras_backend() if framework == "keras" else None,
        startup_noise=STARTUP_NOISE.pattern,
    )
    py.write_text(text)
    return py, npz
