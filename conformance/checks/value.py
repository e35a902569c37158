"""Generic checks over the registry: value and gradient against the oracle.

Each ``check_*`` function judges one example and raises :class:`ConformanceFailure`
(an ``AssertionError``, so Hypothesis shrinks it) with a numpy.testing-style
message, the inputs, and a reproduction snippet attached as exception notes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from conformance.checks import diagnosis
from conformance.checks.failure import ConformanceFailure, call, check_outputs, fail, same_outputs
from conformance.contracts import Contract
from conformance.contracts.tags import large
from conformance.numerics import arithmetic
from conformance.numerics.compare import Comparison, compare
from conformance.numerics.dtypes import info
from conformance.numerics.literal import verdicts
from conformance.numerics.outputs import as_tuple, flat, magnitude
from conformance.numerics.tolerance import max_ignoring_nan
from conformance.reporting.results import Recorder
from conformance.runners.active import Runner, cot_tensor, cotangent, prepare


def count_literal(rec: Recorder, actual: np.ndarray, exact: np.ndarray, tol: np.ndarray,
                  literal: np.ndarray | None) -> np.ndarray | None:
    """Credit elements better than the literal formula (``extra["better_than_literal"]``); where it is bad."""
    if literal is None:
        return None
    with np.errstate(invalid="ignore"):
        ok = (actual == exact) | ((np.abs(actual - exact) <= tol) & np.isfinite(actual))
    bad, _, good = verdicts(actual, exact, literal, tol, ok)
    if good.any():
        extra = rec.result.extra
        extra["better_than_literal"] = extra.get("better_than_literal", 0) + int(good.sum())
    return bad


def count_loose_tolerance(contract: Contract, rec: Recorder, tol: Any, expected: Any = None,
                          dtype: str | None = None) -> None:
    """Count an example whose tolerance says little (docs/tolerances.md): ``finiteness_only`` where it exceeds the
    output's whole range at every compared element (``wide``: the number of such elements, where only some are);
    else, given ``expected`` and ``dtype``, ``coarse`` where it is at least |exact value| at every element above the
    absolute floor (0 and twice the value pass)."""
    extra = rec.result.extra
    t = np.asarray(tol, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        if contract.output_range is not None:
            lo, hi = contract.output_range
            wide, compared = t > hi - lo, np.ones(np.shape(t), dtype=bool)
            if expected is not None:  # an undefined exact value (NaN) is not compared at all
                e = flat(expected)
                compared = ~np.isnan(e)
                wide = np.broadcast_to(wide.reshape(-1) if wide.size == e.size else wide, e.shape) & compared
            if np.any(wide) and np.all(wide[np.broadcast_to(compared, wide.shape)]):
                extra["finiteness_only"] = extra.get("finiteness_only", 0) + 1
                return
            if np.any(wide):
                extra["wide"] = extra.get("wide", 0) + int(np.sum(wide))
        if expected is None or dtype is None:
            return
        e = np.abs(flat(expected))
        t = np.broadcast_to(t.reshape(-1) if t.size == e.size else t, e.shape)
        sel = np.isfinite(e) & (e > contract.tolerance.atol(dtype))
        if sel.any() and np.all(t[sel] >= e[sel]):
            extra["coarse"] = extra.get("coarse", 0) + 1


def _literal_check(contract: Contract, ex: dict, actual: Any, expected: Any, dtype: str,
                   rec: Recorder) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(literal bad, mismatches no worse than the literal formula, mismatches) per flat output element, with
    credit for elements better than it and the finiteness-only count recorded; None without a literal formula."""
    e = flat(expected)
    tol = _flat_tolerance(contract, ex, expected, dtype)
    count_loose_tolerance(contract, rec, tol, expected, dtype)
    if contract.literal is None:
        return None
    a, lit = flat(actual), flat(contract.literal(ex, dtype))
    bad = count_literal(rec, a, e, tol, lit)
    with np.errstate(invalid="ignore"):
        ok = np.isnan(e) | (a == e) | ((np.abs(a - e) <= tol) & np.isfinite(a))
    _, same, _ = verdicts(a, e, lit, tol, ok)
    return bad, same, ~ok


