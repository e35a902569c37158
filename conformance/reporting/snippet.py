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
        "import numpy as np, tensorflow as tf, importlib",
        "import oracle",
        "from conformance.contracts import REGISTRY",
        "from conformance.runners.tf import Runner, prepare",
        f"impl = importlib.import_module({impl_name!r})",
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
