"""Calling a JAX implementation under test: arrays in, NumPy float64 out, eagerly or under ``jax.jit``.

The same interface as the TensorFlow runner (``prepare``, ``Runner``, ``cotangent``, ``cot_tensor``,
``MODES``); VJPs come from ``jax.vjp`` with the given cotangent.  float64 needs ``jax_enable_x64``, a
process-wide switch: :func:`activate` (called when the framework is selected) turns it on for the whole
run, so every dtype is what the suite asks for.  Mode ``jit`` (the default) traces once per configuration
and input signature, as ``tf.function`` does; ``eager`` calls the function op by op.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from conformance.contracts.record import Contract
from conformance.runners import base
from conformance.runners.base import ContractViolation, ModeError, config_key, config_value, cotangent  # noqa: F401

NAME = "jax"
MODES = ("eager", "jit")
DEFAULT_MODE = "jit"
JAX_DTYPES = {"float16": jnp.float16, "bfloat16": jnp.bfloat16, "float32": jnp.float32, "float64": jnp.float64}
INDEX_DTYPE = jnp.int32
INDEX_ITEMSIZE = 4
# Derived functions (``decode`` for loss_layer) an impl lacks: the contracts name the TensorFlow reference.
FALLBACK = "conformance.targets.reference_jax"


def activate() -> None:
    """Turn on ``jax_enable_x64`` for the run (JAX silently computes float64 inputs in float32 otherwise)."""
    if not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)


def prepare(contract: Contract, ex: dict, dtype: str) -> tuple[dict, dict]:
    """Round float inputs to ``dtype``: (float64 view for the oracle, arrays and config for the impl)."""
    activate()
    return base.prepare_args(contract, ex, dtype, lambda x: jnp.asarray(x, dtype=JAX_DTYPES[dtype]),
                             lambda x: jnp.asarray(x, dtype=INDEX_DTYPE))


def to_numpy(out: Any) -> Any:
    """Impl output(s) as float64 NumPy arrays (tuples stay tuples, lists of gradients stay lists)."""
    if isinstance(out, list):
        return [to_numpy(o) for o in out]
    if isinstance(out, tuple):
        return tuple(to_numpy(o) for o in out)
    if out is None:
        return None
    return np.asarray(out).astype(np.float64)


def _is_float(dtype: Any) -> bool:
    return bool(jnp.issubdtype(dtype, jnp.floating))


def output_problem(name: str, out: Any, dtype: Any) -> str | None:
    """Why the outputs break the contract (not a ``jax.Array``, or floating but not ``dtype``), or None."""
    return base.output_problem(name, out, dtype, lambda o: isinstance(o, jax.Array), "jax.Array",
                               lambda o: o.dtype if _is_float(o.dtype) else None, lambda d: np.dtype(d).name, "JAX")


class Runner(base.BaseRunner):
    """Calls one impl function eagerly or under ``jax.jit`` (one jitted function per configuration)."""

    MODES = MODES
    WHO = "JAX"
    fallback_module = FALLBACK

    def _forward(self, tensors: dict, config: dict) -> Any:
        out = self.contract.invoke(self.fn, {**config, **tensors}, self.impl, self._fallback())
        # Under jax.jit and jax.vjp the outputs are tracers (jax.Array too); an exception raised while tracing
        # reaches the caller unchanged.
        problem = output_problem(self.contract.name, out, base.input_dtype(self.contract, tensors))
        if problem:
            raise ContractViolation(problem)
        return out

    def _forward_grad(self, tensors: dict, config: dict, cot: Any) -> tuple[Any, dict]:
        keys = self.contract.grad_args
        rest = {k: v for k, v in tensors.items() if k not in keys}
        out, pullback = jax.vjp(lambda p: self._forward({**rest, **p}, config), {k: tensors[k] for k in keys})
        leaves, tree = jax.tree_util.tree_flatten(out)
        cots = cot if isinstance(cot, (tuple, list)) else (cot,)
        if len(cots) != len(leaves):
            raise ContractViolation(f"{self.contract.name} returned {len(leaves)} output(s), the contract has "
                                    f"{len(cots)}")
        (grads,) = pullback(jax.tree_util.tree_unflatten(tree, [c.astype(o.dtype) for o, c in
                                                                 zip(leaves, cots, strict=True)]))
        return out, grads

    def _compiled(self, which: str, config: dict) -> Callable:
        def make() -> Callable:
            if which == "value":
                return jax.jit(lambda t: self._forward(t, config))
            return jax.jit(lambda t, c: self._forward_grad(t, config, c))

        return self._cached((which, config_key(config)), make)

    def call(self, direction: str, args: dict, cot: Any = None) -> Callable[[], Any]:
        """Zero-argument callable doing what :meth:`value` / :meth:`value_and_grad` do, minus the host copy."""
        tensors, config = self._split(args)
        which = "value" if direction == "fwd" else "grad"
        if self.mode == "eager":
            return ((lambda: self._forward(tensors, config)) if which == "value"
                    else (lambda: self._forward_grad(tensors, config, cot)))
        f = self._compiled(which, config)
        return (lambda: f(tensors)) if which == "value" else (lambda: f(tensors, cot))

    def to_numpy(self, out: Any) -> Any:
        return to_numpy(out)

    def compiler(self) -> str:
        return "jax.jit"

    def settings(self) -> list[base.Global]:
        return base.keras_globals() + _jax_globals() + base.numpy_globals()

    def host_copy(self, v: Any) -> np.ndarray | None:
        return np.array(v, copy=True) if isinstance(v, jax.Array) else None


def _jax_globals() -> list[base.Global]:
    def option(name: str) -> base.Global:
        return (f"jax.config.{name}", lambda: getattr(jax.config, name), lambda v: jax.config.update(name, v))

    return [option(n) for n in ("jax_enable_x64", "jax_default_matmul_precision", "jax_numpy_rank_promotion",
                                "jax_debug_nans", "jax_disable_jit", "jax_default_device")]


def device_name() -> str:
    """JAX's default device (``jax.devices()[0]``)."""
    d = jax.devices()[0]
    return base.cpu_name() if d.platform == "cpu" else f"{d.platform.upper()}: {d.device_kind}"


