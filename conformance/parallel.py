"""Running under pytest-xdist: which process is the controller, the workers' share of the cores, the order
of the items, and the keys under which a worker sends its findings to the controller (``workeroutput``).

The controller never imports the implementation (nor, so, its framework): the workers do, and send back a
usage error (``USAGE_ERROR``) or the run's description (``RUN_INFO``, :mod:`conformance.reporting.run_info`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from conformance.machine import cpu_cores

USAGE_ERROR = "conformance_usage_error"  # a worker's usage error, which the controller raises
RUN_INFO = "conformance_run"  # a worker's RunInfo as JSON


def is_controller(config: Any) -> bool:
    """Whether this process hands the tests to pytest-xdist workers (``-n N`` with N > 0, ``--tx``).

    The condition pytest-xdist itself uses to start its distributed session (not with ``--collect-only``).
    """
    option = config.option
    return (not hasattr(config, "workerinput") and not getattr(option, "collectonly", False)
            and getattr(option, "dist", "no") != "no" and bool(getattr(option, "tx", None)))


THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")


def limit_worker_threads(config: Any) -> dict[str, str]:
    """Give each xdist worker's framework an equal share of the CPU cores; the variables set.

    TensorFlow (and PyTorch, through ``OMP_NUM_THREADS``) size their thread pools by the whole machine, so
    N workers would run N times as many threads as cores: measured on 2 cores with ``-n 2``, the checks
    took 58-64 s of CPU against 50 s with one thread per worker (docs/benchmarks.md).  A variable the user
    set is left as it is; the workers inherit the environment when xdist starts them.
    """
    workers = getattr(config.option, "numprocesses", None) or len(getattr(config.option, "tx", None) or []) or 1
    share = str(max(1, cpu_cores() // int(workers)))
    chosen = {v: share for v in THREAD_VARIABLES if v not in os.environ}
    os.environ.update(chosen)
    return chosen


def xdist_order(items: list[Any], workers: int, cost: Callable[[Any], float]) -> list[Any]:
    """The items by decreasing ``cost``, the first ones dealt over the workers' first batches.

    pytest-xdist's ``load`` scheduler hands each worker a first batch of ``len(items) // workers // 4``
    consecutive items, then one or two at a time: the longest items are dealt across those batches
    (snake order), the rest follow longest first. Deterministic, so every worker collects the same order.
    """
    ranked = sorted(items, key=cost, reverse=True)  # stable
    if workers < 2 or len(ranked) < 2 * workers:
        return ranked
    batch = max(len(ranked) // workers // 4, 2)
    batches: list[list[Any]] = [[] for _ in range(workers)]
    for j, item in enumerate(ranked[:workers * batch]):
        turn, k = divmod(j, workers)
        batches[k if turn % 2 == 0 else workers - 1 - k].append(item)
    return [i for b in batches for i in b] + ranked[workers * batch:]
