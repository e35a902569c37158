"""Measure how the active framework accumulates its reductions in a dtype and mode.

The probes run the framework's own reductions (sum over the last and over the first axis, mean, logsumexp,
softmax, matrix-vector product) on inputs exact in the dtype, compiled as the mode compiles (``tf.function``,
XLA, ``jax.jit``; PyTorch's ``compile`` mode is probed eagerly), and
:func:`conformance.numerics.arithmetic.classify` reads their errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from conformance.numerics import arithmetic
from conformance.numerics.arithmetic import ALL, REDUCTIONS
from conformance.numerics.dtypes import info


def _tf_ops(mode: str) -> tuple[Callable, Callable, dict[str, Callable]]:
    import tensorflow as tf

    def power(x: Any) -> Any:
        return tf.concat([tf.pow(x, tf.cast(2, x.dtype)), tf.pow(x, tf.cast(4, x.dtype))], 0)

    kernels = {"exp": tf.exp, "expm1": tf.math.expm1, "log": tf.math.log, "log1p": tf.math.log1p,
               "sigmoid": tf.sigmoid, "softplus": tf.nn.softplus, "tanh": tf.tanh, "atan": tf.atan,
               "sqrt": tf.sqrt, "pow": power}

    def column_sum(x: Any) -> Any:
        return tf.reduce_sum(tf.transpose(x), axis=0)

    def matvec(x: Any) -> Any:
        return tf.linalg.matvec(x, tf.ones([x.shape[1]], x.dtype))

    def sum_all(x: Any) -> Any:
        return tf.reduce_sum(x[:ALL]) + 0 * tf.reduce_sum(x[:ALL], axis=1)

    ops = {"sum": tf.reduce_sum, "sum_all": sum_all, "sum_axis0": column_sum, "mean": tf.reduce_mean,
           "logsumexp": tf.reduce_logsumexp, "softmax": tf.nn.softmax, "matvec": matvec}
    ops = {k: (f if k in ("sum_all", "sum_axis0", "matvec") else _last_axis(f, "axis")) for k, f in ops.items()}
    ops.update({f"kernel:{k}": f for k, f in kernels.items()})
    ops.update(_operations())
    if mode in ("function", "xla"):
        ops = {k: tf.function(f, jit_compile=mode == "xla", autograph=False) for k, f in ops.items()}

    def tensor(x: np.ndarray, dtype: str) -> Any:
        return tf.cast(tf.constant(x.astype(np.float32)), getattr(tf, dtype))

    return tensor, lambda t: tf.cast(t, tf.float64).numpy(), ops


def _jax_ops(mode: str) -> tuple[Callable, Callable, dict[str, Callable]]:
    import jax
    import jax.numpy as jnp

    ops = {"sum": jnp.sum, "mean": jnp.mean, "logsumexp": jax.nn.logsumexp, "softmax": jax.nn.softmax}
    ops = {k: _last_axis(f, "axis") for k, f in ops.items()}
    ops["sum_all"] = lambda x: jnp.sum(x[:ALL]) + 0 * jnp.sum(x[:ALL], axis=1)
    ops["sum_axis0"] = lambda x: jnp.sum(x.T, axis=0)
    ops["matvec"] = lambda x: x @ jnp.ones(x.shape[1], x.dtype)
    kernels = {"exp": jnp.exp, "expm1": jnp.expm1, "log": jnp.log, "log1p": jnp.log1p, "sigmoid": jax.nn.sigmoid,
               "softplus": jax.nn.softplus, "tanh": jnp.tanh, "atan": jnp.arctan, "sqrt": jnp.sqrt,
               "pow": lambda x: jnp.concatenate([jnp.power(x, jnp.asarray(2, x.dtype)),
                                                 jnp.power(x, jnp.asarray(4, x.dtype))])}
    ops.update({f"kernel:{k}": f for k, f in kernels.items()})
    ops.update(_operations())
    if mode == "jit":
        ops = {k: jax.jit(f) for k, f in ops.items()}

    def tensor(x: np.ndarray, dtype: str) -> Any:
        return jnp.asarray(x.astype(np.float32)).astype(getattr(jnp, dtype))

    return tensor, lambda t: np.asarray(t.astype(jnp.float32), dtype=np.float64), ops


def _torch_ops(mode: str) -> tuple[Callable, Callable, dict[str, Callable]]:
    import torch

    ops = {"sum": torch.sum, "mean": torch.mean, "logsumexp": torch.logsumexp, "softmax": torch.softmax}
    ops = {k: _last_axis(f, "dim") for k, f in ops.items()}
    ops["sum_all"] = lambda x: torch.sum(x[:ALL]) + 0 * torch.sum(x[:ALL], dim=1)
    ops["sum_axis0"] = lambda x: torch.sum(x.T, dim=0)
    ops["matvec"] = lambda x: x @ torch.ones(x.shape[1], dtype=x.dtype)
    kernels = {"exp": torch.exp, "expm1": torch.expm1, "log": torch.log, "log1p": torch.log1p,
               "sigmoid": torch.sigmoid, "softplus": torch.nn.functional.softplus, "tanh": torch.tanh,
               "atan": torch.atan, "sqrt": torch.sqrt,
               "pow": lambda x: torch.cat([torch.pow(x, 2.0), torch.pow(x, 4.0)])}
    ops.update({f"kernel:{k}": f for k, f in kernels.items()})
    ops.update(_operations())

    def tensor(x: np.ndarray, dtype: str) -> Any:
        return torch.tensor(x.astype(np.float32)).to(getattr(torch, dtype))

    return tensor, lambda t: t.detach().to(torch.float64).numpy(), ops


def _operations() -> dict[str, Callable]:
    """+, −, ×, ÷ of the two rows of a (2, n) tensor, with the framework's operators."""
    return {"op:add": lambda x: x[0] + x[1], "op:sub": lambda x: x[0] - x[1], "op:mul": lambda x: x[0] * x[1],
            "op:div": lambda x: x[0] / x[1]}


