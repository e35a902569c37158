"""Timing against the memory-bandwidth bound: production sizes, byte counts, copy bandwidth.

A timed call runs the implementation exactly as the value and gradient checks do
(the selected framework's ``Runner``, same tracing and tape), without copying the
result to the host, and waits for the device before the clock stops (the framework's own
synchronisation: ``.numpy()`` or ``sync_devices`` for TensorFlow, ``jax.block_until_ready``,
``torch.cuda.synchronize`` on a GPU; PyTorch's CPU kernels are synchronous).  Its
bandwidth-bound time is ``bytes / bandwidth``: the bytes the call must move at
least (every input read once, every output written once; for forward+backward
also the cotangent read and every gradient written, all in the dtype under test)
over the device's achievable streaming bandwidth, measured with the framework's copies
on the same device (:func:`copy_bandwidth`).  ``bandwidth_ratio = time / bound``
is 1 for a perfect fused kernel that streams from main memory.

``python -m conformance.checks.timing table BENCH.json`` prints the Markdown table of a
pytest-benchmark JSON file written with ``--benchmark-json`` (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.contracts import REGISTRY, Contract
from conformance.reporting.results import CheckResult

SIZES = ("production", "tiny")
SIZE_ENV = "CONFORMANCE_TIMING_SIZE"
DIRECTIONS = ("fwd", "fwd+bwd")
WARMUP_CALLS = 2  # the first call traces and compiles; the second warms caches and allocators
ITEMSIZE = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}
INDEX_ITEMSIZE = 4  # integer arguments travel as int32 (runners.tf.prepare)
COPY_BYTES = {"production": 256 * 2**20, "tiny": 32 * 2**20}

@dataclass(frozen=True)
class Dims:
    """The sizes of one timing run (production or tiny)."""

    yolo_batches: tuple[int, ...]
    yolo_grids: tuple[int, int, int]
    yolo_classes: int
    yolo_boxes: int
    frcnn_map: tuple[int, int]
    frcnn_anchors: int
    frcnn_rois: int
    frcnn_classes: int  # including background (class_loss_cls); class_loss_regr gets one less
    cn_batch: int
    cn_map: int
    cn_classes: int
    cn_objects: int
    ce_batch: int
    ce_rows: int  # SSD-style prior boxes for the softmax cross-entropies
    ce_classes: int


DIMS = {
    "production": Dims(yolo_batches=(8, 32), yolo_grids=(52, 26, 13), yolo_classes=80, yolo_boxes=150,
                       frcnn_map=(38, 50), frcnn_anchors=9, frcnn_rois=256, frcnn_classes=21,
                       cn_batch=8, cn_map=128, cn_classes=80, cn_objects=100,
                       ce_batch=8, ce_rows=8732, ce_classes=21),
    "tiny": Dims(yolo_batches=(2,), yolo_grids=(4, 2, 1), yolo_classes=4, yolo_boxes=5,
                 frcnn_map=(4, 5), frcnn_anchors=9, frcnn_rois=8, frcnn_classes=5,
                 cn_batch=2, cn_map=8, cn_classes=4, cn_objects=5,
                 ce_batch=2, ce_rows=16, ce_classes=5),
}

@dataclass(frozen=True)
class Case:
    """One contract name at one size: builds a deterministic example dict (float64 NumPy, as the strategies do)."""

    name: str
    size: str
    build: Callable[[np.random.Generator], dict]
    seed: int = 0

    @property
    def id(self) -> str:
        return f"{self.name}-{self.size}"

    @property
    def contract(self) -> Contract:
        return REGISTRY[self.name]

    def example(self) -> dict:
        return self.build(np.random.default_rng(self.seed))


def cases(size: str = "production") -> list[Case]:
    """Every timed (name, size) case, in registry order (the records' ``timing`` builders)."""
    if size not in DIMS:
        raise ValueError(f"size: expected one of {SIZES}, got {size!r}")
    return [Case(c.name, tc.size, tc.build) for c in REGISTRY.values() if c.timing is not None
            for tc in c.timing(DIMS[size])]


def timed_names() -> tuple[str, ...]:
    """The names with timing cases, in registry order."""
    return tuple(c.name for c in REGISTRY.values() if c.timing is not None)


# --------------------------------------------------------------------------- bytes


def _elements(v: Any) -> int:
    if isinstance(v, (list, tuple)):
        return sum(_elements(x) for x in v)
    return int(np.prod(np.shape(v), dtype=np.int64))


def _index_itemsize() -> int:
    """Bytes per integer argument as the selected runner hands it over (int32; PyTorch's int64)."""
    from conformance.runners import selected

    return getattr(selected(), "INDEX_ITEMSIZE", INDEX_ITEMSIZE)


def bytes_moved(contract: Contract, ex: dict, out_shapes: Sequence[tuple[int, ...]], direction: str,
                dtype: str) -> int:
    """Bytes a call must read and write at least: inputs and outputs (+ cotangent and gradients for fwd+bwd)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction: expected one of {DIRECTIONS}, got {direction!r}")
    item = ITEMSIZE[dtype]
    total = sum(_elements(ex[k]) * item for k in contract.float_args)
    total += sum(_elements(ex[k]) * _index_itemsize() for k in contract.int_args)
    out = sum(int(np.prod(s, dtype=np.int64)) for s in out_shapes) * item
    total += out
    if direction == "fwd+bwd":
        total += out  # the cotangent, shaped like the outputs
        total += sum(_elements(ex[k]) * item for k in contract.grad_args)
    return int(total)


# --------------------------------------------------------------------------- device, sync, bandwidth


_DEVICE: dict[str, Any] = {}


def device_info() -> dict[str, Any]:
    """The device timed: the framework's first GPU if it sees one, else the CPU (and a note saying so)."""
    if not _DEVICE:
        from conformance.runners import selected

        _DEVICE.update(selected().timing_device())
    return dict(_DEVICE)


def synced(fn: Callable[[], Any], gpu: bool) -> Callable[[], Any]:
    """``fn`` followed by a wait for the device: every queued kernel has finished when the call returns."""
    from conformance.runners import selected

    block = selected().block

    def call() -> Any:
        out = fn()
        block(out, gpu)
        return out
    return call


_BANDWIDTH: dict[tuple[str, int], dict[str, float]] = {}


def copy_bandwidth(tf_device: str | None, nbytes: int = COPY_BYTES["production"], repeats: int = 8) -> dict[str, float]:
    """Achievable streaming bandwidth (bytes/s read + written) of ``tf_device`` over ``nbytes`` of float32.

    The framework's kernels (``copy_kernels`` of the selected runner; for TensorFlow two kernels under
    ``tf.function``; JAX has only ``copy``), warmed up, best of ``repeats`` timed calls each (waiting
    for the device): ``copy`` is y = x·s into a fresh output (reads and writes ``nbytes``; ``s`` is an
    argument, so nothing folds away), ``inplace`` is v += x on a variable (reads 2·``nbytes``, writes
    ``nbytes``, allocates nothing).  ``best`` is the larger: on a CPU, TensorFlow's allocator hands a fresh
    256 MB output new pages whose faults dominate ``copy``, which is not a limit of the memory system.
    """
    key = (str(tf_device), nbytes)
    if key not in _BANDWIDTH:
        from conformance.runners import selected

        runner = selected()
        gpu = device_info()["device_kind"] != "CPU"
        with runner.placed(device_info()):
            kernels = runner.copy_kernels(nbytes // 4)
            out = {k: _best_rate(synced(call, gpu), moved, repeats) for k, (call, moved) in kernels.items()}
            del kernels
        out["best"] = max(out.values())
        out.setdefault("inplace", out["best"])  # JAX arrays have no in-place update
        _BANDWIDTH[key] = out
    return dict(_BANDWIDTH[key])


def _best_rate(call: Callable[[], Any], nbytes: int, repeats: int) -> float:
    for _ in range(WARMUP_CALLS):
        call()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t0)
    return nbytes / best


# --------------------------------------------------------------------------- timed calls


def _timed_runner_class() -> type:
    """The selected framework's ``Runner``: its ``call(direction, args, cot)`` skips the host copy."""
    from conformance.runners import selected

    return selected().Runner


def size_from_config(config: Any) -> str:
    """``--timing-size``, else $CONFORMANCE_TIMING_SIZE, else production."""
    size = config.getoption("--timing-size", default=None) or os.environ.get(SIZE_ENV) or "production"
    if size not in SIZES:
        raise ValueError(f"timing size: expected one of {SIZES}, got {size!r} (--timing-size or ${SIZE_ENV})")
    return size


def run_timing(case: Case, direction: str, dtype: str, mode: str, impl: Any, impl_name: str, benchmark: Any,
               size: str = "production") -> CheckResult:
    """Time ``case`` with pytest-benchmark's ``benchmark`` fixture and compare with the bandwidth bound.

    Fills ``benchmark.extra_info`` and returns a CheckResult (category ``timing``).  Status ``failed`` if the
    call's output or gradients are not finite, ``skipped`` if benchmarking is disabled (e.g. under xdist);
    an exception from the implementation propagates with ``conformance_result`` (status ``error``) attached.
    """
    from conformance.runners import selected
    from conformance.runners.active import cot_tensor, cotangent, prepare

    fw = selected()

    contract = case.contract
    result = CheckResult(contract.name, contract.family, "timing", dtype, mode)
    fn = getattr(impl, contract.name, None)
    if fn is None:
        result.status, result.message = "not provided", f"not provided by {impl_name}"
        return result
    from conformance.checks.badinput import signature_problem

    problem = signature_problem(contract, fn, case.example)
    if problem:  # the same one message as in every other category
        result.status, result.message = "failed", problem
        return result
    dev = device_info()
    info: dict[str, Any] = {**dev, "name": contract.name, "dtype": dtype, "mode": mode, "direction": direction,
                            "size": case.size, "size_set": size, "impl": impl_name}
    benchmark.extra_info.update(info)
    benchmark.group = f"{case.id} {direction} {dtype}"
    try:
        with fw.placed(dev):
            ex = case.example()
            _, args = prepare(contract, ex, dtype)
            args = {k: fw.to_device(v) for k, v in args.items()}
            timed_runner = _timed_runner_class()
            runner = timed_runner(contract, fn, mode, impl)
            # Output shapes from one eager forward call (cheaper than compiling a forward graph for fwd+bwd).
            out = timed_runner(contract, fn, "eager", impl).call("fwd", args)()
            shapes = fw.shapes(out)
            del out
            cot = None
            if direction == "fwd+bwd":
                placeholders = tuple(np.empty(s) for s in shapes) if contract.n_outputs > 1 else np.empty(shapes[0])
                cot = fw.to_device(cot_tensor(cotangent(contract, placeholders, 0, dtype), dtype))
            call = synced(runner.call(direction, args, cot), gpu=dev["device_kind"] == "GPU")
            last = None
            for _ in range(WARMUP_CALLS):  # tracing and compilation happen here, never in a timed round
                last = call()
            nbytes = bytes_moved(contract, ex, shapes, direction, dtype)
            rates = copy_bandwidth(dev["tf_device"], COPY_BYTES[size])
            del ex
            if not fw.all_finite(last):
                result.status = "failed"
                result.message = f"{contract.name} ({direction}, {mode}) gave a non-finite value or gradient " \
                                 f"at the {case.size} timing size"
            del last
            benchmark(call)
    except Exception as exc:
        result.status, result.message = "error", f"{type(exc).__name__}: {exc}"
        exc.conformance_result = result
        raise
    bound = nbytes / rates["best"]
    extra: dict[str, Any] = {"bytes": nbytes, "bound_s": bound, "bandwidth_Bps": rates["best"],
                             "copy_Bps": rates["copy"], "inplace_Bps": rates["inplace"],
                             "bandwidth_probe_bytes": COPY_BYTES[size], "device": dev["device"],
                             "direction": direction, "size": case.size}
    stats = getattr(getattr(benchmark, "stats", None), "stats", None)
    if stats is None or not getattr(stats, "data", None):
        if result.status == "passed":
            result.status, result.message = "skipped", "benchmarking disabled (--benchmark-disable or xdist)"
    else:
        extra.update(time_s=stats.min, mean_s=stats.mean, median_s=stats.median, rounds=stats.rounds,
                     bandwidth_ratio=stats.min / bound)
        result.examples = int(stats.rounds)
    benchmark.extra_info.update(extra)
    result.extra = {**info, **extra}
    return result


# --------------------------------------------------------------------------- reporting


def _fmt_time(s: float) -> str:
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"


def markdown_table(bench_json: dict) -> str:
    """A Markdown table (one row per name, size and direction; the modes run side by side)."""
    rows: dict[tuple, dict[str, dict]] = {}
    for b in bench_json.get("benchmarks", []):
        e = b.get("extra_info", {})
        if "bound_s" not in e or "time_s" not in e:
            continue
        key = (e["name"], e["size"], e["direction"], e["dtype"])
        rows.setdefault(key, {})[e["mode"]] = e
    present = {m for by_mode in rows.values() for m in by_mode}
    modes = tuple(m for m in ("eager", "function", "xla", "jit", "compile") if m in present) or ("eager",)
    head = ["name", "size", "pass", "dtype", "MB moved", "bound"] + [f"{m} time (× bound)" for m in modes]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    order = {n: i for i, n in enumerate(timed_names())}
    for key in sorted(rows, key=lambda k: (order.get(k[0], 99), k[1], DIRECTIONS.index(k[2]), k[3])):
        by_mode = rows[key]
        first = next(iter(by_mode.values()))
        cells = [f"`{key[0]}`", key[1], key[2], key[3], f"{first['bytes'] / 1e6:.3g}", _fmt_time(first["bound_s"])]
        for m in modes:
            e = by_mode.get(m)
            cells.append(f"{_fmt_time(e['time_s'])} ({e['bandwidth_ratio']:.3g}×)" if e else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m conformance.checks.timing table BENCH.json``: print the Markdown table of a benchmark JSON file."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 2 or argv[0] != "table":
        print(__doc__.strip().splitlines()[0], "\nusage: python -m conformance.checks.timing table BENCH.json",
              file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        doc = json.load(f)
    machine = doc.get("machine_info", {})
    first = next((b["extra_info"] for b in doc.get("benchmarks", []) if "device" in b.get("extra_info", {})), {})
    gbps = {k: first.get(k, 0) / 1e9 for k in ("bandwidth_Bps", "copy_Bps", "inplace_Bps")}
    version = first.get("framework_version") or f"TensorFlow {first.get('tf_version', '?')}"
    print(f"Device: {first.get('device', '?')} ({first.get('device_kind', '?')}); {version}; "
          f"bandwidth {gbps['bandwidth_Bps']:.3g} GB/s (copy y = x*s "
          f"{gbps['copy_Bps']:.3g}, in place v += x {gbps['inplace_Bps']:.3g}); {doc.get('datetime', '')[:10]}; "
          f"Python {machine.get('python_version', '?')}\n")
    print(markdown_table(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
