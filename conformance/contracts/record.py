"""The contract record: everything the generic machinery knows about one contract name.

In the spirit of an op database, each contract name has exactly one :class:`Contract`,
declared in its family's module (``conformance/contracts/<family>.py``): the oracle entry,
the call (described once, so the runners' call and the reproducers' call text come from
the same description), the input strategies (realistic, adversarial, pinned, bad inputs),
the tolerance, divergences and conventions, the regression-fixture tags and the timing
cases.  Checks, runners, fixtures and reports read records and contain no contract names.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st

import oracle
from conformance.clock import timed
from conformance.contracts.entry import Entry
from conformance.numerics.literal import Literal
from conformance.numerics.outputs import as_tuple
from conformance.numerics.tolerance import Tolerance

Example = dict[str, Any]


@dataclass(frozen=True)
class Derived:
    """An argument the runner computes with the implementation's own function: ``pred = impl.decode(conv, ...)``."""

    name: str
    function: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class Call:
    """How a contract function is called, described declaratively.

    ``fn(*factory)(*positional, **keyword)`` for Keras-style closures, ``fn(*positional, **keyword)``
    otherwise; ``packed`` passes the positional arguments as one list (``loss([hm_pred, ...])``);
    ``optional`` keywords are passed only when the example's value differs from the default
    (``axis=-1``); ``derived`` arguments are computed first with the implementation's own function.
    """

    positional: tuple[str, ...] = ()
    keyword: tuple[str, ...] = ()
    factory: tuple[str, ...] = ()
    optional: tuple[tuple[str, Any], ...] = ()
    packed: bool = False
    derived: tuple[Derived, ...] = ()

    def invoke(self, fn: Callable, a: Example, impl: Any = None, fallback: Any = None) -> Any:
        """Call ``fn`` on example ``a`` (derived arguments from ``impl``, else from ``fallback``)."""
        a = ChainMap({}, a)  # derived values go on top; the example itself is never modified
        for d in self.derived:
            source = getattr(impl, d.function, None) if impl is not None else None
            source = source or getattr(fallback, d.function)
            a[d.name] = source(*[a[k] for k in d.args])
        pos = [a[k] for k in self.positional]
        kw = {k: a[k] for k in self.keyword}
        kw.update({k: a[k] for k, default in self.optional if k in a and a[k] != default})
        f = fn(*[a[k] for k in self.factory]) if self.factory else fn
        return f(pos, **kw) if self.packed else f(*pos, **kw)

    def text(self, name: str, a: Example, fn: str | None = None, arg: str = "a") -> str:
        """The call as Python source over the dict named ``arg`` (derived functions by their bare name)."""
        def ref(k: str) -> str:
            for d in self.derived:
                if d.name == k:
                    return f"{d.function}({', '.join(ref(x) for x in d.args)})"
            return f"{arg}[{k!r}]"

        pos = [ref(k) for k in self.positional]
        kw = [f"{k}={ref(k)}" for k in self.keyword]
        kw += [f"{k}={a[k]!r}" for k, default in self.optional if k in a and a[k] != default]
        head = fn or f"impl.{name}"
        if self.factory:
            head += f"({', '.join(ref(k) for k in self.factory)})"
        inner = f"[{', '.join(pos)}]" if self.packed else ", ".join(pos)
        return f"{head}({', '.join(x for x in (inner, *kw) if x)})"

    def signature(self, name: str) -> str:
        """The call with argument names, for people: ``rpn_loss_cls(num_anchors)(y_true, y_pred)``."""
        pos = list(self.positional)
        kw = [f"{k}=..." for k in self.keyword] + [f"{k}={d!r}" for k, d in self.optional]
        head = name + (f"({', '.join(self.factory)})" if self.factory else "")
        inner = f"[{', '.join(pos)}]" if self.packed else ", ".join(pos)
        return f"{head}({', '.join(x for x in (inner, *kw) if x)})"


@dataclass(frozen=True)
class BadCase:
    """One bad input: an id, the argument that is wrong, a maker for the example, and the divergence id it exercises.

    A conforming implementation raises (any exception) or returns NaN; a silent finite value fails.  A
    ``broadcast`` case names arguments whose shapes differ but broadcast: raising or NaN conforms, and so does a
    finite value equal to the oracle's on those arguments broadcast to their common shape first (any other value
    fails: the contract's broadcasting rule).
    """

    id: str
    arg: str
    make: Callable[[], Example]
    spec: str | None = None
    broadcast: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tag:
    """A hazard or divergence a regression fixture set must cover: a tag and a test on a rounded example."""

    tag: str
    description: str
    holds: Callable[[Any, Example, str], bool]


@dataclass(frozen=True)
class Domain:
    """Where users live: a description and a test on an example ("boxes with positive extents").

    A failure whose smallest example lies outside it is searched again inside it (the user may wave the first off).
    """

    description: str
    holds: Callable[[Example], bool]


@dataclass(frozen=True)
class TimingCase:
    """One size of one timed name: a label and a deterministic builder (float64 NumPy, as the strategies)."""

    size: str
    build: Callable[[np.random.Generator], Example]