def _flat_tolerance(contract: Contract, ex: dict, expected: Any, dtype: str) -> np.ndarray:
    """The value tolerance per flat output element (a single output keeps its shape for the tolerance's scale)."""
    exps = as_tuple(expected)
    e = np.asarray(exps[0], dtype=np.float64) if len(exps) == 1 else flat(expected)
    with np.errstate(all="ignore"):
        return np.ravel(np.broadcast_to(contract.tolerance.for_value(ex, e, dtype), e.shape))


def _hazard(rec: Recorder, hazard_id: str, n: int, where: str) -> None:
    """Record a value- or gradient-category hazard (the literal-formula rule): status "hazard", not a failure."""
    r = rec.result
    if r.status == "passed":
        r.status = "hazard"
    counts = r.extra.setdefault("hazards", {})
    counts[hazard_id] = counts.get(hazard_id, 0) + n
    if hazard_id not in (r.message or ""):
        r.message = (r.message + "\n" if r.message else "hazards:\n") + f"  {hazard_id}: e.g. {where}"


def _compare_outputs(contract: Contract, ex: dict, actual: Any, expected: Any, dtype: str) -> Comparison:
    acts, exps = as_tuple(actual), as_tuple(expected)
    if len(acts) != len(exps):
        raise ConformanceFailure(f"{contract.name}: returned {len(acts)} output(s), the contract has {len(exps)}")
    a = np.concatenate([np.ravel(x) for x in acts]) if len(acts) > 1 else np.asarray(acts[0])
    e = np.concatenate([np.ravel(x) for x in exps]) if len(exps) > 1 else np.asarray(exps[0])
    t = contract.tolerance.for_value(ex, e, dtype)
    return compare(a, e, t, dtype, f"value of {contract.name}")  # a wrong shape: not ok (check_outputs said it first)


def worst_case_note(passes: Callable[[], bool], dtype: str) -> str:
    """The line a failure gets when the worst-case accumulation model (``--accumulate=dtype``) would pass it."""
    if arithmetic.current(dtype).accumulator == "dtype":
        return ""
    with arithmetic.assuming_worst_case(dtype):
        if not passes():
            return ""
    return (f"\nNote: this passes if sums are charged as accumulated sequentially in {dtype}; if the implementation "
            f"accumulates in {dtype} on purpose (cumsum, a loop of adds), run with --accumulate=dtype")


def hedged(explain: Callable[[], str | None], note: str, dtype: str) -> Callable[[], str | None]:
    """A failure with the worst-case note has a second explanation, a sum accumulated in the dtype on purpose: its
    diagnosis says so (the mistake fits, but that implementation could have produced the value too)."""
    if not note:
        return explain

    def conditional() -> str | None:
        text = explain()
        return text and f"{text}, unless the implementation accumulates in {dtype} on purpose (see the note)"
    return conditional


def diagnose(contract: Contract, ex: dict, actual: Any, dtype: str, probe: Any = None) -> str | None:
    """Name the common mistake(s) an output matches, if any (never a pass): :mod:`conformance.checks.diagnosis`."""
    return diagnosis.explain_value(contract, ex, actual, dtype, probe)


