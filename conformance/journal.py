"""Results written as they are reached, so that a run that dies leaves what it judged.

With ``--report-json=PATH``, the process that writes the reports (a serial run, or the pytest-xdist controller)
writes PATH as JSON lines while the run goes: a header (what the run is: implementation, options, shard, the
checks it will run), then ``{"start": CHECK}`` and ``{"end": CHECK}`` around each check and ``{"result": ...}`` as
each result comes.
At the end of the session the complete JSON document replaces it.  A run killed on the way (an ``os.abort()`` in
the implementation, the OOM killer, a CI job's time limit) leaves the lines written so far, which
``python -m conformance report merge`` reads (:mod:`conformance.reporting.merge`): it reports the check that was
running and the checks that never ran.

The header's identity (:func:`identity`) is also recorded in the complete document, so that a merge can refuse
parts of different runs.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import IO, Any

import pytest

JOURNAL = "conformance_journal"  # the header line's key (its value: the format's version)
FORMAT = 1
_FILE_KEY = pytest.StashKey[IO[str]]()
_CHECKS_KEY = pytest.StashKey[list]()
_SESSION: list[pytest.Config] = []  # the config of this process's session (the logstart hook has none)
# options that change what a run judges (a merge refuses parts that differ in them); --dtype, --mode and
# --framework may differ between parts (a matrix), --shard is the part's own
JUDGING_OPTIONS = ("--hypothesis-profile", "--hypothesis-seed", "keyword", "markexpr", "--strict-hazards",
                   "--fixtures-dir", "--timeout", "--timing", "--timing-size")


def suite_version() -> str:
    """The installed loss-conformance version (``not installed`` in a bare checkout)."""
    from conformance.reporting.run_info import version

    return version("loss-conformance")


def _digest(path: str | None) -> str | None:
    if not path or not Path(path).is_file():
        return path
    return f"{Path(path).name} sha256:{hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]}"


def identity(config: pytest.Config) -> dict[str, Any]:
    """What the run is, as given on its command line: implementation, suite version, options, matrix cell, shard."""
    from conformance.plugin import dtypes_under_test
    from conformance.shard import shard_of

    options = {name.lstrip("-"): config.getoption(name, default=None) for name in JUDGING_OPTIONS}
    options["expect"] = _digest(config.getoption("--expect", default=None))
    shard = shard_of(config)
    return {
        "suite": suite_version(),
        "impl": config.getoption("--impl"),
        "options": options,
        "cell": {"dtypes": dtypes_under_test(config), "mode": config.getoption("--mode") or "default",
                 "framework": config.getoption("--framework", default="auto")},
        "shard": {"index": shard[0], "count": shard[1]} if shard else None,
    }


def _writes(config: pytest.Config) -> bool:
    from conformance.plugin import IMPL_KEY

    return (bool(config.getoption("--report-json", default=None)) and IMPL_KEY in config.stash
            and not hasattr(config, "workerinput"))


def _write(config: pytest.Config, entry: dict[str, Any]) -> None:
    f = config.stash.get(_FILE_KEY, None)
    if f is not None:
        f.write(json.dumps(entry, allow_nan=False) + "\n")  # line-buffered: in the kernel before the next check


def _start(config: pytest.Config, checks: list[str]) -> None:
    if not _writes(config) or _FILE_KEY in config.stash or not checks:  # none: a usage error, or nothing to run
        return
    from conformance.shard import check_id

    config.stash[_CHECKS_KEY] = [check_id(c) for c in checks]
    path = Path(config.getoption("--report-json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    config.stash[_FILE_KEY] = path.open("w", encoding="utf-8", buffering=1)
    _write(config, {JOURNAL: FORMAT, **identity(config), "checks": config.stash[_CHECKS_KEY]})


def pytest_sessionstart(session: pytest.Session) -> None:
    _SESSION[:] = [session.config]


def pytest_collection_finish(session: pytest.Session) -> None:
    from conformance import parallel

    if not parallel.is_controller(session.config):
        _start(session.config, [i.nodeid for i in session.items])


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """On the pytest-xdist controller: the first worker's collection is the run's (every worker collects alike)."""
    _start(node.config, list(ids))


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    from conformance.shard import check_id

    if _SESSION:
        _write(_SESSION[0], {"start": check_id(nodeid)})


@pytest.hookimpl(trylast=True)  # after conformance.isolation has added a crashed worker's result
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not _SESSION:
        return
    if report.when in ("teardown", "???"):
        from conformance.shard import check_id

        _write(_SESSION[0], {"end": check_id(report.nodeid)})
    if report.when not in ("call", "???") and not (report.when == "setup" and report.skipped):
        return
    for key, value in report.user_properties:
        if key == "conformance_result":
            _write(_SESSION[0], {"result": json.loads(value)})


@pytest.hookimpl(tryfirst=True, specname="pytest_sessionfinish")
def stop_writing(session: pytest.Session) -> None:
    """Stop writing lines: the complete document replaces them (:func:`conformance.reporting.writer.write_outputs`)."""
    f = session.config.stash.get(_FILE_KEY, None)
    if f is not None:
        f.close()
        del session.config.stash[_FILE_KEY]


def fields(config: pytest.Config, exitstatus: int) -> dict[str, Any]:
    """What the complete JSON document records besides the results: identity, the checks, the exit status."""
    return {**identity(config), "checks": config.stash.get(_CHECKS_KEY, []), "complete": True,
            "exitstatus": int(exitstatus)}


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Add :func:`fields` to the complete document the plugin wrote (after it, with the run's final exit status)."""
    config = session.config
    if not _writes(config) or _CHECKS_KEY not in config.stash:
        return
    path = Path(config.getoption("--report-json"))
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # not written (the lines stay, as after a killed run)
        return
    doc.update(fields(config, session.exitstatus))
    partial = Path(f"{path}.writing")
    partial.write_text(json.dumps(doc, indent=1, allow_nan=False), encoding="utf-8")
    os.replace(partial, path)
