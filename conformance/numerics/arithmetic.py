"""How the platform under test accumulates its reductions, per dtype (docs/tolerances.md, "Reductions: the
arithmetic the platform does").

The tolerance model charges a reduction of ``n`` terms :meth:`Arithmetic.reduction_rtol`: ``(n−1)·2⁻²⁴`` where the
framework accumulates in float32, ``⌈log₂ n⌉·u`` where it adds pairwise (or in float32 blocks combined in the
dtype), and today's worst case ``SAFETY·n·u`` (a sequential sum in the dtype) otherwise.  :func:`classify` reads
the probes' errors (:func:`probe_inputs`, run through the framework by ``conformance.runners.probe``); :func:`use`
installs the result for the run; ``--accumulate=dtype`` keeps the worst case (:func:`set_policy`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import numpy as np

from conformance.numerics.dtypes import info, round_to

SAFETY = 4.0  # the model's factor for kernel accuracy beyond 1 ulp per operation (numerics.tolerance)
FORM = 2.0  # a counted chain's factor: a faithful implementation may spend twice the documents' form's roundings
U32 = 2.0**-24
ROWS, N = 16, 4096  # probe shape: ROWS independent reductions of N terms
BLOCKS = 1024  # row length of the ``blocks`` probe (short, so float32's (n − 1)·2⁻²⁴ stays below u/8 in float16)
ALL = 8  # sum_all reduces the first ALL rows entirely (32768 terms: below float16's largest finite sum)
POLICIES = ("measured", "dtype")


ACCUMULATORS = ("float32", "tree", "dtype")


@dataclass(frozen=True)
class Arithmetic:
    """The arithmetic the tolerance model charges for one dtype (its reductions' accumulation)."""

    dtype: str
    accumulator: str  # "float32", "tree" (pairwise or blocked: at most ceil(log2 n) roundings in the dtype) or "dtype"
    source: str  # how it was established: "measured: tf eager", "worst case (not measured)", "--accumulate=dtype"
    observed: dict = field(default_factory=dict)  # probe -> its largest error, as a fraction of each model's bound
    kernels: dict = field(default_factory=dict)  # elementwise kernel -> its largest error over every input, in u
    nearest: bool = False  # +, −, ×, ÷ round to nearest (measured: :func:`rounds_to_nearest`)
    # elementwise kernel -> its largest error per range of inputs (KernelProfile; not in the JSON)
    profiles: dict = field(default_factory=dict, compare=False, repr=False)

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "profiles"}

    def reduction_rtol(self, n: int) -> float:
        """Relative error bound of a sum of ``n`` terms (relative to the sum of their magnitudes)."""
        u = info(self.dtype).unit_roundoff
        if self.accumulator == "float32":
            return 1.01 * (n - 1) * U32
        if self.accumulator == "tree":
            return 1.01 * (math.ceil(math.log2(max(n, 1))) * u + (n - 1) * U32)
        return SAFETY * u * n  # sequential in the dtype (Higham's gamma_{n-1}, with the model's SAFETY)

    def kernel_cost(self, kernels: tuple[str, ...]) -> float | None:
        """Rounding errors, in u, of the elementwise ``kernels`` on a path (``None`` where none were measured).

        Each kernel is charged its measured largest error, at least 1 (a correctly rounded result); an entry
        ``"softplus|exp+log1p"`` names alternative forms of one step and is charged the costlier.  A kernel the
        probes did not measure is charged ``SAFETY``.
        """
        if not self.kernels:
            return None

        def one(k: str) -> float:
            return max(1.0, float(self.kernels.get(k, SAFETY)))

        return sum(max(sum(one(k) for k in alt.split("+")) for alt in step.split("|")) for step in kernels)

    def line(self) -> str:
        """One line for the run header."""
        what = {"float32": "reductions accumulate in float32 (n·2⁻²⁴)",
                "tree": "reductions accumulate pairwise or in float32 blocks (⌈log₂ n⌉·u)",
                "dtype": f"sums charged as accumulated sequentially in {self.dtype} (n·u)"}[self.accumulator]
        near = "; +, −, ×, ÷ round to nearest" if self.nearest else ""
        return f"{self.dtype}: {what}{self.kernel_words()}{near} [{self.source}]{self.caveat()}"

    def kernel_words(self) -> str:
        """The kernels' measured accuracy in a few words (empty where not measured)."""
        if not self.kernels:
            return ""
        worst = max(self.kernels, key=lambda k: self.kernels[k])
        return (f"; elementwise kernels within {max(1.0, self.kernels[worst]):.2g} u over every {self.dtype} input "
                f"(worst: {worst})")

    def caveat(self) -> str:
        """Where the probes outside :data:`FORMS` are less precise than the model (empty if none)."""
        if self.accumulator == "dtype" or not self.observed:
            return ""
        order = ACCUMULATORS.index(self.accumulator)
        worse = [k for k in OTHERS if k in self.observed
                 and ACCUMULATORS.index(best_model(self.observed, (k,))) > order]
        if not worse:
            return ""
        words = {"sum_axis0": "sums over a long leading axis", "matvec": "sums by matrix product"}
        return (f"; {' and '.join(words[k] for k in worse)} accumulate less precisely: an implementation "
                f"summing that way needs --accumulate=dtype")