def diagnose_naive(contract: Contract, ex: dict, actual: Any, expected: Any, dtype: str) -> str | None:
    """Name SCE-NAIVE at large logits, for a record listing SCE-NAIVE: inf/NaN where the exact value is finite, or
    (an elementwise loss) every failing element within the naive form's rounding error.

    The naive cross-entropy ``−z·log σ(x) − (1−z)·log(1−σ(x))`` (or ``−Σ y·log softmax(x)``) overflows or
    takes log(0) once σ(x) or a softmax entry rounds to 0 or 1; before that, σ's rounding error u (the
    dtype's unit roundoff) becomes a relative error of about u·(1 + e^|x|) in 1 − σ(x) or σ(x), and so an
    absolute error of that size in the loss.  "Large" is the record's SCE-NAIVE fixture tag where it has
    one, else |logits| ≥ 20 as that tag says.
    """
    if "SCE-NAIVE" not in contract.divergences or "logits" not in ex:
        return None
    tag = next((t for t in contract.tags if t.tag == "SCE-NAIVE"), _NAIVE_LOGITS)
    a = np.concatenate([np.ravel(np.asarray(x, dtype=np.float64)) for x in as_tuple(actual)])
    e = np.concatenate([np.ravel(np.asarray(x, dtype=np.float64)) for x in as_tuple(expected)])
    if a.shape != e.shape or not tag.holds(contract, ex, dtype):
        return None
    if np.any(~np.isfinite(a) & np.isfinite(e)):
        return f"{contract.name} matches SCE-NAIVE (inf/NaN where the exact value is finite, at large |logits|)"
    x = np.ravel(np.asarray(ex["logits"], dtype=np.float64))
    if x.shape != e.shape or "labels" not in ex:
        return None
    z = np.ravel(np.broadcast_to(np.asarray(ex["labels"], dtype=np.float64), np.shape(ex["logits"])))
    try:
        tol = _flat_tolerance(contract, ex, expected, dtype)
    except ValueError:  # a selection of the output's elements (the stability tier): no element-wise bound
        return None
    with np.errstate(all="ignore"):
        err = np.abs(a - e)
        bad = ~(err <= tol) & np.isfinite(e)
        # log σ(x) carries u·(1 + e^−x) (weight z), log(1 − σ(x)) carries u·(1 + e^x) (weight 1 − z)
        amp = np.abs(z) * (1.0 + np.exp(np.minimum(-x, 700.0))) + np.abs(1 - z) * (1.0 + np.exp(np.minimum(x, 700.0)))
        u = info(dtype).unit_roundoff
        bound = 4.0 * u * amp + tol
        amplified = err > 4.0 * u + tol  # beyond an unamplified absolute error (log1p's, lost small losses)
        small = u * amp <= 1e-3  # where the naive form errs by at most ~0.4%: a larger error is another mistake
    if bad.any() and np.all(((err <= bound) & small)[bad]) and np.any(amplified[bad]):
        return (f"{contract.name} matches SCE-NAIVE (errors the size of σ's rounding error amplified by the naive "
                "form, at large |logits|)")
    return None


_NAIVE_LOGITS = large("logits", 20.0, "SCE-NAIVE", "|logits| >= 20: the naive form overflows or cancels")


def _conv_note(extra: dict) -> str:
    return f" (convention {extra['convention']})" if "convention" in extra else ""


def _grad_comparisons(contract: Contract, ex: dict, grads: dict, cot: Any, dtype: str,
                      extra: dict) -> tuple[list[Comparison], dict]:
    """Compare every differentiable argument's gradient with the oracle's VJP under ``extra`` oracle keywords."""
    comparisons, wanted = [], {}
    for k in contract.grad_args:
        got = grads[k]
        want = wanted[k] = contract.expected_vjp(ex, cot, k, **extra)
        exact_kinks = contract.kinks(ex, k, **{kw: v for kw, v in extra.items() if kw != "variants"})
        kinks = contract.with_near_kinks(exact_kinks, ex, k, dtype)
        for i, (g, w, kk) in enumerate(zip(as_tuple(got), as_tuple(want), kinks, strict=True)):
            tol = np.maximum(contract.tolerance.for_grad(ex, k, np.asarray(w), cot, dtype, i),
                             grad_floor(contract, ex, k, cot, dtype, extra))
            label = f"gradient of {contract.name} wrt {k}" + (f"[{i}]" if isinstance(got, list) else "")
            comparisons.append(normwise_sharpness(compare(g, w, tol, dtype, label, skip=kk), w, tol))
    return comparisons, wanted


def normwise_sharpness(c: Comparison, want: Any, tol: Any) -> Comparison:
    """``c`` with its sharpness measured normwise, as gradients are judged: the median of tolerance over
    |g| + max |g| (elementwise, a gradient that is 0 beside a large one would read as infinitely loose)."""
    w = np.abs(np.asarray(want, dtype=np.float64))
    if not w.size:
        return c
    ref = w + max_ignoring_nan(w)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.broadcast_to(np.asarray(tol, dtype=np.float64), w.shape) / ref
    r = r[np.isfinite(r)]
    return dataclasses.replace(c, sharpness=float(np.median(r)) if r.size else None)


