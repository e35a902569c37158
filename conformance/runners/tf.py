"""Calling an implementation under test: tensors in, NumPy float64 out, in eager, function or xla mode."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

from conformance.contracts.record import Contract  # noqa: E402
from conformance.numerics.outputs import as_tuple, cotangents  # noqa: E402
from conformance.numerics.tolerance import rounded as round_and_flush  # noqa: E402

MODES = ("eager", "function", "xla")
# tf.functions kept per Runner (one per configuration; TensorFlow traces each once per input signature).  Every
# trace holds graphs of several MB and XLA keeps each compiled executable for the process' lifetime, so long
# function/xla runs grow by ~5-17 MB per distinct (configuration, shape) signature (docs/tolerances.md, "Modes").
MAX_FUNCTIONS = 64
TF_DTYPES = {"float16": tf.float16, "bfloat16": tf.bfloat16, "float32": tf.float32, "float64": tf.float64}
NP_CONFIG = {"float16": np.float16, "bfloat16": np.float32, "float32": np.float32, "float64": np.float64}


def prepare(contract: Contract, ex: dict, dtype: str) -> tuple[dict, dict]:
    """Round float inputs to ``dtype``: (float64 view for the oracle, tensors and config for the impl)."""
    rounded = dict(ex)
    impl_args: dict[str, Any] = {}
    tf_dtype = TF_DTYPES[dtype]
    for k, v in ex.items():
        if k in contract.float_args:
            rounded[k] = round_and_flush(dtype, v)
            impl_args[k] = ([tf.constant(x, dtype=tf_dtype) for x in rounded[k]] if isinstance(v, list)
                            else tf.constant(rounded[k], dtype=tf_dtype))
        elif k in contract.int_args:
            impl_args[k] = tf.constant(np.asarray(v), dtype=tf.int32)
        elif isinstance(v, np.ndarray):
            impl_args[k] = v.astype(NP_CONFIG[dtype]) if np.issubdtype(v.dtype, np.floating) else v
        else:
            impl_args[k] = v
    return rounded, impl_args


def to_numpy(out: Any) -> Any:
    """Impl output(s) as float64 NumPy arrays (tuples stay tuples)."""
    if isinstance(out, (tuple, list)):
        return tuple(to_numpy(o) for o in out)
    if out is None:
        return None
    t = tf.convert_to_tensor(out)
    if t.dtype.is_floating and t.dtype != tf.float64:
        t = tf.cast(t, tf.float64)
    return np.asarray(t.numpy(), dtype=np.float64)


class Runner:
    """Calls one impl function in a given mode, tracing once per shape and configuration."""

    def __init__(self, contract: Contract, fn: Callable, mode: str, impl: Any = None):
        if mode not in MODES:
            raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
        self.contract, self.fn, self.mode, self.impl = contract, fn, mode, impl
        self._cache: OrderedDict[tuple, Callable] = OrderedDict()
        self._violations: list[str] = []  # found while tracing

    def _forward(self, tensors: dict, config: dict) -> Any:
        out = self.contract.invoke(self.fn, {**config, **tensors}, self.impl, self._fallback())
        problem = output_problem(self.contract.name, out, _input_dtype(self.contract, tensors))
        if problem and tf.executing_eagerly():
            raise ContractViolation(problem)
        if problem:  # while tracing: raised after the call, as TensorFlow would wrap it in a StagingError
            self._violations.append(problem)
        return out

    def _fallback(self) -> Any:
        """The module that provides derived functions the impl lacks (e.g. ``decode``), if the contract names one."""
        name = self.contract.derived_fallback
        return importlib.import_module(name) if name else None

    def _forward_grad(self, tensors: dict, config: dict, cot: Any) -> tuple[Any, Any]:
        keys = self.contract.grad_args
        with tf.GradientTape() as tape:
            for k in keys:
                tape.watch(tensors[k])
            out = self._forward(tensors, config)
            outs = out if isinstance(out, (tuple, list)) else (out,)
            cots = cot if isinstance(cot, (tuple, list)) else (cot,)
            total = tf.add_n([tf.reduce_sum(tf.cast(o, c.dtype) * c) for o, c in zip(outs, cots, strict=True)])
        grads = tape.gradient(total, [tensors[k] for k in keys])
        return out, dict(zip(keys, grads, strict=True))

    def _compiled(self, which: str, config: dict) -> Callable:
        key = (which, _config_key(config))
        if key in self._cache:
            self._cache.move_to_end(key)
        else:
            if len(self._cache) >= MAX_FUNCTIONS:  # least recently used: releases its graphs (not XLA's executables)
                self._cache.popitem(last=False)
            body = self._forward if which == "value" else self._forward_grad
            fn = (lambda t: body(t, config)) if which == "value" else (lambda t, c: body(t, config, c))
            # one trace per input signature (shapes and dtypes): TensorFlow keys its own cache on it
            self._cache[key] = tf.function(fn, jit_compile=self.mode == "xla")
        return self._cache[key]

    def _split(self, args: dict) -> tuple[dict, dict]:
        tensors = {k: v for k, v in args.items() if k in self.contract.float_args or k in self.contract.int_args}
        config = {k: v for k, v in args.items() if k not in tensors}
        return tensors, config

    def value(self, args: dict) -> Any:
        tensors, config = self._split(args)
        with self._guard(args):
            if self.mode == "eager":
                return to_numpy(self._forward(tensors, config))
            try:
                return to_numpy(self._compiled("value", config)(tensors))
            except Exception as exc:
                self._mode_error(exc, lambda: self._forward(tensors, config))
                raise

    def value_and_grad(self, args: dict, cot: Any) -> tuple[Any, dict]:
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
        return to_numpy(out), {k: _grad_numpy(g) for k, g in grads.items()}

    @contextlib.contextmanager
    def _guard(self, args: dict) -> Iterator[None]:
        """Fail with :class:`ContractViolation` if the call mutates an argument or changes global state.

        Changed global settings are restored first, and traced functions are dropped, so that a later call
        (Hypothesis' replay, the next check) traces again and sees the same behaviour, and the suite's own
        computations never depend on what an implementation did.
        """
        before_args = {k: _snapshot(v) for k, v in args.items()}
        before_globals = global_state()
        self._violations = []
        try:
            yield
        except BaseException as exc:
            self._violations = []
            changed = restore_global_state(before_globals)
            if changed:
                self._cache.clear()
                exc.add_note(f"{self.contract.name} also changed global state (restored): {'; '.join(changed)}")
            raise
        changed = restore_global_state(before_globals)
        mutated = [k for k, v in args.items() if not _same(before_args[k], v)]
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

    def _mode_error(self, exc: Exception, eager: Callable[[], Any]) -> None:
        """Raise :class:`ModeError` if the call that failed in function/xla mode succeeds eagerly."""
        try:
            eager()
        except ContractViolation:
            raise  # e.g. .numpy() fails while tracing; eagerly, the clearer message
        except Exception:
            return  # fails eagerly too: a property of the inputs, not of the mode
        how = "tf.function(jit_compile=True)" if self.mode == "xla" else "tf.function"
        raise ModeError(f"{self.contract.name} runs eagerly but cannot run under {how} (mode {self.mode}): "
                        f"TensorFlow says {type(exc).__name__}: {exc}") from exc


class ModeError(RuntimeError):
    """An implementation that works eagerly cannot be traced (function mode) or compiled (xla mode)."""


class ContractViolation(AssertionError):
    """The implementation broke the calling contract (spec §7): it mutated an argument, returned something other
    than a ``tf.Tensor`` or a tensor of another dtype than its inputs', or changed global state."""


def _input_dtype(contract: Contract, tensors: dict) -> Any:
    """The dtype under test: the one floating dtype of the contract's float arguments (None if there is not one)."""
    dtypes = {t.dtype for k in contract.float_args if k in tensors
              for t in (tensors[k] if isinstance(tensors[k], (list, tuple)) else [tensors[k]])}
    return dtypes.pop() if len(dtypes) == 1 else None


def output_problem(name: str, out: Any, dtype: Any) -> str | None:
    """Why the outputs break the contract (not a ``tf.Tensor``, or floating but not ``dtype``), or None."""
    outs = as_tuple(out)
    for i, o in enumerate(outs):
        which = f"output {i}" if len(outs) > 1 else "its output"
        if o is None:
            continue  # reported by the checks, with the inputs
        if not tf.is_tensor(o):
            kind = f"a NumPy array ({type(o).__name__})" if isinstance(o, (np.ndarray, np.generic)) else \
                f"a {type(o).__module__}.{type(o).__name__}"
            return (f"{name} returned {kind} as {which} instead of a tf.Tensor: outputs must be TensorFlow tensors "
                    "(spec §7), computed with TensorFlow ops, not .numpy()")
        if dtype is not None and o.dtype.is_floating and o.dtype != dtype:
            return (f"{name} returned {o.dtype.name} as {which} for {dtype.name} inputs: floating outputs must have "
                    "the dtype under test (no casts to another precision)")
    return None


def _keras_modules() -> list[Any]:
    """The Keras packages in use (Keras 3 and, with TF_USE_LEGACY_KERAS, tf_keras): their global settings."""
    return [sys.modules[m] for m in ("keras", "tf_keras") if m in sys.modules]


def _globals() -> list[tuple[str, Callable[[], Any], Callable[[Any], Any]]]:
    """(what, getter, setter) for the global settings an implementation must not change."""
    out = []
    for k in _keras_modules():
        m = k.__name__
        out += [
            (f"the {m} global dtype policy (mixed_precision.set_global_policy)",
             lambda k=k: k.mixed_precision.global_policy().name, lambda v, k=k: k.mixed_precision.set_global_policy(v)),
            (f"{m}.backend.floatx()", lambda k=k: k.backend.floatx(), lambda v, k=k: k.backend.set_floatx(v)),
            (f"{m}.backend.epsilon()", lambda k=k: k.backend.epsilon(), lambda v, k=k: k.backend.set_epsilon(v)),
            (f"{m}.backend.image_data_format()", lambda k=k: k.backend.image_data_format(),
             lambda v, k=k: k.backend.set_image_data_format(v)),
        ]
    return out + [
        ("tf.config.run_functions_eagerly", tf.config.functions_run_eagerly, tf.config.run_functions_eagerly),
        ("tf.config.optimizer.set_jit", tf.config.optimizer.get_jit, lambda v: tf.config.optimizer.set_jit(v or False)),
        ("tf.config.experimental.enable_tensor_float_32_execution",
         tf.config.experimental.tensor_float_32_execution_enabled,
         tf.config.experimental.enable_tensor_float_32_execution),
        ("the NumPy error state (np.seterr)", np.geterr, lambda v: np.seterr(**v)),
        ("the NumPy print options (np.set_printoptions)", np.get_printoptions, lambda v: np.set_printoptions(**v)),
    ]


def global_state() -> dict[str, tuple[Any, Callable[[Any], Any]]]:
    """A snapshot of the global settings: what -> (value, setter)."""
    return {what: (get(), set_) for what, get, set_ in _globals()}


def restore_global_state(before: dict[str, tuple[Any, Callable[[Any], Any]]]) -> list[str]:
    """Restore every setting that differs from ``before``; return "what: old -> new" for each."""
    changed = []
    for what, (value, _) in global_state().items():
        if what in before and before[what][0] != value:
            changed.append(f"{what}: {before[what][0]!r} -> {value!r}")
            before[what][1](before[what][0])
    return changed


def _snapshot(v: Any) -> Any:
    """A copy of an argument's contents, to detect in-place changes (tensors, NumPy arrays, lists of them)."""
    if isinstance(v, np.ndarray):
        return v.copy()
    if isinstance(v, (list, tuple)):
        return type(v)(_snapshot(x) for x in v), list(v)
    if tf.is_tensor(v) and hasattr(v, "numpy"):
        return np.array(v.numpy(), copy=True)
    return v


def _same(before: Any, now: Any) -> bool:
    if isinstance(now, (list, tuple)):
        values, items = before
        return (len(items) == len(now) and all(a is b for a, b in zip(items, now, strict=True))
                and all(_same(b, x) for b, x in zip(values, now, strict=True)))
    if isinstance(before, np.ndarray):
        now = np.asarray(now.numpy()) if tf.is_tensor(now) else now  # .numpy() of a 0-d tensor is a NumPy scalar
        # bitwise, so that NaN inputs (and bfloat16, which has no NumPy kind) compare equal to themselves
        return (isinstance(now, np.ndarray) and before.shape == now.shape and before.dtype == now.dtype
                and before.tobytes() == now.tobytes())
    try:
        return bool(before == now)
    except Exception:  # objects without a truth-valued ==: not checked
        return True


def _grad_numpy(g: Any) -> Any:
    if isinstance(g, (list, tuple)):
        return [_grad_numpy(x) for x in g]
    if g is None:
        return None
    if isinstance(g, tf.IndexedSlices):
        g = tf.convert_to_tensor(g)
    return to_numpy(g)


def _config_key(config: dict) -> tuple:
    items = []
    for k, v in sorted(config.items()):
        items.append((k, v.tobytes() + str(v.shape).encode() if isinstance(v, np.ndarray) else repr(v)))
    return tuple(items)


def cotangent(contract: Contract, out_shapes: Any, seed: int, dtype: str) -> Any:
    """A random cotangent shaped like the output(s), rounded to ``dtype`` (float64 values); a tuple for several."""
    cots = cotangents(contract.n_outputs, out_shapes, seed, dtype)
    return cots if contract.n_outputs > 1 else cots[0]


def cot_tensor(cot: Any, dtype: str) -> Any:
    if isinstance(cot, tuple):
        return tuple(tf.constant(c, dtype=TF_DTYPES[dtype]) for c in cot)
    return tf.constant(cot, dtype=TF_DTYPES[dtype])
