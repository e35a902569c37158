"""The order of suite items under pytest-xdist (``conformance.parallel.xdist_order``)."""

from __future__ import annotations

import types

import pytest

from conformance import parallel, plugin
from conformance.contracts import REGISTRY

CATEGORIES = ("badinput", "gradient", "regression", "stability", "value")
NAMES = ("sigmoid", "softmax", "decode", "loss_layer", "compute_loss", "focal_loss", "loss", "reg_l1_loss")


def _item(category: str, name: str) -> types.SimpleNamespace:
    """A stand-in for a collected suite test (what ``expected_cost`` reads)."""
    return types.SimpleNamespace(module=types.SimpleNamespace(__name__=f"conformance.suite.test_{category}"),
                                 callspec=types.SimpleNamespace(params={"contract": REGISTRY[name]}),
                                 nodeid=f"suite/test_{category}.py::test_{category}[{name}-float32-eager]")


ITEMS = [_item(c, n) for c in CATEGORIES for n in NAMES]


@pytest.mark.parametrize("workers", [1, 2, 3, 4, 8])
def test_order_is_a_deterministic_permutation(workers: int) -> None:
    order = parallel.xdist_order(list(ITEMS), workers, plugin.expected_cost)
    assert sorted(i.nodeid for i in order) == sorted(i.nodeid for i in ITEMS)
    again = parallel.xdist_order(list(ITEMS), workers, plugin.expected_cost)
    assert [i.nodeid for i in again] == [i.nodeid for i in order]


def test_one_worker_runs_the_longest_first() -> None:
    order = parallel.xdist_order(list(ITEMS), 1, plugin.expected_cost)
    costs = [plugin.expected_cost(i) for i in order]
    assert costs == sorted(costs, reverse=True)
    assert order[0].nodeid.endswith("[compute_loss-float32-eager]")
    assert "regression" in order[-1].nodeid


@pytest.mark.parametrize("workers", [2, 4])
def test_the_longest_items_are_dealt_across_first_batches(workers: int) -> None:
    order = parallel.xdist_order(list(ITEMS), workers, plugin.expected_cost)
    batch = max(len(ITEMS) // workers // 4, 2)
    firsts = [order[k * batch:(k + 1) * batch] for k in range(workers)]
    ranked = sorted(ITEMS, key=plugin.expected_cost, reverse=True)
    # each of the `workers` longest items starts a different worker's first batch
    assert {b[0].nodeid for b in firsts} == {i.nodeid for i in ranked[:workers]}
    sums = [sum(plugin.expected_cost(i) for i in b) for b in firsts]
    naive = [sum(plugin.expected_cost(i) for i in ranked[k * batch:(k + 1) * batch]) for k in range(workers)]
    assert max(sums) - min(sums) < max(naive) - min(naive)


def test_items_outside_the_suite_cost_nothing() -> None:
    other = types.SimpleNamespace(module=types.SimpleNamespace(__name__="tests.test_plugin"), nodeid="x")
    assert plugin.expected_cost(other) == 0.0