@dataclass(frozen=True)
class Contract:
    """Everything the generic machinery needs to know about one contract name."""

    name: str
    family: str
    call: Call
    strategy: Callable[[], st.SearchStrategy[Example]]
    float_args: tuple[str, ...]
    grad_args: tuple[str, ...]
    tolerance: Tolerance
    adversarial: Callable[[str], st.SearchStrategy[Example]]
    summary: str  # the formula in one line, for the contract page
    shapes: str  # argument shapes and dtypes, for the contract page
    int_args: tuple[str, ...] = ()
    n_outputs: int = 1
    to_oracle: Callable[[Example], Example] | None = None
    oracle_wrt: Callable[[str], str] | None = None
    conventions: bool = False
    constants_dtype: bool = False
    divergences: tuple[str, ...] = ()
    notes: str = ""
    pinned: Callable[[], list[Example]] = lambda: []
    stability_cases: Callable[[str], list[Example]] = lambda dtype: []
    bad_inputs: tuple[BadCase, ...] = ()
    tags: tuple[Tag, ...] = ()
    timing: Callable[[Any], list[TimingCase]] | None = None
    # numerics hooks (None: not applicable)
    near_kinks: Callable[[Example, str, str], Any] | None = None
    margin: Callable[[Example], float] | None = None  # distance of a thresholded quantity to its threshold
    in_range: Callable[[Example, str], bool] | None = None  # the formula's named intermediates fit the dtype
    normaliser: Callable[[Example], float] | None = None  # the loss's sum before normalising is L times this
    intermediates: Callable[[Example, str], tuple[Any, str] | None] | None = None  # rounded-intermediate value
    lenient: bool = False  # out-of-range intermediates may change finite outputs (thresholds)
    undefined_id: str = "UNDEFINED"  # hazard id for 0/0 exact values
    literal: Literal | None = None  # the documents' formula evaluated in the dtype under test (third reference)
    output_range: tuple[float, float] | None = None  # the output's whole range, where it is bounded
    derived_fallback: str | None = None  # module providing derived functions when the impl lacks them
    realistic: Domain | None = None  # the inputs users meet; a degenerate failure is also searched for there
    cost: float = 1.0  # a check's relative duration (TensorFlow calls per example), to order tests under pytest-xdist
    extra: dict[str, Any] = field(default_factory=dict)
    entry: Entry | None = None  # the contract page's full entry (formula, symbols, constants, output, ...)

    @property
    def oracle(self) -> oracle.OracleSpec:
        return oracle.spec(self.name)

    def _oracle_args(self, ex: Example) -> Example:
        return self.to_oracle(ex) if self.to_oracle else dict(ex)

    def _wrt(self, wrt: str) -> str:
        return self.oracle_wrt(wrt) if self.oracle_wrt else wrt

    def oracle_keywords(self, dtype: str) -> dict[str, dict[str, Any]]:
        """Oracle keyword sets an implementation may match, keyed by clipping convention ("spec" if none).

        With clip constants (``constants_dtype``), float16 and bfloat16 have a second set each: the constants in
        float32, as an implementation computing in float32 and casting the result back has them (Keras mixed
        precision); its keys end in ``@float32``.
        """
        bases = {"": {"constants_dtype": dtype}} if self.constants_dtype else {"": {}}
        if self.constants_dtype and dtype in ("float16", "bfloat16"):
            bases["@float32"] = {"constants_dtype": "float32"}
        if self.conventions:
            return {c + k: dict(b, convention=c) for k, b in bases.items() for c in oracle.CONVENTIONS}
        return {"spec" + k: b for k, b in bases.items()}

    def expected(self, ex: Example, **extra: Any) -> Any:
        with timed("oracle"):
            return oracle.evaluate(self.name, **self._oracle_args(ex), **extra)

    def expected_vjp(self, ex: Example, cot: Any, wrt: str, **extra: Any) -> Any:
        with timed("oracle"):
            return oracle.vjp(self.name, cot, self._wrt(wrt), **self._oracle_args(ex), **extra)

    def kinks(self, ex: Example, wrt: str, **extra: Any) -> Any:
        with timed("oracle"):
            return oracle.kinks(self.name, self._wrt(wrt), **self._oracle_args(ex), **extra)

    def with_near_kinks(self, kinks: Any, ex: Example, wrt: str, dtype: str) -> tuple[Any, ...]:
        """``kinks`` (one mask per gradient piece; None for none) plus the elements within rounding distance of a kink
        in ``dtype`` (``near_kinks``): where the dtype may see a tie, any one-sided derivative is accepted."""
        kinks = as_tuple(kinks)
        if self.near_kinks is None:
            return kinks
        near = as_tuple(self.near_kinks(ex, wrt, dtype))
        return tuple(np.asarray(n) if k is None else np.asarray(k) | np.asarray(n)
                     for k, n in zip(kinks, near, strict=True))

    def invoke(self, fn: Callable, args: Example, impl: Any = None, fallback: Any = None) -> Any:
        """Call the implementation's function for this contract on ``args`` (see :class:`Call`)."""
        return self.call.invoke(fn, args, impl, fallback)

    def signature(self) -> str:
        return self.call.signature(self.name)
