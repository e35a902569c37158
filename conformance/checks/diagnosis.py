"""Explain a failure: the common mistakes (:mod:`conformance.mistakes`) that reproduce it.

Every mistake that applies to the contract name is evaluated on the failing example; those whose
output (and, for a gradient failure, whose vector-Jacobian product) match the implementation's
within the check's tolerance, with NaN exactly where the implementation has NaN, are candidates.
A wrong constant is fitted first (a 1-D search over its range), and accepted only at a value
with at most three significant digits, clearly different from the contract's (for a scalar output,
with a tolerance well inside the step between such values: one number fits some round constant
whenever the tolerance is wide).  Candidates must also match on other examples (the failing one's
first image, its batch doubled) where the check can run the implementation again; candidates of
one kind are named together, and if several kinds remain, nothing is said.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.contracts import Contract
from conformance.mistakes import Mistake, for_name
from conformance.numerics.compare import compare
from conformance.numerics.outputs import as_tuple

Probe = Callable[[dict], Any]
_ERRORS = (ValueError, TypeError, KeyError, IndexError, ZeroDivisionError, FloatingPointError, OverflowError)
_FD_MAX = 1024  # numerically differentiated arguments larger than this are not diagnosed


@dataclass(frozen=True)
class Match:
    """A mistake that reproduces the failure, with its fitted constant and the oracle keywords it used."""

    mistake: Mistake
    c: float | None
    keywords: dict

    def text(self) -> str:
        m, k = self.mistake, self.mistake.constant
        conv = f" (convention {self.keywords['convention']})" if "convention" in self.keywords else ""
        if k is not None and self.c is not None:
            return f"{k.symbol} = {_fmt(self.c)} (the contract has {_fmt(k.contract)}){conv}"
        return f"{m.id}{': ' + m.explain if m.explain else ''}{conv}"


def _fmt(c: float) -> str:
    return f"{c:.4g}"


def oracle_args(contract: Contract, ex: dict) -> dict:
    return contract.to_oracle(ex) if contract.to_oracle else dict(ex)


def _flat(x: Any) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(v, dtype=np.float64)) for v in as_tuple(x)])


def _value_misfit(contract: Contract, ex: dict, actual: Any, candidate: Any, dtype: str) -> float:
    """max |actual − candidate| / tolerance over the elements (inf on another shape or NaN pattern; ≤ 1: a match)."""
    a, e = as_tuple(actual), as_tuple(candidate)
    if len(a) != len(e) or any(np.shape(x) != np.shape(y) for x, y in zip(a, e, strict=True)):
        return math.inf
    a, e = _flat(actual), _flat(candidate)
    if not np.array_equal(np.isnan(a), np.isnan(e)):
        return math.inf
    single = as_tuple(candidate)
    t = contract.tolerance.for_value(ex, np.asarray(single[0], dtype=np.float64) if len(single) == 1 else e, dtype)
    t = np.ravel(np.broadcast_to(t, np.shape(single[0]) if len(single) == 1 else e.shape))
    with np.errstate(invalid="ignore", over="ignore"):
        same = (a == e) | np.isnan(e)
        r = np.where(same, 0.0, np.abs(a - e) / np.maximum(t, np.finfo(np.float64).tiny))
    return float(np.max(r, initial=0.0)) if not np.isnan(r).any() else math.inf


def _evaluate(contract: Contract, m: Mistake, ex: dict, c: float | None, kw: dict) -> Any:
    args = oracle_args(contract, ex)
    extra = {"frozen": args} if m.frozen else {}
    return m.value(contract.name, args, c, kw, **extra)


def _fit(contract: Contract, m: Mistake, ex: dict, actual: Any, dtype: str, kw: dict) -> float | None:
    """The constant, rounded to the fewest significant digits (≤ 3) that still match; None without one."""
    k = m.constant

    def misfit(c: float) -> float:
        try:
            with np.errstate(all="ignore"):
                return _value_misfit(contract, ex, actual, _evaluate(contract, m, ex, c, kw), dtype)
        except _ERRORS:
            return math.inf

    lo, hi = (math.log10(k.lo), math.log10(k.hi)) if k.log else (k.lo, k.hi)
    to_c = (lambda u: 10.0 ** u) if k.log else (lambda u: u)
    grid = np.linspace(lo, hi, 61)
    scores = [misfit(to_c(u)) for u in grid]
    i = int(np.argmin(scores))
    if not math.isfinite(scores[i]):
        return None
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    g = (math.sqrt(5) - 1) / 2
    for _ in range(40):  # golden section on the bracket around the best grid point (0.618^40: 1e-8 of it)
        x1, x2 = b - g * (b - a), a + g * (b - a)
        if misfit(to_c(x1)) <= misfit(to_c(x2)):
            b = x2
        else:
            a = x1
    best = to_c((a + b) / 2)
    scalar = _flat(actual).size == 1  # one number fits any constant of a 1-D family: ask for a rounder one
    for digits in (1,) if scalar else (1, 2):
        c = float(f"{best:.{digits - 1}e}")
        if misfit(c) <= 1.0:
            step = (lambda x, s: x * 10.0 ** s) if k.log else (lambda x, s: x + s * (k.hi - k.lo) / 60)
            identified = misfit(step(c, 1)) > 1.0 and misfit(step(c, -1)) > 1.0  # not any small (or large) value
            if scalar:  # one number fits some round constant whenever the tolerance is wide: a match is evidence
                # only where c ± a quarter of the step to the next one-digit value would not match
                quarter = 0.25 * 10.0 ** math.floor(math.log10(abs(c))) if c else 0.0
                identified = identified and misfit(c + quarter) > 1.0 and misfit(c - quarter) > 1.0
            clearly = abs(c - k.contract) > 1e-3 * max(abs(k.contract), 1e-300) and misfit(k.contract) > 1.0
            return c if identified and clearly else None
    return None


def _pairs(contract: Contract) -> list[Mistake]:
    """Pairs of the oracle's own variants, tried where no single mistake matches."""
    own = [m for m in for_name(contract.name) if m.vjp is not None and m.constant is None
           and m.id in contract.oracle.variants]
    out = []
    for a, b in itertools.combinations(own, 2):
        ids = (a.id, b.id)

        def value(name, args, c, kw, ids=ids):
            import oracle
            return oracle.evaluate(name, variants=ids, **args, **kw)

        def vjp(name, cot, wrt, args, c, kw, ids=ids):
            import oracle
            return oracle.vjp(name, cot, wrt, variants=ids, **args, **kw)

        kind = a.kind if a.kind == b.kind else f"{a.kind}+{b.kind}"
        out.append(Mistake(f"{a.id} + {b.id}", "", (contract.name,), kind,
                           value, vjp))
    return out


