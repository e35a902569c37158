"""Bad-input tier: the reference conforms, the oracle names the wrong argument, and mutants are caught."""

from __future__ import annotations

import pytest
import stability_mutants as mut

from conformance.checks.engine import run_check
from conformance.checks.failure import ConformanceFailure
from conformance.contracts import REGISTRY
from conformance.targets import reference

ALL_CASES = [(name, case) for name, c in REGISTRY.items() for case in c.bad_inputs if not case.broadcast]


def _run(name: str, impl, impl_name: str = "impl"):
    return run_check(REGISTRY[name], "badinput", impl, impl_name, "float32", "eager")


@pytest.mark.parametrize("name, case", ALL_CASES, ids=[f"{n}-{c.id}" for n, c in ALL_CASES])
def test_oracle_raises_naming_the_argument(name, case):
    with pytest.raises(ValueError) as info:
        REGISTRY[name].expected(case.make())
    assert case.arg in str(info.value), str(info.value)


@pytest.mark.parametrize("name", sorted({n for n, _ in ALL_CASES}))
def test_reference_conforms(name):
    r = _run(name, reference, "reference")
    assert r.status == "passed", r.message


def test_names_without_cases_are_skipped():
    r = _run("sigmoid", reference, "reference")
    assert r.status == "skipped" and "no bad-input cases" in r.message


@pytest.mark.parametrize("impl, name", [(mut.CLAMPED_SPARSE_CE, "sparse_softmax_cross_entropy_with_logits"),
                                        (mut.WRAPPED_REG_L1, "reg_l1_loss")])
def test_range_mutants_are_caught(impl, name):
    with pytest.raises(ConformanceFailure, match="silent finite value") as info:
        _run(name, impl)
    assert info.value.conformance_result.status == "failed"
    spec = {"reg_l1_loss": "CN-GATHER-RANGE", "sparse_softmax_cross_entropy_with_logits": "SPARSE-LABEL-RANGE"}[name]
    assert spec in info.value.conformance_result.diagnosis  # the failure names the divergence id it exercises


def test_broadcast_rule_catches_an_implementation_that_reduces_instead_of_broadcasting():
    """kl_divergence(p (1, 3), q (2, 3)) must raise or give the value of the broadcast arguments: a mutant that
    averages q over p's size-1 axis passes every value check (equal shapes) and fails here, naming the case."""
    assert _run_value("kl_divergence", mut.REDUCING_KL).status == "passed"
    with pytest.raises(ConformanceFailure, match="silent finite value") as info:
        _run("kl_divergence", mut.REDUCING_KL)
    assert "broadcast: returned shape [(1,)] for p (1, 3), q (2, 3); broadcast first, the contract gives [(2,)]" in (
        info.value.conformance_result.message)


def test_broadcast_rule_accepts_raising():
    """tf.nn.sigmoid_cross_entropy_with_logits raises on shapes that differ: that conforms."""
    import tensorflow as tf

    r = _run("sigmoid_cross_entropy_with_logits", tf.nn, "tensorflow.nn")
    assert r.status == "passed" and "broadcast: raised" in r.message, r.message


def _run_value(name: str, impl):
    return run_check(REGISTRY[name], "value", impl, "impl", "float32", "eager")
