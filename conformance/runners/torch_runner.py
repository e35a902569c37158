"""Calling a PyTorch implementation under test: tensors in, NumPy float64 out, eagerly or under torch.compile.

The same public interface as the TensorFlow runner (``prepare``, ``Runner`` with ``value`` and
``value_and_grad``, ``cotangent``, ``cot_tensor``, ``MODES``), so the generic checks run unchanged on a
PyTorch implementation (the module is not called ``torch.py`` so that it never shadows PyTorch):

- float arguments become CPU tensors of the dtype under test, rounded and flushed to zero below the
  smallest normal exactly as the TensorFlow runner hands them over (so the oracle judges the same
  inputs); integer arguments (labels, gather indices) become int64 tensors, PyTorch's index type;
- gradients are vector-Jacobian products by ``torch.autograd.grad`` with the given cotangent; an
  argument the output does not depend on has gradient ``None`` (as ``tf.GradientTape`` reports it);
- mode ``compile`` wraps the call in ``torch.compile(dynamic=False)`` (TorchInductor), one wrapper per
  configuration and one graph per input signature; the backward pass is the one AOTAutograd compiles
  with the forward.  The recompile limit is raised and made an error, so that a compile mode run never
  falls back to eager silently.  As torch.compile does by default (``fullgraph=False``), code Dynamo
  cannot trace (``.item()``, ``raise``) is a graph break and runs eagerly between compiled graphs; only a
  failure of the compiler itself is a ModeError.  :func:`activate` points TorchInductor's cache at a
  fresh temporary directory for the run (unless ``TORCHINDUCTOR_CACHE_DIR`` is set).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from conformance.contracts.record import Contract
from conformance.runners import base
from conformance.runners.base import (  # noqa: F401
    NP_CONFIG,
    ContractViolation,
    ModeError,
    config_key,
    config_value,
    cotangent,
)

NAME = "torch"
MODES = ("eager", "compile")
DEFAULT_MODE = "eager"
TORCH_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
                "float64": torch.float64}
INDEX_DTYPE = torch.int64
INDEX_ITEMSIZE = 8
# Derived functions (``decode`` for loss_layer) an impl lacks come from this module, whatever TF module the
# contract names as its fallback.
FALLBACK = "conformance.targets.reference_torch"
# Every example shape and configuration is a recompile of the one traced frame; 8 (the default) would make
# torch.compile fall back to eager after a few examples.  Hitting the limit raises instead.
RECOMPILE_LIMIT = 1024
# One compiled graph per input signature (shapes, configuration), as tf.function traces once per signature.
# With dynamic shapes (torch.compile's default after a recompile) TorchInductor 2.13 on CPU fails to compile
# the backward of the reference decode ("For s75 + 5, expected [s75] to have been codegen-ed") after a few
# examples of differing shapes and num_class: a compiler bug, not the implementation's.
COMPILE_DYNAMIC = False
INDUCTOR_CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"


def activate() -> None:
    """A per-run TorchInductor cache directory (compiled kernels of one run never leak into another), removed when
    the process that made it exits (pytest-xdist's workers inherit the controller's)."""
    if not os.environ.get(INDUCTOR_CACHE_ENV):
        path = os.environ[INDUCTOR_CACHE_ENV] = tempfile.mkdtemp(prefix="conformance-inductor-")
        atexit.register(shutil.rmtree, path, ignore_errors=True)


def _to_tensor(values: np.ndarray, dtype: str) -> torch.Tensor:
    """float64 values exact in ``dtype`` as a tensor of that dtype (through NumPy where NumPy has the dtype)."""
    if dtype == "bfloat16":  # exact in float32, then an exact cast
        return torch.from_numpy(np.asarray(values, dtype=np.float32)).to(torch.bfloat16)
    return torch.from_numpy(np.asarray(values, dtype=NP_CONFIG[dtype]).copy())


def prepare(contract: Contract, ex: dict, dtype: str) -> tuple[dict, dict]:
    """Round float inputs to ``dtype``: (float64 view for the oracle, tensors and config for the impl)."""
    return base.prepare_args(contract, ex, dtype, lambda x: _to_tensor(x, dtype),
                             lambda x: torch.as_tensor(x, dtype=INDEX_DTYPE))


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


def output_problem(name: str, out: Any, dtype: Any) -> str | None:
    """Why the outputs break the contract (not a ``torch.Tensor``, or floating but not ``dtype``), or None."""
    return base.output_problem(name, out, dtype, lambda o: isinstance(o, torch.Tensor), "torch.Tensor",
                               lambda o: o.dtype if o.dtype.is_floating_point else None,
                               lambda d: str(d).removeprefix("torch."), "PyTorch")


def _leaf(t: Any) -> Any:
    """A fresh leaf tensor that requires grad (lists element by element); the caller's tensor is untouched."""
    if isinstance(t, (list, tuple)):
        return [_leaf(x) for x in t]
    return t.detach().clone().requires_grad_(True)


