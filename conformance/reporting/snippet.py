"""Copy-paste reproduction snippets for failures, and one-line summaries of their inputs."""

from __future__ import annotations

import numpy as np

from conformance.contracts import Contract


def _float_lit(x: float) -> str:
    """A float as Python source that evaluates to it exactly (``np.nan``, ``-np.inf`` for non-finite values)."""
    x = float(x)
    if np.isnan(x):
        return "np.nan"
    if np.isinf(x):
        return "np.inf" if x > 0 else "-np.inf"
    return repr(x)


def as_source(v: object) -> str:
    """``v`` as Python source that evaluates to it exactly (arrays as ``np.array([...], dtype=...)``)."""
    if isinstance(v, np.ndarray):
        # shortest round-trip repr per element, no column padding: exact, and readable in a terminal
        text = np.array2string(v, separator=", ", threshold=10**6, max_line_width=100,
                               formatter={"float_kind": _float_lit})
        return f"np.array({text}, dtype=np.{v.dtype})"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(as_source(x) for x in v) + "]"
    return repr(v)


SMALL = 24  # arrays with at most this many elements are shown in full in messages; larger ones are summarised


def _size(v: object) -> int:
    if isinstance(v, np.ndarray):
        return int(v.size)
    if isinstance(v, (list, tuple)):
        return sum(_size(x) for x in v)
    return 1


def is_small(ex: dict) -> bool:
    """Whether every array of ``ex`` has at most :data:`SMALL` elements (so that a snippet stays short)."""
    return all(_size(x) <= SMALL for v in ex.values() for x in (v if isinstance(v, (list, tuple)) else [v]))


def brief(v: object, width: int = 160) -> str:
    """One line for an input: a small array in full, a large one as its shape, dtype and range."""
    if isinstance(v, (list, tuple)):
        text = "[" + ", ".join(brief(x, width) for x in v) + "]"
        return text if len(text) <= 2 * width else text[:2 * width] + " ...]"
    if not isinstance(v, np.ndarray):
        return repr(v)
    if v.size <= SMALL:
        with np.printoptions(precision=8, floatmode="maxprec", threshold=SMALL, linewidth=10**6):
            text = " ".join(np.array2string(v, separator=", ").split())
        text = f"array({text})"
        return text if len(text) <= width else text[:width] + " ..."
    if v.dtype.kind in "fc":
        finite = v[np.isfinite(v)]
        rng = f"min {finite.min():.6g}, max {finite.max():.6g}" if finite.size else "no finite element"
        nonfinite = v.size - finite.size
        rng += f", {nonfinite} non-finite" if nonfinite else ""
    elif v.dtype.kind in "iub":
        rng = f"min {v.min()}, max {v.max()}"
    else:
        rng = ""
    return f"<{v.dtype} array, shape {v.shape}: {rng}, {np.count_nonzero(v)} nonzero>"


def framework_lines() -> list[str]:
    """Lines selecting the run's framework (and Keras backend) before the runner is imported."""
    from conformance import runners

    fw = runners.framework()
    lines = []
    if fw == "keras":  # Keras fixes its backend when first imported
        lines += ["import os", f"os.environ.setdefault('KERAS_BACKEND', {runners.keras_backend()!r})"]
    return lines + ["from conformance import runners", f"runners.select({fw!r})"]


def snippet(contract: Contract, ex: dict, dtype: str, mode: str, impl_name: str, category: str) -> str:
    """Python code that recomputes the failing example with NumPy, the selected framework, the impl and the oracle."""
    lines = [
        *framework_lines(),
        "import numpy as np",
        "from conformance.contracts import REGISTRY",
        "from conformance.impl import load",
        "from conformance.runners.active import Runner, prepare",
        f"impl = load({_absolute(impl_name)!r}).obj",
        f"contract = REGISTRY[{contract.name!r}]",
        "ex = {",
        *[f"    {k!r}: {as_source(v)}," for k, v in ex.items()],
        "}",
        f"rounded, args = prepare(contract, ex, {dtype!r})",
        f"runner = Runner(contract, getattr(impl, {contract.name!r}), {mode!r}, impl)",
        "print('impl:  ', runner.value(args))",
        "print('oracle:', contract.expected(rounded" + (f", constants_dtype={dtype!r}" if contract.constants_dtype
                                                        else "") + "))",
    ]
    return "\n".join(lines)


def _absolute(spec: str) -> str:
    """A path ``--impl`` made absolute, so the snippet runs from any directory."""
    from pathlib import Path

    from conformance.impl import looks_like_path

    return str(Path(spec).resolve()) if looks_like_path(spec) else spec