def grad_floor(contract: Contract, ex: dict, wrt: str, cot: Any, dtype: str, extra: dict) -> float:
    """Normwise floor of the gradient tolerance: the value's tolerance over the argument's scale.

    Rounding errors of size ``tol_f`` in ``<cot, f>`` move each gradient element by about
    ``tol_f / |x|`` (docs/tolerances.md); this matters where the exact gradient is a sum of
    terms that cancel to (nearly) zero and an elementwise scale would demand exactness.  None (0) where the
    tolerance has a running error bound of the gradient: that bound charges each cancelling term's roundings.  The
    model's value tolerance otherwise, also where the value has a running bound: the floor stands in for the
    gradient's own roundings, which a value's bound does not count.
    """
    if contract.tolerance.grad_bound is not None and contract.tolerance.bounded(dtype):
        return 0.0
    base = {kw: v for kw, v in extra.items() if kw != "variants"}
    value = contract.expected(ex, **base)
    v = np.concatenate([np.ravel(x) for x in value]) if isinstance(value, tuple) else np.asarray(value)
    c = np.concatenate([np.ravel(x) for x in as_tuple(cot)])
    with np.errstate(invalid="ignore", over="ignore"):
        t = np.broadcast_to(contract.tolerance.for_value(ex, v, dtype, bound=False), np.shape(v)).ravel()
        tol_f = float(np.nansum(np.abs(c) * t))
    args = ex[wrt] if isinstance(ex[wrt], list) else [ex[wrt]]
    x_scale = max(1.0, max(float(np.max(np.abs(a), initial=0.0)) for a in args))
    return tol_f / x_scale if np.isfinite(tol_f) else 0.0


def _grad_tolerance(contract: Contract, ex: dict, wanted: dict, cot: Any, dtype: str, extra: dict) -> np.ndarray:
    """The gradient check's tolerance per element of ``wanted`` (arg -> gradient), flattened in its order."""
    parts = []
    for k, want in wanted.items():
        floor = grad_floor(contract, ex, k, cot, dtype, extra)
        for i, w in enumerate(as_tuple(want)):
            t = np.maximum(contract.tolerance.for_grad(ex, k, np.asarray(w), cot, dtype, i), floor)
            parts.append(np.ravel(np.broadcast_to(t, np.shape(w))))
    return np.concatenate(parts) if parts else np.zeros(0)


def diagnose_gradient(contract: Contract, ex: dict, grads: dict, cot: Any, dtype: str,
                      value: Any = None, probe: Any = None) -> str | None:
    """Name the common mistake(s) whose value and VJP the impl's match, if any (never a pass)."""
    if value is None:
        value = contract.expected(ex, **next(iter(contract.oracle_keywords(dtype).values())))
    return diagnosis.explain_gradient(contract, ex, grads, cot, dtype, value, grad_floor, probe)


def _probe(contract: Contract, runner: Runner, dtype: str) -> Any:
    """The implementation's value on another example (rounded to ``dtype``), for narrowing a diagnosis."""
    return lambda ex2: runner.value(prepare(contract, ex2, dtype)[1])


def check_value(contract: Contract, runner: Runner, ex: dict, dtype: str, rec: Recorder, impl_name: str) -> None:
    """The impl's output in ``dtype`` vs the float64 oracle on the same rounded inputs."""
    rounded, args = prepare(contract, ex, dtype)
    actual = call(contract, lambda: runner.value(args), rounded)
    if any(a is None for a in as_tuple(actual)):
        fail(f"{contract.name} returned None instead of a tensor", contract, rounded, dtype, runner.mode, impl_name,
              "value", None, None)
    matched, best, best_expected = set(), None, None
    for extra in list(contract.oracle_keywords(dtype).values()):
        expected = contract.expected(rounded, **extra)
        check_outputs(contract, rounded, actual, expected, dtype, runner.mode, impl_name, "value")
        cmp = _compare_outputs(contract, rounded, actual, expected, dtype)
        if cmp.ok:
            matched.add(extra.get("convention", "-"))
        if best is None or cmp.mismatches < best.mismatches:
            best, best_expected = cmp, expected
    rec.comparisons([best], magnitude=magnitude(actual))
    if contract.conventions:
        rec.conventions(matched)
    lit = _literal_check(contract, rounded, actual, best_expected, dtype, rec)  # (shapes checked by the comparison)
    if not matched and lit is not None and lit[2].any() and not (lit[2] & ~lit[1]).any():
        i = int(np.flatnonzero(lit[2])[0])
        a, e, v = flat(actual)[i], flat(best_expected)[i], flat(contract.literal(rounded, dtype))[i]
        _hazard(rec, "LITERAL", int(lit[2].sum()), f"value of {contract.name} element {i} = {float(a)!r}: "
                + contract.literal.describe(float(v), float(e), dtype))
        return
    if not matched:
        def explain() -> str | None:
            return (diagnose(contract, rounded, actual, dtype, _probe(contract, runner, dtype))
                    or diagnose_naive(contract, rounded, actual, best_expected, dtype))

        note = worst_case_note(lambda: _compare_outputs(contract, rounded, actual, best_expected, dtype).ok, dtype)
        fail(best.message() + note, contract, rounded, dtype, runner.mode, impl_name, "value", best_expected, actual,
             explain=hedged(explain, note, dtype), tolerance=_flat_tolerance(contract, rounded, best_expected, dtype))