def _value_matches(contract: Contract, ex: dict, actual: Any, dtype: str, mistakes: list[Mistake],
                   every_convention: bool = False) -> list[Match]:
    """Mistakes whose value matches ``actual``: under the first convention that does, or under each."""
    found = []
    for m in mistakes:
        for kw in contract.oracle_keywords(dtype).values():
            try:
                c = _fit(contract, m, ex, actual, dtype, kw) if m.constant else None
                if m.constant and c is None:
                    continue
                with np.errstate(all="ignore"):
                    out = _evaluate(contract, m, ex, c, kw)
            except _ERRORS:
                continue
            if _value_misfit(contract, ex, actual, out, dtype) <= 1.0 and (_evidence(actual, out) or m.witness):
                found.append(Match(m, c, kw))
                if not every_convention:
                    break
    return found


def _evidence(actual: Any, out: Any) -> bool:
    """Some element is not NaN in both: NaN matching NaN alone says nothing about the cause."""
    a, e = _flat(actual), _flat(out)
    return bool(np.any(~(np.isnan(a) & np.isnan(e))))


def _batched(contract: Contract, ex: dict) -> list[str]:
    """The array arguments that share a leading (batch) axis, or none where they do not all share one."""
    keys = [k for k in (*contract.float_args, *contract.int_args) if np.ndim(ex.get(k)) >= 1]
    return keys if keys and len({np.shape(ex[k])[0] for k in keys}) == 1 else []


