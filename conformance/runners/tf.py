"""Calling a TensorFlow implementation under test: tensors in, NumPy float64 out, in eager, function or xla mode."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

from conformance.contracts.record import Contract  # noqa: E402
from conformance.runners import base  # noqa: E402
from conformance.runners.base import (  # noqa: E402, F401
    MAX_FUNCTIONS,
    NP_CONFIG,
    ContractViolation,
    ModeError,
    config_value,
    cotangent,
)
from conformance.runners.base import config_key as _config_key  # noqa: E402, F401

NAME = "tf"
MODES = ("eager", "function", "xla")
DEFAULT_MODE = "eager"
# tf.functions kept per Runner (base.MAX_FUNCTIONS, one per configuration; TensorFlow traces each once per input
# signature).  Every trace holds graphs of several MB and XLA keeps each compiled executable for the process'
# lifetime, so long function/xla runs grow by ~5-17 MB per distinct (configuration, shape) signature
# (docs/tolerances.md, "Modes").
TF_DTYPES = {"float16": tf.float16, "bfloat16": tf.bfloat16, "float32": tf.float32, "float64": tf.float64}
INDEX_ITEMSIZE = 4  # integer arguments travel as int32


def prepare(contract: Contract, ex: dict, dtype: str) -> tuple[dict, dict]:
    """Round float inputs to ``dtype``: (float64 view for the oracle, tensors and config for the impl)."""
    return base.prepare_args(contract, ex, dtype, lambda x: tf.constant(x, dtype=TF_DTYPES[dtype]),
                             lambda x: tf.constant(x, dtype=tf.int32))


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


class Runner(base.BaseRunner):
    """Calls one impl function in a given mode, tracing once per shape and configuration."""

    MODES = MODES
    WHO = "TensorFlow"

    def _forward(self, tensors: dict, config: dict) -> Any:
        out = self.contract.invoke(self.fn, {**config, **tensors}, self.impl, self._fallback())
        problem = output_problem(self.contract.name, out, base.input_dtype(self.contract, tensors))
        if problem and tf.executing_eagerly():
            raise ContractViolation(problem)
        if problem:  # while tracing: raised after the call, as TensorFlow would wrap it in a StagingError
            self._violations.append(problem)
        return out

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
        def make() -> Callable:
            body = self._forward if which == "value" else self._forward_grad
            fn = (lambda t: body(t, config)) if which == "value" else (lambda t, c: body(t, config, c))
            # one trace per input signature (shapes and dtypes): TensorFlow keys its own cache on it
            return tf.function(fn, jit_compile=self.mode == "xla")

        # least recently used dropped first: releases its graphs (not XLA's executables)
        return self._cached((which, _config_key(config)), make)

    def call(self, direction: str, args: dict, cot: Any = None) -> Callable[[], Any]:
        """Zero-argument callable doing what :meth:`value` / :meth:`value_and_grad` do, minus the host copy."""
        tensors, config = self._split(args)
        if direction == "fwd":
            if self.mode == "eager":
                return lambda: self._forward(tensors, config)
            f = self._compiled("value", config)
            return lambda: f(tensors)
        if self.mode == "eager":
            return lambda: self._forward_grad(tensors, config, cot)
        g = self._compiled("grad", config)
        return lambda: g(tensors, cot)

    def to_numpy(self, out: Any) -> Any:
        return to_numpy(out)

    def grad_to_numpy(self, g: Any) -> Any:
        return _grad_numpy(g)

    def settings(self) -> list[base.Global]:
        return base.keras_globals() + _tf_globals() + base.numpy_globals()

    def host_copy(self, v: Any) -> np.ndarray | None:
        # .numpy() of a 0-d tensor is a NumPy scalar
        return np.array(v.numpy(), copy=True) if tf.is_tensor(v) and hasattr(v, "numpy") else None

    def compiler(self) -> str:
        return "tf.function(jit_compile=True)" if self.mode == "xla" else "tf.function"


def output_problem(name: str, out: Any, dtype: Any) -> str | None:
    """Why the outputs break the contract (not a ``tf.Tensor``, or floating but not ``dtype``), or None."""
    return base.output_problem(name, out, dtype, tf.is_tensor, "tf.Tensor",
                               lambda o: o.dtype if o.dtype.is_floating else None, lambda d: d.name, "TensorFlow")


def _tf_globals() -> list[base.Global]:
    return [
        ("tf.config.run_functions_eagerly", tf.config.functions_run_eagerly, tf.config.run_functions_eagerly),
        ("tf.config.optimizer.set_jit", tf.config.optimizer.get_jit, lambda v: tf.config.optimizer.set_jit(v or False)),
        ("tf.config.experimental.enable_tensor_float_32_execution",
         tf.config.experimental.tensor_float_32_execution_enabled,
         tf.config.experimental.enable_tensor_float_32_execution),
    ]


def global_state() -> dict[str, tuple[Any, Callable[[Any], Any]]]:
    """A snapshot of the global settings: what -> (value, setter)."""
    return base.snapshot_state(base.keras_globals() + _tf_globals() + base.numpy_globals())


def restore_global_state(before: dict[str, tuple[Any, Callable[[Any], Any]]]) -> list[str]:
    """Restore every setting that differs from ``before``; return "what: old -> new" for each."""
    return base.restore_state(before, base.keras_globals() + _tf_globals() + base.numpy_globals())


def _grad_numpy(g: Any) -> Any:
    if isinstance(g, (list, tuple)):
        return [_grad_numpy(x) for x in g]
    if g is None:
        return None
    if isinstance(g, tf.IndexedSlices):
        g = tf.convert_to_tensor(g)
    return to_numpy(g)


def device_name() -> str:
    """The device TensorFlow places ops on by default: the first GPU if it sees one, else the CPU."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return f"GPU: {tf.config.experimental.get_device_details(gpus[0]).get('device_name', gpus[0].name)}"
    return base.cpu_name()