# --------------------------------------------------------------------------- timing hooks (conformance.checks.timing)


def timing_device() -> dict[str, Any]:
    d = jax.devices()[0]
    return {"device": device_name().split(": ", 1)[1], "device_kind": d.platform.upper(), "tf_device": None,
            "note": "" if d.platform != "cpu" else "no accelerator visible to JAX: timing the CPU",
            "tf_version": None, "framework_version": f"JAX {jax.__version__}"}


def placed(device: dict[str, Any]) -> Any:
    return contextlib.nullcontext()  # arrays are created on JAX's default device


def to_device(v: Any) -> Any:
    return v


def block(out: Any, gpu: bool) -> None:
    """Wait until ``out`` is computed (JAX dispatches asynchronously on every device)."""
    jax.block_until_ready(out)


def shapes(out: Any) -> list[tuple[int, ...]]:
    return [tuple(int(n) for n in np.shape(o)) for o in (out if isinstance(out, (tuple, list)) else (out,))]


def all_finite(out: Any) -> bool:
    return all(bool(jnp.all(jnp.isfinite(t))) for t in jax.tree_util.tree_leaves(out)
               if isinstance(t, jax.Array) and _is_float(t.dtype))


def copy_kernels(n: int) -> dict[str, tuple[Callable[[], Any], int]]:
    """name -> (call, bytes moved) over ``n`` float32: y = x·s into a fresh output, jitted (JAX has no in-place)."""
    x = jax.random.uniform(jax.random.PRNGKey(0), (n,), dtype=jnp.float32)
    s = jnp.float32(1.0)
    scale = jax.jit(lambda x, s: x * s)
    return {"copy": (lambda: scale(x, s), 2 * n * 4)}


def cot_tensor(cot: Any, dtype: str) -> Any:
    """The cotangent as JAX array(s) of ``dtype``."""
    activate()
    if isinstance(cot, tuple):
        return tuple(jnp.asarray(c, dtype=JAX_DTYPES[dtype]) for c in cot)
    return jnp.asarray(cot, dtype=JAX_DTYPES[dtype])
