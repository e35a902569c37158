"""Copy-paste reproduction snippets for failures."""

from __future__ import annotations

import numpy as np

from conformance.contracts import Contract


def _lit(v: object) -> str:
    if isinstance(v, np.ndarray):
        with np.printoptions(precision=17, threshold=10**6, floatmode="unique"):
            return f"np.array({np.array2string(v, separator=', ')}, dtype=np.{v.dtype})"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_lit(x) for x in v) + "]"
    return repr(v)


def snippet(contract: Contract, ex: dict, dtype: str, mode: str, impl_name: str, category: str) -> str:
    """Python code that recomputes the failing example with only NumPy, TensorFlow, the impl and the oracle."""
    lines = [
        "import numpy as np",
        "from conformance.contracts import REGISTRY",
        "from conformance.impl import load",
        "from conformance.runners.tf import Runner, prepare",
        f"impl = load({_absolute(impl_name)!r}).obj",
        f"contract = REGISTRY[{contract.name!r}]",
        "ex = {",
        *[f"    {k!r}: {_lit(v)}," for k, v in ex.items()],
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