def _last_axis(f: Callable, keyword: str) -> Callable:
    return lambda x: f(x, **{keyword: 1})


_INPUT = {"logsumexp": "near_zero", "softmax": "near_zero", "sum@blocks": "blocks"}
OPS = {"tf": _tf_ops, "jax": _jax_ops, "torch": _torch_ops}


def measure(framework: str, mode: str, dtype: str) -> arithmetic.Arithmetic:
    """Run the probes of ``framework`` (``tf``, ``jax`` or ``torch``) in ``mode`` and classify them for ``dtype``."""
    tensor, host, ops = OPS[framework](mode)
    x = arithmetic.probe_inputs(dtype)
    got = {k: host(ops[k.split("@")[0]](tensor(x[_INPUT.get(k, "near_one")], dtype))) for k in REDUCTIONS}
    how = "eagerly" if framework == "torch" and mode == "compile" else mode
    kernels, profiles, nearest = {}, {}, False
    if info(dtype).unit_roundoff > arithmetic.U32:  # float16, bfloat16: every input can be tried
        inputs = arithmetic.kernel_inputs(dtype)
        t = tensor(inputs, dtype)
        kernels, profiles = arithmetic.measure_kernels(dtype, inputs, {k: host(ops[f"kernel:{k}"](t))
                                                                      for k in arithmetic.KERNELS})
        a, b = arithmetic.operand_pairs(dtype)
        pair = tensor(np.stack([a, b]), dtype)
        nearest = arithmetic.rounds_to_nearest(dtype, a, b, {k: host(ops[f"op:{k}"](pair))
                                                             for k in arithmetic.OPERATIONS})
    return arithmetic.classify(dtype, f"measured: {framework} {how}", arithmetic.reduction_errors(dtype, x, got),
                               kernels, profiles, nearest)


def ensure(framework: str, mode: str, dtype: str) -> arithmetic.Arithmetic:
    """The arithmetic for ``dtype``, measured once per (framework, mode, dtype) and installed for the run (again
    after :func:`conformance.numerics.arithmetic.reset` or another framework's or mode's measurement)."""
    key = (framework, mode, dtype, arithmetic.policy())
    if key not in _MEASURED:
        _MEASURED[key] = (measure(framework, mode, dtype) if arithmetic.policy() == "measured"
                          else arithmetic.worst_case(dtype))
    installed = _INSTALLED.get(dtype)
    if installed is None or installed[0] != key or installed[1] is not arithmetic.current(dtype):
        arithmetic.use(_MEASURED[key])  # not installed yet, or replaced since (a reset, another use)
        _INSTALLED[dtype] = (key, arithmetic.current(dtype))
    return arithmetic.current(dtype)


_MEASURED: dict[tuple, arithmetic.Arithmetic] = {}
_INSTALLED: dict[str, tuple] = {}
