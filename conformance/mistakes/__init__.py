"""A catalogue of common mistakes: each an oracle variant (float64 NumPy) with an id, one line and its names.

A failure is explained by evaluating the applicable variants on the failing example
(:mod:`conformance.checks.diagnosis`): a variant that reproduces the implementation's output
(and gradient) within the tolerance is named.  Mistakes come in kinds; two variants of one
kind that both match are reported together, variants of different kinds that both match
are not reported at all (a diagnosis is a claim).

A :class:`Mistake` with a :class:`Constant` is a wrong constant: the constant is fitted from
the failing example and stated ("ε = 1 (the contract has 0.0001)").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import oracle

Args = dict[str, Any]

KINDS = ("constant", "normaliser", "reduction", "swap", "clamp", "guard", "stop-gradient", "sigmoid-twice", "naive",
         "grid", "stride", "weights", "formula")


@dataclass(frozen=True)
class Constant:
    """A constant of the contract a mistake gets wrong: its symbol, the contract's value and the fit's range."""

    symbol: str
    contract: float
    lo: float
    hi: float
    log: bool = True  # search on a log scale (a positive constant spanning decades)


@dataclass(frozen=True)
class Mistake:
    """One common mistake: ``value(name, args, c, keywords)`` is the mistaken output on oracle arguments.

    ``vjp(name, cot, wrt, args, c, keywords)`` is its vector-Jacobian product where it has an exact one;
    without it the diagnosis differentiates ``value`` numerically (with ``args`` also passed as
    ``frozen``: the inputs whose gradient a stop-gradient mistake drops).  ``c`` is the fitted
    constant of a :class:`Constant` mistake, else None.
    """

    id: str
    explain: str
    names: tuple[str, ...]
    kind: str
    value: Callable[..., Any]
    vjp: Callable[..., Any] | None = None
    constant: Constant | None = None
    frozen: bool = False  # value takes frozen=...: the arguments held constant under differentiation
    witness: Callable[[Args], Args] | None = None  # the failing example changed so that the mistake shows clearly


def for_name(name: str) -> tuple[Mistake, ...]:
    """The mistakes that apply to contract ``name`` (catalogue entries and the oracle's own variants)."""
    from conformance.mistakes.catalogue import CATALOGUE

    own = tuple(m for m in CATALOGUE if name in m.names)
    try:
        variants = oracle.spec(name).variants
    except ValueError:
        return own
    return own + tuple(_oracle_variant(v, name) for v in variants)


# The oracle's named variants (documents' divergences and common mistakes) and their kinds.
ORACLE_KINDS = {"EPS-ONCE": "normaliser", "EPS-PER-ELEMENT": "normaliser", "MEAN-NOT-SUM": "normaliser",
                "FRCNN-NORM-AXIS": "normaliser", "FRCNN-SWAPPED-BCE": "swap", "CLS-ALL-BATCH": "reduction",
                "MEAN-NOT-BATCH-SUM": "reduction", "FOCAL-STOP-GRADIENT": "stop-gradient",
                "CIOU-ALPHA-GRAD": "stop-gradient", "CCE-UNNORMALISED": "normaliser",
                "TF-WCE-GRAD-AT-ZERO": "formula"}


def _oracle_variant(variant: str, name: str) -> Mistake:
    def value(name: str, args: Args, c: Any, kw: dict) -> Any:
        return oracle.evaluate(name, variants=(variant,), **args, **kw)

    def vjp(name: str, cot: Any, wrt: str, args: Args, c: Any, kw: dict) -> Any:
        return oracle.vjp(name, cot, wrt, variants=(variant,), **args, **kw)

    return Mistake(variant, "", (name,), ORACLE_KINDS.get(variant, "formula"), value,
                   vjp)