def doubled(contract: Contract, ex: dict) -> dict | None:
    """The example with its batch doubled (each array argument stacked twice on axis 0), where all share axis 0."""
    keys = _batched(contract, ex)
    return {**ex, **{k: np.concatenate([np.asarray(ex[k])] * 2, axis=0) for k in keys}} if keys else None


def first_image(contract: Contract, ex: dict) -> dict | None:
    """The example's first image alone (each array argument cut to [:1] on axis 0), where the batch has several."""
    keys = _batched(contract, ex)
    if not keys or np.shape(ex[keys[0]])[0] < 2:
        return None
    return {**ex, **{k: np.asarray(ex[k])[:1] for k in keys}}


def _witnessed(contract: Contract, found: list[Match], dtype: str, probe: Probe | None, ex: dict) -> list[Match]:
    """Keep a mistake with a witness (an example on which it shows clearly) only where the implementation matches it
    there too; without a probe, such a mistake is not named."""
    kept = []
    for f in found:
        if f.mistake.witness is None:
            kept.append(f)
            continue
        if probe is None:
            continue
        ex2 = f.mistake.witness(ex)
        try:
            actual2 = probe(ex2)
            with np.errstate(all="ignore"):
                out = _evaluate(contract, f.mistake, ex2, f.c, f.keywords)
        except Exception:  # noqa: BLE001 (the implementation or the variant fails there: no witness)
            continue
        if _value_misfit(contract, ex2, actual2, out, dtype) <= 1.0:
            kept.append(f)
    return kept


def _resolve(contract: Contract, found: list[Match], dtype: str, probe: Probe | None, ex: dict) -> list[Match]:
    """Keep the candidates that also match the implementation's values on other examples (first image, doubled
    batch): several are narrowed, and a single one is confirmed (one example can fit a wrong cause, e.g. a fitted
    constant absorbing an accumulation error)."""
    found = _witnessed(contract, found, dtype, probe, ex)
    for other in (first_image, doubled):
        ex2 = other(contract, ex) if found and probe is not None else None
        if ex2 is None:
            continue
        try:
            actual2 = probe(ex2)
        except Exception:  # noqa: BLE001 (the implementation fails on the other example: no narrowing)
            continue
        kept = []
        for f in found:
            try:
                with np.errstate(all="ignore"):
                    out = _evaluate(contract, f.mistake, ex2, f.c, f.keywords)
            except _ERRORS:  # the mistake cannot show there (one image): no evidence against a single candidate
                if len(found) == 1:
                    kept.append(f)
                continue
            if _value_misfit(contract, ex2, actual2, out, dtype) <= 1.0:
                kept.append(f)
        found = kept
    return found


def _say(contract: Contract, found: list[Match], what: str) -> str | None:
    if not found or len({f.mistake.kind for f in found}) != 1:
        return None
    texts = list(dict.fromkeys(f.text() for f in sorted(found, key=lambda f: f.c is not None)))
    return f"{what} matches {'; or '.join(texts)}"


def _vague(contract: Contract, ex: dict, actual: Any, m: Match, dtype: str) -> bool:
    """One output number within the tolerance of 0 (at the mistake's value): 0 fits it as well as the mistake
    does, so does any mistake whose value is that small, and the match is no evidence."""
    a = _flat(actual)
    if a.size != 1 or not np.isfinite(a).all():
        return False
    with np.errstate(all="ignore"):
        out = _evaluate(contract, m.mistake, ex, m.c, m.keywords)
    t = np.ravel(contract.tolerance.for_value(ex, np.asarray(as_tuple(out)[0], dtype=np.float64), dtype))
    return bool(abs(a[0]) <= t[0])


def explain_value(contract: Contract, ex: dict, actual: Any, dtype: str, probe: Probe | None = None) -> str | None:
    """The common mistake(s) whose output matches ``actual`` on ``ex``, as one line; None if none or ambiguous."""
    mistakes = list(for_name(contract.name))
    found = _value_matches(contract, ex, actual, dtype, mistakes)
    if not found:
        found = _value_matches(contract, ex, actual, dtype, _pairs(contract))
    if any(_vague(contract, ex, actual, f, dtype) for f in found):
        return None
    return _say(contract, _resolve(contract, found, dtype, probe, ex), contract.name)