# --------------------------------------------------------------------------- timing hooks (conformance.checks.timing)


def timing_device() -> dict[str, Any]:
    """The device timed (the first GPU if TensorFlow sees one, else the CPU): device, device_kind, placement, note."""
    gpu = bool(tf.config.list_physical_devices("GPU"))
    return {"device": device_name().split(": ", 1)[1], "device_kind": "GPU" if gpu else "CPU",
            "tf_device": "/GPU:0" if gpu else "/CPU:0", "note": "" if gpu else "no GPU visible: timing the CPU",
            "tf_version": tf.__version__, "framework_version": f"TensorFlow {tf.__version__}"}


def placed(device: dict[str, Any]) -> Any:
    """A context placing new tensors on the timed device."""
    return tf.device(device["tf_device"])


def to_device(v: Any) -> Any:
    """Tensors (also inside lists and tuples) copied onto the current device; anything else unchanged."""
    if isinstance(v, (list, tuple)):
        return type(v)(to_device(x) for x in v)
    return tf.identity(v) if isinstance(v, tf.Tensor) else v


def block(out: Any, gpu: bool) -> None:
    """Wait until ``out`` is computed (every queued kernel on a GPU)."""
    if gpu:
        tf.test.experimental.sync_devices()
        return
    for t in tf.nest.flatten(out, expand_composites=True):
        if hasattr(t, "numpy"):
            t.numpy()  # a host tensor: no copy, but waits until it is computed


def shapes(out: Any) -> list[tuple[int, ...]]:
    return [tuple(int(n) for n in tf.convert_to_tensor(o).shape) for o in (out if isinstance(out, (tuple, list))
                                                                            else (out,))]


def all_finite(out: Any) -> bool:
    for t in tf.nest.flatten(out, expand_composites=True):
        if isinstance(t, tf.Tensor) and t.dtype.is_floating and not bool(tf.reduce_all(tf.math.is_finite(t))):
            return False
    return True


def copy_kernels(n: int) -> dict[str, tuple[Callable[[], Any], int]]:
    """name -> (call, bytes moved) over ``n`` float32: y = x·s into a fresh output, v += x on a variable."""
    x = tf.random.uniform([n], dtype=tf.float32)
    s = tf.constant(1.0, tf.float32)
    v = tf.Variable(tf.zeros([n], tf.float32))
    scale = tf.function(lambda x, s: x * s)

    @tf.function
    def accumulate(x: tf.Tensor) -> None:
        v.assign_add(x, read_value=False)

    return {"copy": (lambda: scale(x, s), 2 * n * 4), "inplace": (lambda: accumulate(x), 3 * n * 4)}


def cot_tensor(cot: Any, dtype: str) -> Any:
    """The cotangent (float64 values exact in ``dtype``) as tensor(s) of ``dtype``."""
    if isinstance(cot, tuple):
        return tuple(tf.constant(c, dtype=TF_DTYPES[dtype]) for c in cot)
    return tf.constant(cot, dtype=TF_DTYPES[dtype])