def check_gradient(contract: Contract, runner: Runner, ex: dict, seed: int, dtype: str, rec: Recorder,
                   impl_name: str) -> None:
    """tf.GradientTape VJP with a random cotangent vs ``oracle.vjp`` for every differentiable argument."""
    rounded, args = prepare(contract, ex, dtype)
    extras = list(contract.oracle_keywords(dtype).values())
    expected = contract.expected(rounded, **extras[0])
    cot = cotangent(contract, expected, seed, dtype)

    def value_and_grad() -> tuple[Any, dict | None]:
        try:
            return runner.value_and_grad(args, cot_tensor(cot, dtype))
        except Exception:  # a cotangent of the contract's shape met an output of another shape? Say that instead
            value = runner.value(args)
            if not same_outputs(value, expected):
                return value, None
            raise

    value, grads = call(contract, value_and_grad, rounded, cot)
    check_outputs(contract, rounded, value, expected, dtype, runner.mode, impl_name, "gradient")
    for k in contract.grad_args:
        got = grads[k]
        if got is None or (isinstance(got, list) and any(g is None for g in got)):
            want = contract.expected_vjp(rounded, cot, k, **extras[0])
            fail(f"gradient of {contract.name} wrt {k} is None, but the contract says the gradient flows",
                  contract, rounded, dtype, runner.mode, impl_name, "gradient", {k: want}, {k: got}, cot)
    failures, matched, wants = [], set(), []
    for extra in extras:
        comparisons, wanted = _grad_comparisons(contract, rounded, grads, cot, dtype, extra)
        if all(c.ok for c in comparisons):
            matched.add(extra.get("convention", "-"))
        failures.append(comparisons)
        wants.append(wanted)
    i_best = min(range(len(failures)), key=lambda i: sum(c.mismatches for c in failures[i]))
    best = failures[i_best]
    rec.comparisons(best)
    if contract.conventions:
        rec.conventions(matched)
    if not matched and contract.literal is not None:
        # in an example whose literal value is non-finite or inaccurate, an inaccurate gradient is a hazard
        exact = contract.expected(rounded, **extras[0])
        e, lit = flat(exact), flat(contract.literal(rounded, dtype))
        tol = _flat_tolerance(contract, rounded, exact, dtype)
        bad = verdicts(e, e, lit, tol, np.ones(e.shape, dtype=bool))[0]
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            _hazard(rec, "GRADIENT-OF-HAZARD", sum(c.mismatches for c in best),
                    f"{next(c.what for c in best if not c.ok)} (value element {i}: "
                    f"{contract.literal.describe(float(lit[i]), float(e[i]), dtype)})")
            return
    if not matched:
        msg = "\n\n".join(c.message() for c in best if not c.ok)
        note = worst_case_note(lambda: all(c.ok for c in _grad_comparisons(contract, rounded, grads, cot, dtype,
                                                                            extras[i_best])[0]), dtype)
        msg += note
        fail(msg, contract, rounded, dtype, runner.mode, impl_name, "gradient", wants[i_best], grads, cot,
             tolerance=_grad_tolerance(contract, rounded, wants[i_best], cot, dtype, extras[i_best]),
             explain=hedged(lambda: diagnose_gradient(contract, rounded, grads, cot, dtype, value,
                                                      _probe(contract, runner, dtype)), note, dtype))