def worst_case(dtype: str, source: str = "worst case (not measured)", kept: Arithmetic | None = None) -> Arithmetic:
    """Today's model: every sum accumulated sequentially in the dtype (the kernels' accuracy of ``kept`` kept)."""
    return Arithmetic(dtype, "dtype", source, kernels=dict(kept.kernels) if kept else {},
                      nearest=kept.nearest if kept else False, profiles=dict(kept.profiles) if kept else {})


_CURRENT: dict[str, Arithmetic] = {}
_POLICY = {"policy": "measured"}


def set_policy(policy: str) -> None:
    """``measured`` (default): the probes decide; ``dtype``: every implementation is charged the worst case."""
    if policy not in POLICIES:
        raise ValueError(f"accumulate: expected one of {POLICIES}, got {policy!r}")
    _POLICY["policy"] = policy
    _CURRENT.clear()


def policy() -> str:
    return _POLICY["policy"]


def current(dtype: str) -> Arithmetic:
    """The arithmetic in force for ``dtype`` (the worst case until a measurement is installed)."""
    return _CURRENT.get(dtype) or worst_case(dtype)


def measured(dtype: str) -> bool:
    return dtype in _CURRENT


def use(a: Arithmetic) -> None:
    """Install ``a`` for its dtype (under ``--accumulate=dtype``, the worst case instead)."""
    if policy() == "dtype":
        a = worst_case(a.dtype, "--accumulate=dtype", a)
    _CURRENT[a.dtype] = a


def reset() -> None:
    _CURRENT.clear()


@contextlib.contextmanager
def assuming_worst_case(dtype: str) -> Iterator[None]:
    """Temporarily judge ``dtype`` by the worst-case model (to say whether a failure would pass under it)."""
    before = _CURRENT.get(dtype)
    _CURRENT[dtype] = worst_case(dtype, "--accumulate=dtype", before)
    try:
        yield
    finally:
        if before is None:
            _CURRENT.pop(dtype, None)
        else:
            _CURRENT[dtype] = before


# --- the probes (inputs and verdicts; the framework calls live in conformance.runners.probe) ---------------------

FORMS = ("sum", "sum_all", "mean", "logsumexp", "softmax", "sum@blocks")  # the reductions the formulas take
OTHERS = ("sum_axis0", "matvec")  # reported, not charged: a long leading axis, a sum by matrix product
REDUCTIONS = FORMS + OTHERS


