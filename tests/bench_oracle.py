"""Benchmark of the float64 oracle: value + VJP at production sizes (not collected by default).

    pytest tests/bench_oracle.py --benchmark-only -p no:cacheprovider

YOLOv3 416 (52/26/13 grids, 3 anchors, 80 classes, batch 8, 150 boxes): ``compute_loss`` and its VJP
with respect to the three convs; Faster R-CNN: ``rpn_loss_regr`` / ``rpn_loss_cls`` on a 38x50 map with
9 anchors, ``class_loss_regr`` / ``class_loss_cls`` on 256 RoIs x 21 classes; CenterNet 128x128x80,
batch 8, 100 objects: ``loss`` and its VJPs with respect to hm_pred, wh_pred and reg_pred.  The inputs are
those of the timing benchmarks (:func:`conformance.checks.timing.cases`).  Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import numpy as np
import pytest

import oracle
from conformance.checks import timing

NAMES = ("rpn_loss_regr", "rpn_loss_cls", "class_loss_regr", "class_loss_cls", "compute_loss", "loss")
# Fixed rounds for the calls that take seconds (NumPy needs no warm-up); the others are calibrated.
ROUNDS = {"compute_loss": 2, "loss": 5}
CASES = [c for c in timing.cases("production") if c.name in NAMES and not c.size.endswith("-b32")]


def value_and_vjp(contract, ex: dict, cot) -> tuple:
    """The oracle's value and its VJP with respect to every differentiated argument of ``contract``."""
    value = contract.expected(ex)
    return value, [contract.expected_vjp(ex, cot, wrt) for wrt in contract.grad_args]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_oracle_value_and_vjp(case, benchmark):
    contract = case.contract
    ex = case.example()
    cot = (1.0, 1.0, 1.0) if contract.n_outputs == 3 else 1.0
    benchmark.group = "oracle value + vjp"
    benchmark.extra_info.update(name=case.name, size=case.size, wrt=list(contract.grad_args),
                                oracle_version=oracle.__version__)
    if case.name in ROUNDS:
        value, grads = benchmark.pedantic(value_and_vjp, args=(contract, ex, cot), rounds=ROUNDS[case.name])
    else:
        value, grads = benchmark(value_and_vjp, contract, ex, cot)
    assert all(np.all(np.isfinite(v)) for v in np.atleast_1d(value))
    for wrt, g in zip(contract.grad_args, grads, strict=True):
        shapes = [np.shape(x) for x in ex[wrt]] if isinstance(ex[wrt], list) else [np.shape(ex[wrt])]
        assert [np.shape(x) for x in (g if isinstance(g, (list, tuple)) else [g])] == shapes
        assert all(np.all(np.isfinite(x)) for x in (g if isinstance(g, (list, tuple)) else [g]))
