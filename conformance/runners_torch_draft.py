"""Calling a PyTorch implementation under test: tensors in, NumPy float64 out, eagerly or under torch.compile.

The same public interface as the TensorFlow runner (``prepare``, ``Runner`` with ``value`` and
``value_and_grad``, ``cotangent``, ``cot_tensor``, ``ModeError``, ``MODES``), so the generic checks
run unchanged on a PyTorch implementation:

- float arguments become CPU tensors of the dtype under test, rounded and flushed to zero
  below the smallest normal exactly as the TensorFlow runner hands them over (so the oracle
  judges the same inputs); integer arguments (labels, gather indices) become int64 tensors,
  PyTorch's index type;
- gradients are vector-Jacobian products by ``torch.autograd.grad`` with the given cotangent;
  an argument the output does not depend on has gradient ``None`` (as ``tf.GradientTape``
  reports it);
- mode ``compile`` wraps the call in ``torch.compile(dynamic=False)`` (TorchInductor), one
  wrapper per configuration and one graph per input signature; the backward pass is the one
  AOTAutograd compiles with the forward.  The recompile limit is raised and made an error, so
  that a compile mode run never falls back to eager silently.  As torch.compile does by default
  (``fullgraph=False``), code Dynamo cannot trace (``.item()``, ``raise``) is a graph break and
  runs eagerly between compiled graphs; only a failure of the compiler itself is a ModeError.
"""

from __future__ import annotations

import importlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from conformance.contracts.record import Contract
from conformance.numerics.dtypes import round_to
from conformance.numerics.tolerance import rounded as round_and_flush

MODES = ("eager", "compile")
# torch.compile wrappers kept per Runner (one per configuration), least recently used dropped first.
MAX_FUNCTIONS = 64
TORCH_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
                "float64": torch.float64}
NP_CONFIG = {"float16": np.float16, "bfloat16": np.float32, "float32": np.float32, "float64": np.float64}
INDEX_DTYPE = torch.int64
# Derived functions (``decode`` for loss_layer) an impl lacks come from this module, whatever TF module the
# contract names as its fallback.
DERIVED_FALLBACK = "conformance.targets.reference_torch"
# Every example shape and configuration is a recompile of the one traced frame; 8 (the default) would make
# torch.compile fall back to eager after a few examples.  Hitting the limit raises instead.
RECOMPILE_LIMIT = 1024
# One compiled graph per input signature (shapes, configuration), as tf.function traces once per signature.
# With dynamic shapes (torch.compile's default after a recompile) TorchInductor 2.13 on CPU fails to compile
# the backward of the reference decode ("For s75 + 5, expected [s75] to have been codegen-ed") after a few
# examples of differing shapes and num_class: a compiler bug, not the implementation's.
COMPILE_DYNAMIC = False


def _to_tensor(values: np.ndarray, dtype: str) -> torch.Tensor:
    """float64 values exact in ``dtype`` as a tensor of that dtype (through NumPy where NumPy has the dtype)."""
    if dtype == "bfloat16":  # exact in float32, then an exact cast
        return torch.from_numpy(np.asarray(values, dtype=np.float32)).to(torch.bfloat16)
    return torch.from_numpy(np.asarray(values, dtype=NP_CONFIG[dtype]).copy())


def prepare(contract: Contract, ex: dict, dtype: str) -> tuple[dict, dict]:
    """Round float inputs to ``dtype``: (float64 view for the oracle, tensors and config for the impl)."""
    rounded = dict(ex)
    impl_args: dict[str, Any] = {}
    for k, v in ex.items():
        if k in contract.float_args:
            rounded[k] = round_and_flush(dtype, v)  # as the TF runner: the oracle judges the same inputs
            impl_args[k] = ([_to_tensor(x, dtype) for x in rounded[k]] if isinstance(v, list)
                            else _to_tensor(rounded[k], dtype))
        elif k in contract.int_args:
            impl_args[k] = torch.as_tensor(np.asarray(v), dtype=INDEX_DTYPE)
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
    if isinstance(out, torch.Tensor):
        t = out.detach().cpu()
        return (t.to(torch.float64) if t.dtype != torch.float64 else t).numpy().astype(np.float64, copy=True)
    return np.asarray(out, dtype=np.float64)


def _leaf(t: Any) -> Any:
    """A fresh leaf tensor that requires grad (lists element by element); the caller's tensor is untouched."""
    if isinstance(t, (list, tuple)):
        return [_leaf(x) for x in t]
    return t.detach().clone().requires_grad_(True)


def _flat(x: Any) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