def probe_inputs(dtype: str, seed: int = 20) -> dict[str, np.ndarray]:
    """Float64 arrays exact in ``dtype``, ROWS×N: ``near_one`` in [1, 1.0625) and ``near_zero`` in
    [-1/16, 1/16).  Terms of nearly equal size make a sequential sum in the dtype err systematically (every
    addition to a running sum rounds the same way: in bfloat16 a running sum of 256 no longer grows), while a
    pairwise or float32 accumulation stays within its bound whatever the order.  ``blocks`` (ROWS×BLOCKS) repeats
    [1, u/2, u/2, u/2]: a pairwise sum in the dtype loses the three small terms of every block (1 + u/2 and 1 + u
    round back to 1), 1.5u of every block's sum, where a float32 accumulator loses nothing before its last rounding."""
    rng = np.random.default_rng(seed)
    delta = info(dtype).unit_roundoff / 2
    return {"blocks": np.tile([1.0, delta, delta, delta], (ROWS, BLOCKS // 4)),
            "near_one": round_to(dtype, rng.uniform(1.0, 1.0625, (ROWS, N))),
            "near_zero": round_to(dtype, rng.uniform(-0.0625, 0.0625, (ROWS, N)))}


def reduction_errors(dtype: str, x: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> dict[str, dict]:
    """Per reduction probe and accumulation model: its largest error as a fraction of the model's bound
    (≤ 1: consistent with the model).  The bounds add to the accumulation the roundings every model has: the
    result's own (u), and for logsumexp and softmax the rounding of x − max and of e^(x − max) (3u per term)."""
    u = info(dtype).unit_roundoff
    p, c = x["near_one"], x["near_zero"]
    n = p.shape[1]
    s = p.sum(axis=1)
    m = c.max(axis=1)
    lse = np.log(np.exp(c - m[:, None]).sum(axis=1)) + m
    sm = np.exp(c - lse[:, None])
    sb = x["blocks"].sum(axis=1)
    out: dict[str, dict] = {}
    for model in ACCUMULATORS[:2]:
        acc_b = Arithmetic(dtype, model, "").reduction_rtol(BLOCKS)
        acc = Arithmetic(dtype, model, "").reduction_rtol(n)  # relative to the sum of magnitudes (no cancellation)
        acc_all, total = Arithmetic(dtype, model, "").reduction_rtol(ALL * n), np.full(ALL, p[:ALL].sum())
        bounds = {  # exact value, allowed error per element
            "sum": (s, u * s + acc * s), "sum_all": (total, (u + acc_all) * total),
            "sum_axis0": (s, u * s + acc * s), "matvec": (s, u * s + acc * s), "sum@blocks": (sb, (u + acc_b) * sb),
            "mean": (s / n, 2 * u * s / n + acc * s / n),
            "logsumexp": (lse, 2 * u * np.abs(lse) + 4 * u + acc),
            "softmax": (sm, (8 * u + acc) * sm),
        }
        for k, (exact, allowed) in bounds.items():
            if k in got:
                with np.errstate(invalid="ignore"):
                    r = np.abs(np.asarray(got[k], dtype=np.float64).reshape(np.shape(exact)) - exact) / allowed
                out.setdefault(k, {})[model] = round(float(np.max(np.where(np.isnan(r), np.inf, r))), 3)
    return out


def best_model(errors: dict[str, dict], probes: tuple[str, ...]) -> str:
    """The most precise accumulation model every one of ``probes`` satisfies; ``dtype`` (the worst case) if none."""
    for model in ACCUMULATORS[:2]:
        if all(errors.get(k, {}).get(model, np.inf) <= 1.0 for k in probes):
            return model
    return "dtype"


# --- the kernel probes: every finite input of the dtype (65 536 values), so the measured error is a bound ---------

KERNELS = ("exp", "expm1", "log", "log1p", "sigmoid", "softplus", "tanh", "atan", "sqrt", "pow")
EXACT = {
    "exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p,
    "sigmoid": lambda x: np.exp(-np.logaddexp(0.0, -x)), "softplus": lambda x: np.logaddexp(0.0, x),
    "tanh": np.tanh, "atan": np.arctan, "sqrt": np.sqrt,
    "pow": lambda x: np.concatenate([x**2, x**4]),  # the catalogue's exponents (focal weights, CenterNet)
}


def kernel_inputs(dtype: str) -> np.ndarray:
    """Every finite value of ``dtype`` (float64), subnormals excluded (flushed to zero by the frameworks)."""
    import ml_dtypes

    bits = np.arange(2**16, dtype=np.uint16)
    with np.errstate(invalid="ignore"):  # the NaN bit patterns
        x = bits.view(ml_dtypes.bfloat16 if dtype == "bfloat16" else np.float16).astype(np.float64)
    return x[np.isfinite(x) & ((np.abs(x) >= info(dtype).tiny) | (x == 0))]


def kernel_errors(dtype: str, x: np.ndarray, got: dict[str, np.ndarray]) -> dict[str, float]:
    """Per kernel, its largest error relative to the exact result, in units of u, over the inputs ``x`` whose
    exact result is a normal number of the dtype (results the dtype can hold; the rest are range questions)."""
    return measure_kernels(dtype, x, got)[0]


def measure_kernels(dtype: str, x: np.ndarray, got: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """Per kernel, its largest error (:func:`kernel_errors`) and its largest error over each range of inputs
    (:class:`KernelProfile`), from one evaluation of the exact kernels."""
    errors = input_errors(dtype, x, got)
    return ({k: round(float(np.max(e, initial=0.0)), 2) for k, e in errors.items()},
            {k: KernelProfile.of(x, e) for k, e in errors.items()})


def input_errors(dtype: str, x: np.ndarray, got: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per kernel, its error at each input of ``x`` relative to the exact result, in u (inf where it returned NaN;
    0 where the exact result is not a normal number of the dtype: a range question, not an accuracy one).  A
    kernel probed at several exponents (``pow``) counts each input's largest."""
    d = info(dtype)
    out: dict[str, np.ndarray] = {}
    for k, g in got.items():
        with np.errstate(all="ignore"):
            exact = EXACT[k](x)
            g = np.asarray(g, dtype=np.float64).reshape(exact.shape)
            sel = np.isfinite(exact) & (np.abs(exact) >= 2 * d.tiny) & (np.abs(exact) <= d.max)
            r = np.where(sel, np.abs(g - exact) / np.where(sel, np.abs(exact), 1.0) / d.unit_roundoff, 0.0)
        out[k] = np.where(np.isnan(r), np.inf, r).reshape(-1, x.size).max(axis=0)
    return out


BLOCK = 16  # inputs per block of a kernel's profile (an eighth of a bfloat16 binade)


@dataclass(frozen=True, eq=False)
class KernelProfile:
    """A kernel's largest error (in u) over every block of :data:`BLOCK` consecutive inputs of the dtype, kept as a
    sparse table of maxima: the largest error over any interval of inputs is two lookups."""

    edges: np.ndarray  # the smallest input of each block, ascending
    table: np.ndarray  # table[j, i]: the largest error over blocks i .. i + 2^j − 1
    digest: str  # identifies the measurement (a cache key part)

    @classmethod
    def of(cls, x: np.ndarray, err: np.ndarray) -> KernelProfile:
        import hashlib

        order = np.argsort(x, kind="stable")
        x, err = x[order], err[order]
        n = -(-x.size // BLOCK)
        blocks = np.pad(err, (0, n * BLOCK - x.size)).reshape(n, BLOCK).max(axis=1)
        table = np.zeros((max(1, n.bit_length()), n))
        table[0] = blocks
        for j in range(1, table.shape[0]):
            h = 1 << (j - 1)
            table[j, : n - h] = np.maximum(table[j - 1, : n - h], table[j - 1, h:])
        return cls(x[::BLOCK].copy(), table, hashlib.sha1(table.tobytes()).hexdigest()[:12])

    def worst(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """The largest error over the inputs in ``[lo, hi]`` (elementwise; every input where an end is NaN)."""
        n = self.edges.size
        lo, hi = np.broadcast_arrays(np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64))
        unknown = np.isnan(lo) | np.isnan(hi)
        a = np.where(unknown, 0, np.clip(np.searchsorted(self.edges, lo, side="right") - 1, 0, n - 1))
        b = np.where(unknown, n - 1, np.clip(np.searchsorted(self.edges, hi, side="right") - 1, 0, n - 1))
        b = np.maximum(a, b)
        k = np.floor(np.log2(b - a + 1)).astype(int)
        return np.maximum(self.table[k, a], self.table[k, b - (1 << k) + 1])


def classify(dtype: str, source: str, errors: dict[str, dict], kernels: dict | None = None,
             profiles: dict | None = None, nearest: bool = False) -> Arithmetic:
    """The model the formulas' reductions (:data:`FORMS`) satisfy; float32 and float64 are their own
    accumulators (nothing to measure).  Reductions along a long leading axis and sums by matrix product
    (:data:`OTHERS`) are reported beside it (:meth:`Arithmetic.caveat`) where they are less precise."""
    if info(dtype).unit_roundoff <= U32:
        return Arithmetic(dtype, "dtype", "the dtype is the accumulator", errors)
    return Arithmetic(dtype, best_model(errors, FORMS) if errors else "dtype", source, errors, dict(kernels or {}),
                      nearest, dict(profiles or {}))


# --- the rounding probe: +, −, ×, ÷ of values of the dtype, ties included ------------------------------------------

OPERATIONS = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}


def operand_pairs(dtype: str, n: int = 4096, seed: int = 21) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of values of ``dtype`` (float64): random signs and magnitudes over 2⁻⁸ .. 2⁸, near-equal pairs (their
    differences cancel), and pairs whose exact sum lies on a tie of the dtype (1 + k·u for odd k: nearest-even
    and truncation part there)."""
    rng = np.random.default_rng(seed)
    u = info(dtype).unit_roundoff
    a = round_to(dtype, rng.choice([-1.0, 1.0], n) * 2.0 ** rng.uniform(-8, 8, n))
    b = round_to(dtype, rng.choice([-1.0, 1.0], n) * 2.0 ** rng.uniform(-8, 8, n))
    b[: n // 4] = round_to(dtype, a[: n // 4] * (1 + rng.uniform(-16, 16, n // 4) * u))
    k = 2 * rng.integers(0, 64, n // 4) + 1
    a[-(n // 4):], b[-(n // 4):] = 1.0, k * u
    return a, b


def rounds_to_nearest(dtype: str, a: np.ndarray, b: np.ndarray, got: dict[str, np.ndarray]) -> bool:
    """Whether each operation's results are what :meth:`conformance.numerics.bounds.Bounded.f` credits a step on
    exact operands with: the exact result rounded to the dtype (nearest, ties to even), or kept in float32 or
    wider, or rounded to float32 and then to the dtype; nothing else (truncation, an approximate division)."""
    with np.errstate(all="ignore"):
        for op, fn in OPERATIONS.items():
            if op not in got:
                return False
            e = fn(a, b)
            ends = np.stack([e, round_to("float32", e), round_to(dtype, e), round_to(dtype, round_to("float32", e))])
            g = np.asarray(got[op], dtype=np.float64).reshape(e.shape)
            keep = np.isfinite(e) & (np.abs(e) >= info(dtype).tiny) & (np.abs(e) <= info(dtype).max)
            if not np.all(~keep | ((ends.min(axis=0) <= g) & (g <= ends.max(axis=0)))):
                return False
    return True
