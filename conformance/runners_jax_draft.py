"""Calling a JAX implementation under test: arrays in, NumPy float64 out, eagerly or under ``jax.jit``.

The same interface as the TensorFlow runner (``prepare``, ``Runner``, ``cotangent``,
``cot_tensor``, ``ModeError``); VJPs come from ``jax.vjp`` with the given cotangent.
float64 needs ``jax_enable_x64``, a process-wide switch: :func:`prepare` turns it on the
first time float64 is asked for and never off (the other dtypes work either way).
"""

from __future__ import annotations

import importlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from conformance.contracts.record import Contract
from conformance.numerics.dtypes import round_to
from conformance.numerics.tolerance import rounded as round_and_flush

MODES = ("eager", "jit")
MAX_FUNCTIONS = 64  # jitted functions kept per Runner (one per configuration; JAX traces each once per signature)
JAX_DTYPES = {"float16": jnp.float16, "bfloat16": jnp.bfloat16, "float32": jnp.float32, "float64": jnp.float64}
NP_CONFIG = {"float16": np.float16, "bfloat16": np.float32, "float32": np.float32, "float64": np.float64}
INT_DTYPE = jnp.int32
FALLBACK = "conformance.targets.reference_jax"  # the contracts' derived_fallback names the TensorFlow reference


def enable_x64(dtype: str) -> None:
    """Turn on ``jax_enable_x64`` when ``dtype`` is float64 (JAX silently computes in float32 otherwise)."""
    if dtype == "float64" and not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)


def prepare(contract: Contract, ex: dict, dtype: str) -> tuple[dict, dict]:
    """Round float inputs to ``dtype``: (float64 view for the oracle, arrays and config for the impl)."""
    enable_x64(dtype)
    rounded = dict(ex)
    impl_args: dict[str, Any] = {}
    jdt = JAX_DTYPES[dtype]
    for k, v in ex.items():
        if k in contract.float_args:
            rounded[k] = round_and_flush(dtype, v)  # XLA's CPU kernels flush subnormals too
            impl_args[k] = ([jnp.asarray(x, dtype=jdt) for x in rounded[k]] if isinstance(v, list)
                            else jnp.asarray(rounded[k], dtype=jdt))
        elif k in contract.int_args:
            impl_args[k] = jnp.asarray(np.asarray(v), dtype=INT_DTYPE)
        elif isinstance(v, np.ndarray):
            impl_args[k] = v.astype(NP_CONFIG[dtype]) if np.issubdtype(v.dtype, np.floating) else v
        else:
            impl_args[k] = v
    return rounded, impl_args


def to_numpy(out: Any) -> Any:
    """Impl output(s) as float64 NumPy arrays (tuples stay tuples, lists of gradients stay lists)."""
    if isinstance(out, list):
        return [to_numpy(o) for o in out]
    if isinstance(out, tuple):
        return tuple(to_numpy(o) for o in out)
    if out is None:
        return None
    return np.asarray(out).astype(np.float64)


def _config_key(config: dict) -> tuple:
    return tuple((k, v.tobytes() + str(v.shape).encode() if isinstance(v, np.ndarray) else repr(v))
                 for k, v in sorted(config.items()))


class Runner:
    """Calls one impl function eagerly or under ``jax.jit`` (one jitted function per configuration)."""

    def __init__(self, contract: Contract, fn: Callable, mode: str, impl: Any = None):
        if mode not in MODES:
            raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
        self.contract, self.fn, self.mode, self.impl = contract, fn, mode, impl
        self._cache: OrderedDict[tuple, Callable] = OrderedDict()

    def _forward(self, tensors: dict, config: dict) -> Any:
        return self.contract.invoke(self.fn, {**config, **tensors}, self.impl, self._fallback())

    def _fallback(self) -> Any:
        """Derived functions the impl lacks (``pred = decode(conv, ...)``) come from the JAX reference."""
        return importlib.import_module(FALLBACK) if self.contract.derived_fallback else None

    def _forward_grad(self, tensors: dict, config: dict, cot: Any) -> tuple[Any, dict]:
        keys = self.contract.grad_args
        rest = {k: v for k, v in tensors.items() if k not in keys}
        out, pullback = jax.vjp(lambda p: self._forward({**rest, **p}, config), {k: tensors[k] for k in keys})
        leaves, tree = jax.tree_util.tree_flatten(out)
        cots = cot if isinstance(cot, (tuple, list)) else (cot,)
        if len(cots) != len(leaves):
            raise ValueError(f"{self.contract.name} returned {len(leaves)} output(s), the contract has {len(cots)}")
        (grads,) = pullback(jax.tree_util.tree_unflatten(tree, [c.astype(o.dtype) for o, c in zip(leaves, cots,
                                                                                                  strict=True)]))
        return out, grads

    def _compiled(self, which: str, config: dict) -> Callable:
        key = (which, _config_key(config))
        if key in self._cache:
            self._cache.move_to_end(key)
        else:
            if len(self._cache) >= MAX_FUNCTIONS:
                self._cache.popitem(last=False)
            if which == "value":
                self._cache[key] = jax.jit(lambda t: self._forward(t, config))
            else:
                self._cache[key] = jax.jit(lambda t, c: self._forward_grad(t, config, c))
        return self._cache[key]

    def _split(self, args: dict) -> tuple[dict, dict]:
        tensors = {k: v for k, v in args.items() if k in self.contract.float_args or k in self.contract.int_args}
        return tensors, {k: v for k, v in args.items() if k not in tensors}

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
        return to_numpy(out), {k: to_numpy(g) for k, g in grads.items()}

    def _mode_error(self, exc: Exception, eager: Callable[[], Any]) -> None:
        """Raise :class:`ModeError` if the call that failed under ``jax.jit`` succeeds eagerly."""
        try:
            eager()
        except Exception:
            return  # fails eagerly too: a property of the inputs, not of the mode
        raise ModeError(f"{self.contract.name} runs eagerly but cannot run under jax.jit (mode {self.mode}): "
                        f"JAX says {type(exc).__name__}: {exc}") from exc


class ModeError(RuntimeError):
    """An implementation that works eagerly cannot be traced by ``jax.jit``."""


def cotangent(contract: Contract, out_shapes: Any, seed: int, dtype: str) -> Any:
    """A random cotangent shaped like the output(s), rounded to ``dtype`` (float64 values)."""
    rng = np.random.default_rng(seed)
    if contract.n_outputs > 1:
        return tuple(round_to(dtype, rng.standard_normal(np.shape(s))) for s in out_shapes)
    return round_to(dtype, rng.standard_normal(np.shape(out_shapes)))


def cot_tensor(cot: Any, dtype: str) -> Any:
    """The cotangent as JAX array(s) of ``dtype``."""
    enable_x64(dtype)
    if isinstance(cot, tuple):
        return tuple(jnp.asarray(c, dtype=JAX_DTYPES[dtype]) for c in cot)
    return jnp.asarray(cot, dtype=JAX_DTYPES[dtype])
