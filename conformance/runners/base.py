"""What every framework's runner shares: the calling-contract guards, the cotangent draw, configuration keys.

A framework module (:mod:`conformance.runners.tf`, :mod:`~conformance.runners.jax`,
:mod:`~conformance.runners.torch_runner`) subclasses :class:`BaseRunner` and supplies how to
recognise, copy and convert its own tensors; the rules (no mutated argument, no changed global
setting, outputs of the framework's own tensor type in the dtype under test) are written once here.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from conformance.contracts.record import Contract
from conformance.machine import cpu_cores, cpu_model
from conformance.numerics.outputs import as_tuple, cotangents
from conformance.numerics.tolerance import rounded as round_and_flush

MAX_FUNCTIONS = 64  # traced/compiled functions kept per Runner (one per configuration), least recently used dropped
NP_CONFIG = {"float16": np.float16, "bfloat16": np.float32, "float32": np.float32, "float64": np.float64}
Global = tuple[str, Callable[[], Any], Callable[[Any], Any]]


class ModeError(RuntimeError):
    """An implementation that works eagerly cannot be traced or compiled in the mode under test."""


class ContractViolation(AssertionError):
    """The implementation broke the calling contract: it mutated an argument, returned something other
    than the framework's tensor or a tensor of another dtype than its inputs', or changed global state."""


def cotangent(contract: Contract, out_shapes: Any, seed: int, dtype: str) -> Any:
    """A random cotangent shaped like the output(s), rounded to ``dtype`` (float64 values); a tuple for several."""
    cots = cotangents(contract.n_outputs, out_shapes, seed, dtype)
    return cots if contract.n_outputs > 1 else cots[0]


def config_key(config: dict) -> tuple:
    """A hashable key of the non-tensor arguments (NumPy arrays by contents, shape and dtype)."""
    return tuple((k, v.tobytes() + str(v.shape).encode() + str(v.dtype).encode() if isinstance(v, np.ndarray)
                  else repr(v)) for k, v in sorted(config.items()))


def config_value(v: Any, dtype: str) -> Any:
    """A configuration argument as handed to the impl: float NumPy arrays in the NumPy dtype nearest ``dtype``."""
    if isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.floating):
        return v.astype(NP_CONFIG[dtype])
    return v


def prepare_args(contract: Contract, ex: dict, dtype: str, float_tensor: Callable[[np.ndarray], Any],
                 int_tensor: Callable[[np.ndarray], Any]) -> tuple[dict, dict]:
    """Round float inputs to ``dtype``, flushed below the smallest normal as XLA's and TensorFlow's CPU kernels do:
    (float64 view for the oracle, the impl's arguments).  ``float_tensor``/``int_tensor`` make one framework tensor
    of the float or integer arguments' values; configuration goes through :func:`config_value`."""
    rounded = dict(ex)
    impl_args: dict[str, Any] = {}
    for k, v in ex.items():
        if k in contract.float_args:
            rounded[k] = round_and_flush(dtype, v)
            impl_args[k] = ([float_tensor(x) for x in rounded[k]] if isinstance(v, list)
                            else float_tensor(rounded[k]))
        elif k in contract.int_args:
            impl_args[k] = int_tensor(np.asarray(v))
        else:
            impl_args[k] = config_value(v, dtype)
    return rounded, impl_args


def input_dtype(contract: Contract, tensors: dict) -> Any:
    """The dtype under test: the one dtype of the contract's float arguments (None if there is not one)."""
    dtypes = {t.dtype for k in contract.float_args if k in tensors
              for t in (tensors[k] if isinstance(tensors[k], (list, tuple)) else [tensors[k]])}
    return dtypes.pop() if len(dtypes) == 1 else None


def output_problem(name: str, out: Any, dtype: Any, is_tensor: Callable[[Any], bool], kind: str,
                   float_dtype: Callable[[Any], Any], dtype_name: Callable[[Any], str], how: str) -> str | None:
    """Why the outputs break the contract, or None: not a ``kind`` tensor, or floating but not ``dtype``.

    ``float_dtype(o)`` is the dtype of a floating output (None for others); ``how`` says what to compute with.
    """
    outs = as_tuple(out)
    for i, o in enumerate(outs):
        which = f"output {i}" if len(outs) > 1 else "its output"
        if o is None:
            continue  # reported by the checks, with the inputs
        if not is_tensor(o):
            what = f"a NumPy array ({type(o).__name__})" if isinstance(o, (np.ndarray, np.generic)) else \
                f"a {type(o).__module__}.{type(o).__name__}"
            return (f"{name} returned {what} as {which} instead of a {kind}: outputs must be {how} tensors "
                    f"(docs/contracts.md), computed with {how} ops, not .numpy()")
        got = float_dtype(o)
        if dtype is not None and got is not None and got != dtype:
            return (f"{name} returned {dtype_name(got)} as {which} for {dtype_name(dtype)} inputs: floating outputs "
                    "must have the dtype under test (no casts to another precision)")
    return None


def keras_globals() -> list[Global]:
    """(what, getter, setter) of the Keras packages in use (Keras 3 and, with TF_USE_LEGACY_KERAS, tf_keras)."""
    out: list[Global] = []
    for k in [sys.modules[m] for m in ("keras", "tf_keras") if m in sys.modules]:
        m = k.__name__
        if not hasattr(k, "mixed_precision"):  # a partly imported package
            continue
        out += [
            (f"the {m} global dtype policy (mixed_precision.set_global_policy)",
             lambda k=k: k.mixed_precision.global_policy().name, lambda v, k=k: k.mixed_precision.set_global_policy(v)),
            (f"{m}.backend.floatx()", lambda k=k: k.backend.floatx(), lambda v, k=k: k.backend.set_floatx(v)),
            (f"{m}.backend.epsilon()", lambda k=k: k.backend.epsilon(), lambda v, k=k: k.backend.set_epsilon(v)),
            (f"{m}.backend.image_data_format()", lambda k=k: k.backend.image_data_format(),
             lambda v, k=k: k.backend.set_image_data_format(v)),
        ]
    return out


def numpy_globals() -> list[Global]:
    return [
        ("the NumPy error state (np.seterr)", np.geterr, lambda v: np.seterr(**v)),
        ("the NumPy print options (np.set_printoptions)", np.get_printoptions, lambda v: np.set_printoptions(**v)),
    ]


def snapshot_state(settings: list[Global]) -> dict[str, tuple[Any, Callable[[Any], Any]]]:
    """A snapshot of the global settings: what -> (value, setter)."""
    return {what: (get(), set_) for what, get, set_ in settings}


def restore_state(before: dict[str, tuple[Any, Callable[[Any], Any]]], settings: list[Global]) -> list[str]:
    """Restore every setting that differs from ``before``; return "what: old -> new" for each."""
    changed = []
    for what, (value, _) in snapshot_state(settings).items():
        if what in before and before[what][0] != value:
            changed.append(f"{what}: {before[what][0]!r} -> {value!r}")
            before[what][1](before[what][0])
    return changed


def cpu_name() -> str:
    """The host CPU in words: model name (from /proc/cpuinfo where there is one) and usable cores."""
    return f"CPU: {cpu_model() or 'unknown'} ({cpu_cores()} cores)"


class BaseRunner:
    """Calls one impl function in one mode; subclasses implement ``value`` and ``value_and_grad``.

    Subclass hooks: ``MODES``; ``settings()`` (the framework's global settings, see :func:`keras_globals`);
    ``host_copy(v)`` (a NumPy copy of a framework tensor, or None for anything else); ``fallback_module``
    (derived functions such as ``decode`` an impl lacks; None: the contract's own); ``WHO`` and ``compiler()``
    (the framework and what compiles in a non-eager mode, for :class:`ModeError`).  :meth:`value` and
    :meth:`value_and_grad` call ``_forward``/``_forward_grad`` eagerly or through ``_compiled(which, config)``
    and convert with ``to_numpy``/``grad_to_numpy``.
    """

    MODES: tuple[str, ...] = ()
    WHO = "the framework"
    fallback_module: str | None = None

    def __init__(self, contract: Contract, fn: Callable, mode: str, impl: Any = None):
        if mode not in self.MODES:
            raise ValueError(f"mode: expected one of {self.MODES}, got {mode!r}")
        self.contract, self.fn, self.mode, self.impl = contract, fn, mode, impl
        self._cache: OrderedDict[tuple, Callable] = OrderedDict()
        self._violations: list[str] = []  # found while tracing
        name = self.fallback_module or contract.derived_fallback
        # resolved here, not inside a traced or compiled call (Dynamo does not trace importlib)
        self._fallback_mod = importlib.import_module(name) if contract.derived_fallback and name else None

    def _fallback(self) -> Any:
        """The module that provides derived functions the impl lacks (e.g. ``decode``), if the contract names one."""
        return self._fallback_mod

    def _split(self, args: dict) -> tuple[dict, dict]:
        tensors = {k: v for k, v in args.items() if k in self.contract.float_args or k in self.contract.int_args}
        return tensors, {k: v for k, v in args.items() if k not in tensors}

    def _cached(self, key: tuple, make: Callable[[], Callable]) -> Callable:
        if key in self._cache:
            self._cache.move_to_end(key)
        else:
            if len(self._cache) >= MAX_FUNCTIONS:
                self._cache.popitem(last=False)
            self._cache[key] = make()
        return self._cache[key]

    def settings(self) -> list[Global]:
        return keras_globals() + numpy_globals()

    def host_copy(self, v: Any) -> np.ndarray | None:
        return None

    @contextlib.contextmanager
    def _guard(self, args: dict) -> Iterator[None]:
        """Fail with :class:`ContractViolation` if the call mutates an argument or changes global state.

        Changed global settings are restored first, and traced functions are dropped, so that a later call
        (Hypothesis' replay, the next check) traces again and sees the same behaviour, and the suite's own
        computations never depend on what an implementation did.
        """
        settings = self.settings()
        before_args = {k: self._snapshot(v) for k, v in args.items()}
        before_globals = snapshot_state(settings)
        self._violations = []
        try:
            yield
        except BaseException as exc:
            self._violations = []
            changed = restore_state(before_globals, settings)
            if changed:
                self._cache.clear()
                exc.add_note(f"{self.contract.name} also changed global state (restored): {'; '.join(changed)}")
            raise
        changed = restore_state(before_globals, settings)
        mutated = [k for k, v in args.items() if not self._same(before_args[k], v)]
        traced, self._violations = self._violations, []
        if traced:
            self._cache.clear()
            raise ContractViolation(traced[0])
        if changed or mutated:
            self._cache.clear()
            problems = [f"modified its argument {k!r} in place (copy an argument before writing to it)"
                        for k in mutated]
            problems += [f"changed {c} (restored; configure such settings outside the loss)" for c in changed]
            raise ContractViolation(f"{self.contract.name} {'; and '.join(problems)}: an implementation must leave "
                                    "its arguments and global settings as it found them")

    def _snapshot(self, v: Any) -> Any:
        """A copy of an argument's contents, to detect in-place changes (tensors, NumPy arrays, lists of them)."""
        if isinstance(v, np.ndarray):
            return v.copy()
        if isinstance(v, (list, tuple)):
            return type(v)(self._snapshot(x) for x in v), list(v)
        host = self.host_copy(v)
        return v if host is None else host

    def _same(self, before: Any, now: Any) -> bool:
        if isinstance(now, (list, tuple)):
            values, items = before
            return (len(items) == len(now) and all(a is b for a, b in zip(items, now, strict=True))
                    and all(self._same(b, x) for b, x in zip(values, now, strict=True)))
        if isinstance(before, np.ndarray):
            host = self.host_copy(now)
            now = host if host is not None else now
            # bitwise, so that NaN inputs (and bfloat16, which has no NumPy kind) compare equal to themselves
            return (isinstance(now, np.ndarray) and before.shape == now.shape and before.dtype == now.dtype
                    and before.tobytes() == now.tobytes())
        try:
            return bool(before == now)
        except Exception:  # objects without a truth-valued ==: not checked
            return True

    def compiler(self) -> str:
        """What runs the impl in ``self.mode``, in words (e.g. ``jax.jit``)."""
        return self.mode

    def to_numpy(self, out: Any) -> Any:
        raise NotImplementedError

    def grad_to_numpy(self, g: Any) -> Any:
        return self.to_numpy(g)

    def _forward(self, tensors: dict, config: dict) -> Any:
        raise NotImplementedError

    def _forward_grad(self, tensors: dict, config: dict, cot: Any) -> tuple[Any, dict]:
        raise NotImplementedError

    def _compiled(self, which: str, config: dict) -> Callable:
        raise NotImplementedError

    def value(self, args: dict) -> Any:
        """The impl's output(s) on ``args`` (from ``prepare``) as float64 NumPy arrays."""
        tensors, config = self._split(args)
        with self._guard(args):
            if self.mode == "eager":
                return self.to_numpy(self._forward(tensors, config))
            try:
                return self.to_numpy(self._compiled("value", config)(tensors))
            except Exception as exc:
                self._mode_error(exc, lambda: self._forward(tensors, config))
                raise

    def value_and_grad(self, args: dict, cot: Any) -> tuple[Any, dict]:
        """(output(s), {argument: VJP with cotangent ``cot``}) as float64 NumPy arrays."""
        tensors, config = self._split(args)
        with self._guard(args):
            if self.mode == "eager":
                out, grads = self._forward_grad(tensors, config, cot)
            else:
                try:
                    out, grads = self._compiled("grad", config)(tensors, cot)
                except Exception as exc:
                    self._mode_error(exc, lambda: self._forward_grad(tensors, config, cot))
                    raise
            # inside the guard: an asynchronous framework's errors surface here
            return self.to_numpy(out), {k: self.grad_to_numpy(g) for k, g in grads.items()}

    def _mode_error(self, exc: Exception, eager: Callable[[], Any]) -> None:
        """Raise :class:`ModeError` if the call that failed in a compiled mode succeeds eagerly."""
        mode, how = self.mode, self.compiler()
        try:
            eager()
        except ContractViolation:
            raise  # e.g. .numpy() fails while tracing; eagerly, the clearer message
        except Exception:
            return  # fails eagerly too: a property of the inputs, not of the mode
        raise ModeError(f"{self.contract.name} runs eagerly but cannot run under {how} (mode {mode}): "
                        f"{self.WHO} says {type(exc).__name__}: {exc}") from exc
