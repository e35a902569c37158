"""The stability tier: adversarial inputs, every output element classified as ok, failure or hazard.

For each element of the output (and of every gradient) with exact value ``e``
(the float64 oracle on the dtype-rounded inputs) and implementation value ``a``:

- **ok**: ``a`` matches ``e`` within the name's normal tolerance (``Contract.tolerance``),
  or matches the *rounded-intermediate* value ``r`` (below), or ``e`` is undefined;
- **hazard**: ``a`` is inf/NaN and the value cannot be delivered in the dtype:
  ``e`` is undefined (NaN: YOLO-ZERO-UNION and other 0/0), ``|e|`` exceeds the
  dtype's largest finite value, or ``r`` is not finite;
- **failure**: anything else, in particular inf/NaN where ``e`` and ``r`` are finite
  (SCE-NAIVE) and any finite wrong value.

The literal-formula rule (``Contract.literal``, :mod:`conformance.numerics.literal`): ``l`` is
the documents' formula evaluated step by step in the dtype under test.  Where ``l`` is itself
non-finite or outside the tolerance of a finite ``e``, an element that is not ok but whose
error is at most ``l``'s plus the tolerance (inf/NaN where ``l`` is inf/NaN too) is hazard
**LITERAL**, reported with the record's reason in words; an inf/NaN where ``l`` is finite, or a
larger error, stays a failure; an ok element there is counted in ``extra["better_than_literal"]``.
An example with such an ``l`` anywhere has its gradients judged for finiteness only, as an
example with a value hazard.  Elements whose tolerance exceeds the output's whole range
(``Contract.output_range``) are judged for finiteness only in effect; such examples are counted
in ``extra["finiteness_only"]``.

The rounded-intermediate rule (YOLO-EXP-OVERFLOW): for the names that go
through ``decode``, ``r`` is the oracle evaluated with the named intermediate
``e^{raw_wh}`` rounded to the dtype under test (overflow to inf, flush-to-zero
below the smallest normal) and the decoded boxes rounded to the dtype; every other
step stays exact.  It applies to an example only when a named intermediate leaves
the dtype's normal range: ``e^{raw_wh}`` or a decoded box area ``w·h`` above the
largest finite value (hazard YOLO-EXP-OVERFLOW) or below the smallest normal
(YOLO-ZERO-UNION: a flushed area makes an IoU 0/0).  For ``loss_layer`` and
``compute_loss`` such an example's mismatching outputs are hazards even when finite,
because the NaN IoU reaches the output through ``max_iou < thresh`` as a different
finite background mask.  So a float32 ``e^{100} = inf`` that makes ``decode`` return inf, or
an ``e^{-100} = 0`` that makes a box degenerate and an IoU 0/0 inside ``loss_layer``,
is a hazard, while the same inf/NaN from an unguarded formula on representable
intermediates is a failure.  In float16 the clip constants of the Keras and
CenterNet losses are subnormal (FP16-CLIP): inf/NaN there is a hazard too; hazards that
only the dtype's clip constants cause (1 − ε_k rounds to 1 in float16 and bfloat16) are named
FP16-CLIP.  An example a named intermediate of whose formula leaves the dtype's range
(``tolerances.in_range``: a box area or enclosing area, a loss's sum before normalising, in
practice float16) has its inf/NaN outputs classified as hazard DTYPE-RANGE, and only
the finiteness of its gradients is judged.

Gradients must be finite wherever the exact gradient is finite (the
``tf.where`` NaN-gradient trap is a failure); in an example whose value has a
hazard, or whose exact gradient is not finite, a non-finite gradient is a hazard.
Where the example has no rounded-intermediate effects, gradients are also compared
with the oracle's VJP under the normal gradient tolerance, except on a kink or within
rounding distance of one (``Contract.near_kinks``: the dtype may see a tie or the other
order, e.g. two enclosing corners 1.9e-22 apart at 4), where any finite value is accepted,
as in the value tier.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from conformance.checks.failure import ConformanceFailure, check_outputs, fail
from conformance.checks.value import (
    count_literal,
    count_loose_tolerance,
    diagnose_gradient,
    diagnose_naive,
)
from conformance.contracts.record import Contract
from conformance.numerics.dtypes import info
from conformance.numerics.literal import verdicts
from conformance.numerics.outputs import as_tuple, flat
from conformance.numerics.tolerance import bgd_margin, in_range
from conformance.reporting.results import CheckResult, Recorder
from conformance.runners.active import Runner, cot_tensor, cotangent, prepare


@dataclass
class HazardLog:
    """Hazards seen over all examples of one check: id -> element count, plus a first instance per id."""

    counts: dict[str, int] = field(default_factory=dict)
    first: dict[str, str] = field(default_factory=dict)
    examples: int = 0

    def add(self, hazard_id: str, n: int, where: str) -> None:
        self.counts[hazard_id] = self.counts.get(hazard_id, 0) + n
        self.first.setdefault(hazard_id, where)

    def message(self) -> str:
        lines = [f"hazards in {self.examples} example(s):"]
        for k in sorted(self.counts):
            lines.append(f"  {k}: {self.counts[k]} element(s); e.g. {self.first[k]}")
        return "\n".join(lines)

    def finish(self, result: CheckResult, strict: bool) -> None:
        """Set ``result`` to status "hazard" (or "failed" and raise, with ``strict``) if any was seen."""
        if not self.counts:
            return
        result.status = "failed" if strict else "hazard"
        result.message = self.message()
        result.extra["hazards"] = dict(self.counts)
        if strict:
            err = ConformanceFailure(result.message + "\n(--strict-hazards: hazards fail)")
            err.conformance_result = result
            raise err


def ambiguous(contract: Contract, ex: dict, dtype: str) -> bool:
    """A finite thresholded quantity within the rounding margin of its threshold (a NaN margin is not ambiguous)."""
    if contract.margin is None:
        return False
    m = contract.margin(ex)
    return bool(np.isfinite(m) and m <= bgd_margin(dtype))


# --------------------------------------------------------------------------- classification


@dataclass
class Classified:
    """Per-element verdicts for one output or gradient under one oracle keyword set."""

    failure: np.ndarray
    hazards: dict[str, np.ndarray]
    what: str
    actual: np.ndarray
    expected: np.ndarray
    tol: np.ndarray
    literal: np.ndarray | None = None  # the literal formula's values, where the record has one

    @property
    def n_fail(self) -> int:
        return int(self.failure.sum())

    def message(self, dtype: str) -> str:
        idx = np.flatnonzero(self.failure)
        lines = [f"Stability failure ({self.what}, {dtype}): {idx.size} / {self.failure.size} element(s)"]
        for i in idx[:5]:
            lines.append(f"  element {int(i)}: actual {float(self.actual[i])!r}, exact {float(self.expected[i])!r}, "
                         f"tolerance {self.tol[i]:.3g}")
        return "\n".join(lines)


def classify(actual: np.ndarray, exact: np.ndarray, tol: np.ndarray, dtype: str, what: str,
             alt: np.ndarray | None = None, alt_id: str = "", extra_hazard: dict[str, np.ndarray] | None = None,
             skip: np.ndarray | None = None, lenient: bool = False, literal: np.ndarray | None = None
             ) -> Classified:
    """Classify each element of flat arrays ``actual`` against ``exact`` (and the rounded-intermediate ``alt``).

    With ``lenient`` every mismatch in the presence of ``alt`` is a hazard ``alt_id`` (an intermediate out of
    the dtype's range can change a finite output through a comparison, e.g. ``NaN < thresh``).  ``literal``:
    the documents' formula in the dtype; a mismatch no worse than it, where it is bad, is hazard LITERAL.
    """
    a, e = np.asarray(actual, dtype=np.float64), np.asarray(exact, dtype=np.float64)
    tol = np.broadcast_to(tol, e.shape)
    big = info(dtype).max
    with np.errstate(invalid="ignore", over="ignore"):
        fin = np.isfinite(a)
        ok = np.isnan(e) | (a == e) | ((np.abs(a - e) <= tol) & fin)
        if alt is not None:
            al = np.asarray(alt, dtype=np.float64)
            ok |= (a == al) | ((np.abs(a - al) <= tol) & fin)
        if skip is not None:
            ok |= skip
        nonfinite = ~np.isfinite(a)
        hazards = {}
        named = np.zeros(e.shape, dtype=bool)
        if alt is not None:  # the named intermediate's id takes precedence over the generic ones
            named = hazards[alt_id] = (nonfinite & ~np.isfinite(al)) | (~ok & lenient)
        hazards["UNDEFINED"] = np.isnan(e) & nonfinite & ~named
        hazards["OVERFLOW"] = ~np.isnan(e) & (np.abs(e) > big) & nonfinite & ~named
        for k, m in (extra_hazard or {}).items():
            hazards[k] = hazards.get(k, False) | (~ok & nonfinite & m)
    any_h = np.zeros(e.shape, dtype=bool)
    for m in hazards.values():
        any_h |= m
    if literal is not None:
        _, same, _ = verdicts(a, e, literal, tol, ok & ~np.isnan(e))
        hazards["LITERAL"] = same & ~any_h
        any_h |= same
    failure = ~ok & ~any_h
    return Classified(failure, {k: v for k, v in hazards.items() if np.any(v)}, what, a, e, np.asarray(tol),
                      None if literal is None else np.asarray(literal, dtype=np.float64))


def _name_undefined(contract: Contract, hazards: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Name the generic UNDEFINED hazard by the record's own id (e.g. YOLO-ZERO-UNION for 0/0 boxes)."""
    hid = contract.undefined_id
    if "UNDEFINED" in hazards and hid != "UNDEFINED":
        hazards[hid] = hazards.pop("UNDEFINED") | hazards.get(hid, False)
    return hazards


def check_stability(contract: Contract, runner: Runner, ex: dict, seed: int, dtype: str, rec: Recorder,
                    impl_name: str, log: HazardLog) -> None:
    """Judge one adversarial example (value, then gradients); failures raise, hazards go to ``log``."""
    rounded, args = prepare(contract, ex, dtype)
    mode = runner.mode
    try:
        actual = runner.value(args)
    except Exception as exc:  # adversarial inputs are valid inputs: raising is a failure
        fail(f"{contract.name} raised {type(exc).__name__} on a valid adversarial input: {exc}", contract, rounded,
              dtype, mode, impl_name, "stability")
    fp16_clip = dtype == "float16" and contract.constants_dtype
    out_of_range = not in_range(contract, rounded, dtype)  # a named intermediate leaves the dtype's range
    best: Classified | None = None
    best_extra: dict = {}
    candidates: list[tuple[int, dict, object]] = []  # (value failures, oracle keywords, rounded intermediates)
    lit = flat(contract.literal(rounded, dtype)) if contract.literal is not None else None
    for extra in contract.oracle_keywords(dtype).values():
        exact = contract.expected(rounded, **extra)
        check_outputs(contract, rounded, actual, exact, dtype, mode, impl_name, "stability")
        exps = as_tuple(exact)
        e = flat(exact)
        shaped = np.asarray(exps[0], dtype=np.float64) if len(exps) == 1 else e
        with np.errstate(all="ignore"):
            tol = np.ravel(np.broadcast_to(contract.tolerance.for_value(rounded, shaped, dtype), shaped.shape))
        ri = contract.intermediates(rounded, dtype) if contract.intermediates else None
        alt, alt_id = (flat(ri[0]), ri[1]) if ri else (None, "")
        clip = {"FP16-CLIP": np.ones(e.shape, dtype=bool)} if fp16_clip else {}
        if out_of_range and ri is None:  # (the rounded-intermediate rule names decode's e^{raw} and areas itself)
            clip["DTYPE-RANGE"] = np.ones(e.shape, dtype=bool)
            if alt is None and contract.lenient:
                alt, alt_id = e, "DTYPE-RANGE"  # lenient: a NaN IoU changes the background mask, a finite output
        c = classify(flat(actual), e, tol, dtype, f"value of {contract.name}", alt, alt_id, clip or None,
                     lenient=contract.lenient, literal=lit)
        candidates.append((c.n_fail, extra, ri))
        if best is None or c.n_fail < best.n_fail:
            best, best_extra = c, extra
    rec.example(0.0, 0.0, 0)
    log.examples += 1
    literal_bad = count_literal(rec, best.actual, best.expected, best.tol, lit)
    count_loose_tolerance(contract, rec, best.tol)
    if best.n_fail:
        msg = best.message(dtype)
        diagnosis = diagnose_naive(contract, rounded, best.actual[best.failure], best.expected[best.failure], dtype)
        if diagnosis:
            rec.result.diagnosis = diagnosis
            msg += f"\nDiagnosis: {diagnosis}"
        fail(msg, contract, rounded, dtype, mode, impl_name, "stability", None, actual)
    if contract.constants_dtype and dtype in ("float16", "bfloat16"):
        with np.errstate(all="ignore"):
            _relabel_clip(best, flat(contract.expected(rounded, **dict(best_extra, constants_dtype="float64"))))
    value_hazards = _name_undefined(contract, best.hazards)
    why = ""
    for k, m in value_hazards.items():
        i = int(np.flatnonzero(m)[0])
        where = f"{best.what} element {i} = {best.actual[i]!r}"
        if k == "LITERAL":
            where += ": " + contract.literal.describe(float(best.literal[i]), float(best.expected[i]), dtype)
        why = why or f" (the value has hazard {k})"
        log.add(k, int(m.sum()), where)
    if literal_bad is not None and literal_bad.any() and not why:
        i = int(np.flatnonzero(literal_bad)[0])
        why = f" (value element {i}: {contract.literal.describe(float(lit[i]), float(best.expected[i]), dtype)})"
    # The gradients are judged under every convention the value admits as well as the best one (a tie: both
    # conventions' values within tolerance); they pass if they fit any of them, as in the gradient tier.
    value_hazard = bool(value_hazards) or fp16_clip or out_of_range or bool(why)
    tied = [(extra, ri) for n, extra, ri in candidates if n == best.n_fail]
    first: ConformanceFailure | None = None
    diagnosis = rec.result.diagnosis
    for extra, ri in tied:
        trial = HazardLog()
        try:
            _check_gradients(contract, runner, rounded, args, seed, dtype, extra, value_hazard,
                             ri is not None or out_of_range, impl_name, trial, why, rec)
        except ConformanceFailure as exc:
            first = first or exc
            continue
        rec.result.diagnosis = diagnosis
        for k, n in trial.counts.items():
            log.add(k, n, trial.first[k])
        return
    raise first



def _relabel_clip(c: Classified, spec: np.ndarray) -> None:
    """Name FP16-CLIP the OVERFLOW/UNDEFINED hazards that only the dtype's clip constants cause.

    In float16 and bfloat16 1 − ε_k rounds to 1 (and ε_k, ε_c are subnormal in float16), so the
    exact value with the constants held in the dtype (``c.expected``) can be ±inf or NaN where
    ``spec``, the same with the spec's float64 constants, is finite.
    """
    by_clip = np.isfinite(spec) & ~np.isfinite(c.expected)
    for k in ("OVERFLOW", "UNDEFINED"):
        if k in c.hazards and np.any(c.hazards[k] & by_clip):
            c.hazards["FP16-CLIP"] = c.hazards.get("FP16-CLIP", False) | (c.hazards[k] & by_clip)
            c.hazards[k] = c.hazards[k] & ~by_clip
            if not c.hazards[k].any():
                del c.hazards[k]


def _check_gradients(contract: Contract, runner: Runner, rounded: dict, args: dict, seed: int, dtype: str,
                     extra: dict, value_hazard: bool, intermediate: bool, impl_name: str, log: HazardLog,
                     why: str = "", rec: Recorder | None = None) -> None:
    exact_out = contract.expected(rounded, **extra)
    cot = cotangent(contract, exact_out, seed, dtype)
    if not all(np.all(np.isfinite(c)) for c in as_tuple(cot)):
        return
    mode = runner.mode
    try:
        _, grads = runner.value_and_grad(args, cot_tensor(cot, dtype))
    except Exception as exc:
        fail(f"gradient of {contract.name} raised {type(exc).__name__} on a valid adversarial input: {exc}",
              contract, rounded, dtype, mode, impl_name, "stability", cot=cot)
    for k in contract.grad_args:
        got = grads[k]
        if got is None or (isinstance(got, list) and any(g is None for g in got)):
            fail(f"gradient of {contract.name} wrt {k} is None, but the contract says the gradient flows", contract,
                  rounded, dtype, mode, impl_name, "stability", cot=cot)
        with np.errstate(all="ignore"):
            want = contract.expected_vjp(rounded, cot, k, **extra)
            kinks = contract.with_near_kinks(contract.kinks(rounded, k, **extra), rounded, k, dtype)  # as value
        for i, (g, w, kk) in enumerate(zip(as_tuple(got), as_tuple(want), kinks, strict=True)):
            w = np.asarray(w, dtype=np.float64)
            g = np.asarray(g, dtype=np.float64)
            what = f"gradient of {contract.name} wrt {k}" + (f"[{i}]" if isinstance(got, list) else "")
            with np.errstate(all="ignore"):
                tol = np.ravel(np.broadcast_to(contract.tolerance.for_grad(rounded, k, w, cot, dtype, i), w.shape))
            hazard_ok = {"GRADIENT-OF-HAZARD": np.full(w.size, value_hazard)}
            if intermediate or value_hazard:
                # rounded-intermediate effects: only finiteness is judged, accuracy is the value tier's business
                tol = np.full(w.size, np.inf)
            c = classify(np.ravel(g), np.ravel(w), tol, dtype, what, extra_hazard=hazard_ok,
                         skip=np.ravel(np.broadcast_to(kk, w.shape)) & np.isfinite(np.ravel(g)))
            if contract.constants_dtype and dtype in ("float16", "bfloat16"):
                with np.errstate(all="ignore"):
                    spec = contract.expected_vjp(rounded, cot, k, **dict(extra, constants_dtype="float64"))
                _relabel_clip(c, np.ravel(np.asarray(as_tuple(spec)[i], dtype=np.float64)))
            if c.n_fail:
                msg = c.message(dtype)
                diagnosis = diagnose_gradient(contract, rounded, grads, cot, dtype)
                if diagnosis:
                    if rec is not None:
                        rec.result.diagnosis = diagnosis
                    msg += f"\nDiagnosis: {diagnosis}"
                fail(msg, contract, rounded, dtype, mode, impl_name, "stability", {k: want}, {k: got}, cot)
            for hid, m in _name_undefined(contract, c.hazards).items():
                log.add(hid, int(m.sum()), f"{what} element {int(np.flatnonzero(m)[0])} is non-finite"
                        + (why if hid == "GRADIENT-OF-HAZARD" else ""))
