"""``--shard=K/N``: run one of N deterministic parts of the collected checks (a CI job matrix's share).

The unit dealt to a shard is one contract name's category (``test_value[sigmoid-*]``: all its dtypes and modes),
so that an ``--expect`` entry, which is judged over a name's category, is judged on the same results as in an
unsharded run.  The units are dealt longest first (``conformance.plugin.expected_cost``, the estimate the
pytest-xdist ordering uses) to the shard with the least expected cost so far, ties by the unit's name: the
split depends only on the selection (``-k``, ``-m``, dtypes, modes), never on the machine, and every check is
in exactly one shard.  Applied after ``-k``/``-m`` (``trylast``), so that the selection itself is balanced.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import pytest

SHARD_FORMAT = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse(text: str) -> tuple[int, int]:
    """``"K/N"`` as ``(K, N)`` with 1 <= K <= N; ``ValueError`` naming the problem otherwise."""
    m = SHARD_FORMAT.match(str(text))
    if not m:
        raise ValueError(f"expected K/N (shard K of N, e.g. 2/3), got {text!r}")
    k, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= k <= n:
        raise ValueError(f"expected 1 <= K <= N, got {k}/{n}")
    return k, n


def check_id(nodeid: str) -> str:
    """A test's node id without its folder (``test_value.py::test_value[sigmoid-float32-eager]``): the same wherever
    and however the suite is installed or invoked (``pytest conformance``, ``--pyargs``)."""
    return str(nodeid).rpartition("/")[2]


def unit(item: Any) -> str:
    """What is dealt whole to one shard: the category and contract name (every dtype and mode), else the test."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    thing = params.get("contract", params.get("timing_case"))
    module = getattr(getattr(item, "module", None), "__name__", "")
    if thing is not None and getattr(thing, "name", None):
        return f"{module.rsplit('.', 1)[-1]}::{thing.name}"
    return check_id(item.nodeid)


def assign(items: Sequence[Any], count: int, cost: Callable[[Any], float]) -> list[int]:
    """The shard (0-based) of each item: units by decreasing total cost (then name) to the least loaded shard."""
    units: dict[str, float] = {}
    for item in items:
        units[unit(item)] = units.get(unit(item), 0.0) + max(float(cost(item)), 0.0) + 1e-3
    load = [0.0] * count
    where: dict[str, int] = {}
    for name, c in sorted(units.items(), key=lambda kv: (-kv[1], kv[0])):
        k = min(range(count), key=lambda j: (load[j], j))
        where[name] = k
        load[k] += c
    return [where[unit(item)] for item in items]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("conformance").addoption(
        "--shard", default=None, metavar="K/N",
        help="run shard K of N (1-based): a deterministic split of the selected checks balanced by their expected "
             "cost; merge the shards' --report-json files with 'python -m conformance report merge'")


def shard_of(config: pytest.Config) -> tuple[int, int] | None:
    """``--shard`` as ``(K, N)``, or None; ``pytest.UsageError`` on a malformed value."""
    text = config.getoption("--shard", default=None)
    if text is None:
        return None
    try:
        return parse(text)
    except ValueError as exc:
        raise pytest.UsageError(f"conformance: --shard: {exc}") from exc


def pytest_configure(config: pytest.Config) -> None:
    shard_of(config)  # a malformed --shard is a usage error before anything runs


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """A shard left without checks (more shards than units) has nothing to do: exit 0, not 5 (no tests)."""
    if (shard_of(session.config) is not None and session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED
            and session.testscollected > 0):
        session.exitstatus = pytest.ExitCode.OK


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    shard = shard_of(config)
    if shard is None or not items:
        return
    from conformance import parallel
    from conformance.plugin import expected_cost

    k, n = shard
    where = assign(items, n, expected_cost)
    other = [i for i, s in zip(items, where, strict=True) if s != k - 1]
    if other:
        config.hook.pytest_deselected(items=other)
    items[:] = [i for i, s in zip(items, where, strict=True) if s == k - 1]
    if hasattr(config, "workerinput"):  # the xdist order again, for this shard's items
        items[:] = parallel.xdist_order(items, int(config.workerinput.get("workercount", 1)), expected_cost)