def _fd_vjp(contract: Contract, m: Mistake, ex: dict, cot: Any, wrt: str, c: float | None,
            kw: dict) -> tuple[np.ndarray, np.ndarray]:
    """⟨cot, f⟩'s gradient wrt ``wrt`` by central differences in float64 (frozen inputs held at ``ex``), and an
    estimate of the differences' own error, added to a match's tolerance: |D(h) − D(2h)| (three times the
    truncation error of D(h), an O(h²) term) plus 16 float64 roundings of each term of φ over 2h (about
    10⁻⁹·Σ|terms|: far above a half-precision gradient's tolerance where every operand is exact)."""
    x = np.asarray(ex[wrt], dtype=np.float64)
    if x.size > _FD_MAX:
        raise ValueError("too large to differentiate numerically")
    frozen = oracle_args(contract, ex)
    cf = _flat(cot)

    def phi(xv: np.ndarray) -> tuple[float, float]:
        args = oracle_args(contract, {**ex, wrt: xv.reshape(x.shape)})
        extra = {"frozen": frozen} if m.frozen else {}
        with np.errstate(all="ignore"):
            terms = cf * _flat(m.value(contract.name, args, c, kw, **extra))
        return float(np.sum(terms)), float(np.sum(np.abs(terms)))

    flat = x.ravel()
    g, err = np.zeros(x.size), np.zeros(x.size)
    for i in range(flat.size):
        h = 1e-6 * max(1.0, abs(flat[i]))
        diffs, size = [], 0.0
        for step in (h, 2 * h):
            up, down = flat.copy(), flat.copy()
            up[i] += step
            down[i] -= step
            (p_up, a_up), (p_down, a_down) = phi(up), phi(down)
            diffs.append((p_up - p_down) / (2 * step))
            size = max(size, a_up + a_down)
        g[i] = diffs[0]
        err[i] = abs(diffs[0] - diffs[1]) + 8 * 2.0**-53 * size / h
    return g.reshape(x.shape), err.reshape(x.shape)


def _grad_ok(contract: Contract, m: Match, ex: dict, grads: dict, cot: Any, dtype: str,
             floor: Callable[..., float]) -> bool:
    mk, kw = m.mistake, m.keywords
    base = {k: v for k, v in kw.items() if k != "variants"}
    for k in contract.grad_args:
        got = grads[k]
        if isinstance(got, list):
            return False
        wrt = contract.oracle_wrt(k) if contract.oracle_wrt else k
        fd_err = 0.0
        if mk.vjp is not None:
            want = mk.vjp(contract.name, cot, wrt, oracle_args(contract, ex), m.c, kw)
        else:
            want, fd_err = _fd_vjp(contract, mk, ex, cot, k, m.c, kw)
        kinks = contract.with_near_kinks(contract.kinks(ex, k, **base), ex, k, dtype)[0]
        tol = np.maximum(contract.tolerance.for_grad(ex, k, np.asarray(want), cot, dtype),
                         floor(contract, ex, k, cot, dtype, base)) + fd_err
        g, w = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
        if g.shape != w.shape or np.isnan(w).all():
            return False
        if not compare(g, w, tol, dtype, "gradient", skip=kinks).ok:
            return False
    return True


def explain_gradient(contract: Contract, ex: dict, grads: dict, cot: Any, dtype: str, value: Any,
                     floor: Callable[..., float], probe: Probe | None = None) -> str | None:
    """The common mistake(s) whose value matches ``value`` and whose VJP matches ``grads``; None if none or
    ambiguous.  ``floor(contract, ex, wrt, cot, dtype, keywords)`` is the gradient check's normwise floor;
    ``probe`` (the implementation's value on another example) narrows several candidates by their values."""
    name = f"gradient of {contract.name}"
    for mistakes in (list(for_name(contract.name)), _pairs(contract)):
        found: list[Match] = []
        for m in _value_matches(contract, ex, value, dtype, mistakes, every_convention=True):
            try:
                if m.mistake not in [f.mistake for f in found] and _grad_ok(contract, m, ex, grads, cot, dtype, floor):
                    found.append(m)
            except _ERRORS:
                continue
        if found:
            return _say(contract, _resolve(contract, found, dtype, probe, ex), name)
    return None