def _flat(x: Any) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


class Runner(base.BaseRunner):
    """Calls one impl function eagerly or under ``torch.compile`` (one compiled wrapper per configuration)."""

    MODES = MODES
    WHO = "PyTorch"
    fallback_module = FALLBACK

    def __init__(self, contract: Contract, fn: Callable, mode: str, impl: Any = None):
        super().__init__(contract, fn, mode, impl)
        if mode == "compile":
            activate()
            _configure_dynamo()

    def _forward(self, tensors: dict, config: dict) -> Any:
        return self.contract.invoke(self.fn, {**config, **tensors}, self.impl, self._fallback())

    def _call(self, tensors: dict, config: dict) -> Any:
        if self.mode == "eager":
            out = self._forward(tensors, config)
        else:
            out = self._cached(("value", config_key(config)),
                               lambda: torch.compile(lambda t: self._forward(t, config), dynamic=COMPILE_DYNAMIC)
                               )(tensors)
        problem = output_problem(self.contract.name, out, base.input_dtype(self.contract, tensors))
        if problem:
            raise ContractViolation(problem)
        return out

    def _value_and_grad(self, tensors: dict, config: dict, cot: Any) -> tuple[Any, dict]:
        keys = self.contract.grad_args
        tensors = {k: (_leaf(v) if k in keys else v) for k, v in tensors.items()}
        with torch.enable_grad():
            out = self._call(tensors, config)
            outs = out if isinstance(out, (tuple, list)) else (out,)
            cots = cot if isinstance(cot, (tuple, list)) else (cot,)
            if len(outs) != len(cots):
                raise ContractViolation(f"{self.contract.name} returned {len(outs)} output(s), the contract has "
                                        f"{len(cots)}")
            total = sum(torch.sum(o.to(c.dtype) * c) for o, c in zip(outs, cots, strict=True))
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

    def call(self, direction: str, args: dict, cot: Any = None) -> Callable[[], Any]:
        """Zero-argument callable doing what :meth:`value` / :meth:`value_and_grad` do, minus the host copy."""
        tensors, config = self._split(args)
        if direction == "fwd":
            def fwd() -> Any:
                with torch.no_grad():
                    return self._call(tensors, config)
            return fwd
        return lambda: self._value_and_grad(tensors, config, cot)

    def value(self, args: dict) -> Any:
        tensors, config = self._split(args)
        with self._guard(args), torch.no_grad():
            try:
                return to_numpy(self._call(tensors, config))
            except Exception as exc:
                if self.mode != "eager":
                    self._mode_error(exc, lambda: self._call(tensors, config))
                raise

    def value_and_grad(self, args: dict, cot: Any) -> tuple[Any, dict]:
        tensors, config = self._split(args)
        with self._guard(args):
            try:
                out, grads = self._value_and_grad(tensors, config, cot)
            except Exception as exc:
                if self.mode != "eager":
                    self._mode_error(exc, lambda: self._value_and_grad(tensors, config, cot))
                raise
        return to_numpy(out), {k: _grad_numpy(g) for k, g in grads.items()}

    def settings(self) -> list[base.Global]:
        return base.keras_globals() + _torch_globals() + base.numpy_globals()

    def host_copy(self, v: Any) -> np.ndarray | None:
        if not isinstance(v, torch.Tensor):
            return None
        t = v.detach().cpu()
        return (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().copy()  # bitwise

    def _mode_error(self, exc: Exception, eager: Callable[[], Any]) -> None:
        """Raise :class:`ModeError` if the call that failed under torch.compile succeeds eagerly (run eagerly)."""
        def run_eagerly() -> Any:
            mode, self.mode = self.mode, "eager"
            try:
                return eager()
            finally:
                self.mode = mode

        super()._mode_error(exc, run_eagerly)

    def compiler(self) -> str:
        return "torch.compile"


def _torch_globals() -> list[base.Global]:
    return [
        ("torch.set_default_dtype", torch.get_default_dtype, torch.set_default_dtype),
        ("torch.set_grad_enabled", torch.is_grad_enabled, torch.set_grad_enabled),
        ("torch.use_deterministic_algorithms", torch.are_deterministic_algorithms_enabled,
         torch.use_deterministic_algorithms),
        ("torch.set_num_threads", torch.get_num_threads, torch.set_num_threads),
        ("torch.set_float32_matmul_precision", torch.get_float32_matmul_precision,
         torch.set_float32_matmul_precision),
        ("torch.autograd.set_detect_anomaly", torch.is_anomaly_enabled, torch.set_anomaly_enabled),
    ]


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


def device_name() -> str:
    """The device the runner's tensors live on: the CPU (``prepare`` makes CPU tensors)."""
    return base.cpu_name()


# --------------------------------------------------------------------------- timing hooks (conformance.checks.timing)


def timing_device() -> dict[str, Any]:
    return {"device": device_name().split(": ", 1)[1], "device_kind": "CPU", "tf_device": None,
            "note": "timing the CPU (the runner's tensors are CPU tensors)", "tf_version": None,
            "framework_version": f"PyTorch {torch.__version__}"}


def placed(device: dict[str, Any]) -> Any:
    return contextlib.nullcontext()


def to_device(v: Any) -> Any:
    return v


def block(out: Any, gpu: bool) -> None:
    """CPU kernels run synchronously; on a GPU, wait for the device."""
    if gpu and torch.cuda.is_available():
        torch.cuda.synchronize()


def shapes(out: Any) -> list[tuple[int, ...]]:
    return [tuple(int(n) for n in o.shape) for o in (out if isinstance(out, (tuple, list)) else (out,))]


def all_finite(out: Any) -> bool:
    flat = [out] if not isinstance(out, (tuple, list, dict)) else list(out.values() if isinstance(out, dict) else out)
    for t in flat:
        if isinstance(t, (tuple, list, dict)):
            if not all_finite(t):
                return False
        elif isinstance(t, torch.Tensor) and t.dtype.is_floating_point and not bool(torch.isfinite(t).all()):
            return False
    return True


def copy_kernels(n: int) -> dict[str, tuple[Callable[[], Any], int]]:
    """name -> (call, bytes moved) over ``n`` float32: y = x·s into a fresh output, v += x in place."""
    x = torch.rand(n, dtype=torch.float32)
    v = torch.zeros(n, dtype=torch.float32)
    return {"copy": (lambda: x * 1.0, 2 * n * 4), "inplace": (lambda: v.add_(x), 3 * n * 4)}


def cot_tensor(cot: Any, dtype: str) -> Any:
    """The cotangent (float64 values exact in ``dtype``) as tensor(s) of ``dtype``."""
    if isinstance(cot, tuple):
        return tuple(_to_tensor(c, dtype) for c in cot)
    return _to_tensor(cot, dtype)
