"""Calling an implementation under test: tensors in, NumPy float64 out, in eager, function or xla mode."""

from __future__ import annotations

import importlib
import os
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

from conformance.contracts.record import Contract  # noqa: E402
from conformance.numerics.dtypes import round_to  # noqa: E402
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

    def _forward(self, tensors: dict, config: dict) -> Any:
        return self.contract.invoke(self.fn, {**config, **tensors}, self.impl, self._fallback())

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
        if self.mode == "eager":
            return to_numpy(self._forward(tensors, config))
        try:
            return to_numpy(self._compiled("value", config)(tensors))
        except Exception as exc:
            self._mode_error(exc, lambda: self._forward(tensors, config))
            raise

    def value_and_grad(self, args: dict, cot: Any) -> tuple[Any, dict]:
        tensors, config = self._split(args)
        if self.mode == "eager":
            out, grads = self._forward_grad(tensors, config, cot)
        else:
            try:
                out, grads = self._compiled("grad", config)(tensors, cot)
            except Exception as exc:
                self._mode_error(exc, lambda: self._forward_grad(tensors, config, cot))
                raise
        return to_numpy(out), {k: _grad_numpy(g) for k, g in grads.items()}

    def _mode_error(self, exc: Exception, eager: Callable[[], Any]) -> None:
        """Raise :class:`ModeError` if the call that failed in function/xla mode succeeds eagerly."""
        try:
            eager()
        except Exception:
            return  # fails eagerly too: a property of the inputs, not of the mode
        how = "tf.function(jit_compile=True)" if self.mode == "xla" else "tf.function"
        raise ModeError(f"{self.contract.name} runs eagerly but cannot run under {how} (mode {self.mode}): "
                        f"TensorFlow says {type(exc).__name__}: {exc}") from exc


class ModeError(RuntimeError):
    """An implementation that works eagerly cannot be traced (function mode) or compiled (xla mode)."""


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
    """A random cotangent shaped like the output(s), rounded to ``dtype`` (float64 values)."""
    rng = np.random.default_rng(seed)
    if contract.n_outputs > 1:
        return tuple(round_to(dtype, rng.standard_normal(np.shape(s))) for s in out_shapes)
    return round_to(dtype, rng.standard_normal(np.shape(out_shapes)))


def cot_tensor(cot: Any, dtype: str) -> Any:
    if isinstance(cot, tuple):
        return tuple(tf.constant(c, dtype=TF_DTYPES[dtype]) for c in cot)
    return tf.constant(cot, dtype=TF_DTYPES[dtype])
