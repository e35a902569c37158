"""A user contract: the varifocal loss (VarifocalNet, Zhang et al., CVPR 2021), registered with the suite.

Load it as a pytest plugin: ``pytest --pyargs conformance -p varifocal_contract --impl=...``.
The oracle is float64 NumPy with an analytic VJP; everything else (value, gradient, stability,
bad input, report) is the suite's generic machinery.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conformance.contracts.record import BadCase, Call
from conformance.contracts.user import define

ALPHA, GAMMA = 0.75, 2.0


def varifocal_loss(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Elementwise: −q·(q·log p + (1−q)·log(1−p)) where q > 0, −α·p^γ·log(1−p) where q = 0."""
    p, q = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    pos = -q * (q * np.log(p) + (1 - q) * np.log1p(-p))
    neg = -ALPHA * p**GAMMA * np.log1p(-p)
    return np.where(q > 0, pos, neg)


def varifocal_vjp(cotangent: np.ndarray, wrt: str, pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    p, q = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    d_pos = -q * (q / p - (1 - q) / (1 - p))
    d_neg = -ALPHA * (GAMMA * p ** (GAMMA - 1) * np.log1p(-p) - p**GAMMA / (1 - p))
    return np.asarray(cotangent) * np.where(q > 0, d_pos, d_neg)


@st.composite
def examples(draw: st.DrawFn) -> dict:
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=5))
    probs = st.floats(0.01, 0.99)
    pred = draw(hnp.arrays(np.float64, shape, elements=probs))
    # IoU-aware targets: 0 for negatives (often), an IoU in (0, 1] for positives
    target = draw(hnp.arrays(np.float64, shape, elements=st.one_of(st.just(0.0), st.floats(0.05, 1.0))))
    return {"pred": pred, "target": target}


def pytest_conformance_contracts() -> list:
    return [define(
        "varifocal_loss", varifocal_loss, vjp=varifocal_vjp, call=Call(("pred", "target")), strategy=examples,
        float_args=("pred", "target"), grad_args=("pred",),
        summary="−q·(q·log p + (1−q)·log(1−p)) if q > 0 else −α·p^γ·log(1−p), α = 0.75, γ = 2",
        shapes="pred: probabilities, target: IoU-aware scores in [0, 1], same shape",
        bad_inputs=(BadCase("shape-mismatch", "target",
                            lambda: {"pred": np.full((2, 3), 0.5), "target": np.zeros((2, 4))}),),
    )]
