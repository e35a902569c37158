"""The oracle against the bundled TensorFlow reference at production size, side by side (a script, not a test).

    python tests/bench_oracle_vs_tf.py [--rounds N] [--dtype float32] [--names compute_loss,loss]

For each name it times, on the same inputs (the production timing case, ``conformance.checks.timing``):

- the oracle's value plus its VJP with respect to every differentiated argument (float64 NumPy), as the
  checks call it (``contract.expected`` / ``contract.expected_vjp``, as ``tests/bench_oracle.py`` does);
- the reference target's eager value + gradient (``conformance.targets.reference`` through the suite's
  runner: one ``tf.GradientTape`` call, inputs rounded to ``--dtype``), after two warm-up calls;

and prints the best of ``--rounds`` for each and their ratio.  Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

NAMES = ("compute_loss", "loss")


def _best(fn: Callable[[], object], rounds: int) -> tuple[float, float]:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dtype", default="float32", choices=("float16", "bfloat16", "float32", "float64"))
    parser.add_argument("--names", default=",".join(NAMES))
    opts = parser.parse_args()

    import tensorflow as tf

    import oracle
    from conformance.checks import timing
    from conformance.runners.tf import cot_tensor, cotangent, prepare
    from conformance.targets import reference

    names = opts.names.split(",")
    cases = [c for c in timing.cases("production") if c.name in names and not c.size.endswith("-b32")]
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
          f"NumPy {np.__version__}, TensorFlow {tf.__version__}, oracle {oracle.__version__}; "
          f"reference eager {opts.dtype}; best of {opts.rounds}")
    print(f"{'name':<14} {'size':<24} {'oracle s (median)':>20} {'TF s (median)':>18} {'ratio':>7}")
    runner_class = timing._timed_runner_class()
    for case in cases:
        contract = case.contract
        ex = case.example()
        cot = (1.0, 1.0, 1.0) if contract.n_outputs == 3 else 1.0

        def oracle_call(contract=contract, ex=ex, cot=cot) -> object:
            return contract.expected(ex), [contract.expected_vjp(ex, cot, wrt) for wrt in contract.grad_args]

        o_best, o_med = _best(oracle_call, opts.rounds)

        _, args = prepare(contract, ex, opts.dtype)
        runner = runner_class(contract, getattr(reference, contract.name), "eager", reference)
        out = runner.call("fwd", args)()
        shapes = [tuple(int(n) for n in tf.convert_to_tensor(o).shape)
                  for o in (out if isinstance(out, (tuple, list)) else (out,))]
        placeholders = tuple(np.empty(s) for s in shapes) if contract.n_outputs > 1 else np.empty(shapes[0])
        tcot = cot_tensor(cotangent(contract, placeholders, 0, opts.dtype), opts.dtype)
        call = runner.call("fwd+bwd", args, tcot)
        for _ in range(timing.WARMUP_CALLS):
            call()
        t_best, t_med = _best(call, max(opts.rounds, 3))
        print(f"{case.name:<14} {case.size:<24} {o_best:>9.3f} ({o_med:>7.3f}) {t_best:>8.3f} ({t_med:>7.3f}) "
              f"{o_best / t_best:>7.2f}")


if __name__ == "__main__":
    main()