class Runner:
    """Calls one impl function eagerly or under ``torch.compile`` (one compiled wrapper per configuration)."""

    def __init__(self, contract: Contract, fn: Callable, mode: str, impl: Any = None):
        if mode not in MODES:
            raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
        self.contract, self.fn, self.mode, self.impl = contract, fn, mode, impl
        self._cache: OrderedDict[tuple, Callable] = OrderedDict()
        # resolved here, not inside the compiled call: Dynamo does not trace importlib (a graph break)
        self._fallback = importlib.import_module(DERIVED_FALLBACK) if contract.derived_fallback else None
        if mode == "compile":
            _configure_dynamo()

    def _forward(self, tensors: dict, config: dict) -> Any:
        return self.contract.invoke(self.fn, {**config, **tensors}, self.impl, self._fallback)

    def _call(self, tensors: dict, config: dict) -> Any:
        if self.mode == "eager":
            return self._forward(tensors, config)
        return self._compiled(config)(tensors)

    def _compiled(self, config: dict) -> Callable:
        key = _config_key(config)
        if key in self._cache:
            self._cache.move_to_end(key)
        else:
            if len(self._cache) >= MAX_FUNCTIONS:
                self._cache.popitem(last=False)
            self._cache[key] = torch.compile(lambda t: self._forward(t, config), dynamic=COMPILE_DYNAMIC)
        return self._cache[key]

    def _split(self, args: dict) -> tuple[dict, dict]:
        tensors = {k: v for k, v in args.items() if k in self.contract.float_args or k in self.contract.int_args}
        config = {k: v for k, v in args.items() if k not in tensors}
        return tensors, config

    def value(self, args: dict) -> Any:
        tensors, config = self._split(args)
        with torch.no_grad():
            try:
                return to_numpy(self._call(tensors, config))
            except Exception as exc:
                if self.mode != "eager":
                    self._mode_error(exc, lambda: self._forward(tensors, config))
                raise

    def _value_and_grad(self, tensors: dict, config: dict, cot: Any) -> tuple[Any, dict]:
        keys = self.contract.grad_args
        tensors = {k: (_leaf(v) if k in keys else v) for k, v in tensors.items()}
        with torch.enable_grad():
            out = self._call(tensors, config)
            outs = out if isinstance(out, (tuple, list)) else (out,)
            cots = cot if isinstance(cot, (tuple, list)) else (cot,)
            total = sum(torch.sum(torch.as_tensor(o).to(c.dtype) * c) for o, c in zip(outs, cots, strict=True))
        inputs = [x for k in keys for x in _flat(tensors[k])]
        if isinstance(total, torch.Tensor) and total.requires_grad:
            flat = list(torch.autograd.grad(total, inputs, allow_unused=True))
        else:  # the output does not depend on any differentiable argument
            flat = [None] * len(inputs)
        grads = {}
        for k in keys:
            n = len(_flat(tensors[k]))
            part, flat = flat[:n], flat[n:]
            grads[k] = part if isinstance(tensors[k], list) else part[0]
        return out, grads

    def value_and_grad(self, args: dict, cot: Any) -> tuple[Any, dict]:
        tensors, config = self._split(args)
        try:
            out, grads = self._value_and_grad(tensors, config, cot)
        except Exception as exc:
            if self.mode != "eager":
                self._mode_error(exc, lambda: self._value_and_grad(tensors, config, cot))
            raise
        return to_numpy(out), {k: _grad_numpy(g) for k, g in grads.items()}

    def _mode_error(self, exc: Exception, eager: Callable[[], Any]) -> None:
        """Raise :class:`ModeError` if the call that failed under torch.compile succeeds eagerly."""
        mode, self.mode = self.mode, "eager"
        try:
            eager()
        except Exception:
            return  # fails eagerly too: a property of the inputs, not of the mode
        finally:
            self.mode = mode
        raise ModeError(f"{self.contract.name} runs eagerly but cannot run under torch.compile (mode {self.mode}): "
                        f"PyTorch says {type(exc).__name__}: {exc}") from exc


class ModeError(RuntimeError):
    """An implementation that works eagerly cannot be compiled (mode ``compile``)."""


def _configure_dynamo() -> None:
    import torch._dynamo.config as dynamo_config

    dynamo_config.recompile_limit = max(dynamo_config.recompile_limit, RECOMPILE_LIMIT)
    dynamo_config.accumulated_recompile_limit = max(dynamo_config.accumulated_recompile_limit, RECOMPILE_LIMIT)
    dynamo_config.fail_on_recompile_limit_hit = True


def _grad_numpy(g: Any) -> Any:
    if isinstance(g, (list, tuple)):
        return [_grad_numpy(x) for x in g]
    if g is None:
        return None
    return to_numpy(g)


def _config_key(config: dict) -> tuple:
    items = []
    for k, v in sorted(config.items()):
        items.append((k, v.tobytes() + str(v.shape).encode() + str(v.dtype).encode() if isinstance(v, np.ndarray)
                      else repr(v)))
    return tuple(items)


def cotangent(contract: Contract, out_shapes: Any, seed: int, dtype: str) -> Any:
    """A random cotangent shaped like the output(s), rounded to ``dtype`` (float64 values)."""
    rng = np.random.default_rng(seed)
    if contract.n_outputs > 1:
        return tuple(round_to(dtype, rng.standard_normal(np.shape(s))) for s in out_shapes)
    return round_to(dtype, rng.standard_normal(np.shape(out_shapes)))


def cot_tensor(cot: Any, dtype: str) -> Any:
    """The cotangent (float64 values exact in ``dtype``) as tensor(s) of ``dtype``."""
    if isinstance(cot, tuple):
        return tuple(_to_tensor(c, dtype) for c in cot)
    return _to_tensor(cot, dtype)
