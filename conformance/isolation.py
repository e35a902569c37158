"""Surviving implementations that hang or crash: per-test timeouts, and both outcomes as results.

Loaded by :mod:`conformance.plugin`; it acts only when ``--impl`` is given, and only on the conformance tests.

* Every conformance test gets pytest-timeout's ``timeout`` marker with :data:`DEFAULT_TIMEOUT` seconds (times
  the active Hypothesis profile's examples over the gate's, at most :data:`MAX_SCALE` times) unless the user set
  one (``--timeout=SECONDS``, the ``timeout`` ini option or ``$PYTEST_TIMEOUT``; ``0`` disables).
* With pytest-timeout's signal method (the default on POSIX) the alarm raises :class:`ImplementationTimeout`, a
  ``BaseException``: Hypothesis treats ``Exception`` and pytest's ``Failed`` as a failing example to shrink and
  replay, and the replay of a hanging example would hang with no alarm left.  If the test has not finished
  :func:`grace` seconds after the alarm (a hang inside compiled TensorFlow code, where no signal handler runs), a
  watchdog ends the process as pytest-timeout's thread method does; under pytest-xdist the test is reported as
  timed out and xdist replaces the worker, so the run goes on.
* A timed-out test records a :class:`CheckResult` with status ``"timeout"``; a test whose xdist worker died
  (``os._exit``, a segfault) records ``"crashed"`` on the controller.  Both are built from the test's name and
  parameters, as the test body never finished.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import threading
from typing import Any

import pytest

from conformance.reporting.results import CATEGORIES, CheckResult

DEFAULT_TIMEOUT = 600.0  # seconds per test: the slowest conformance tests take about a minute on 2 CPU cores
GATE_EXAMPLES = 25  # the gate profile's examples per check, for which DEFAULT_TIMEOUT is set
MAX_SCALE = 6  # a profile drawing more examples waits proportionally longer, at most 1 hour
TIMEOUT_TEXT = "Timeout (>"  # how pytest-timeout's messages (and ours) begin
_TIMED_OUT: set[str] = set()  # node ids with a timeout result (controller): a later crash report is the watchdog's


class ImplementationTimeout(BaseException):
    """A conformance test ran past its timeout (a ``BaseException``, so that Hypothesis does not replay it)."""


def grace(timeout: float) -> float:
    """Seconds the watchdog waits after the alarm before ending the process."""
    return min(60.0, max(5.0, 0.1 * timeout))


def _active(config: pytest.Config) -> bool:
    from conformance.plugin import IMPL_KEY

    return IMPL_KEY in config.stash


def _ours(item: pytest.Item) -> bool:
    from conformance.plugin import is_suite_item

    return is_suite_item(item)


def _user_timeout(config: pytest.Config) -> bool:
    """Whether the user chose a timeout (pytest-timeout's option, environment variable or ini value)."""
    return (config.getoption("timeout", default=None) is not None or bool(os.environ.get("PYTEST_TIMEOUT"))
            or bool(config.getini("timeout")))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("conformance").addoption(
        "--isolate", action="store_true", default=False,
        help="run the implementation in a separate process (one pytest-xdist worker), so that a crash (os.abort, "
             "a segfault) is reported as CRASHED for the check that caused it and the run goes on")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """``--isolate`` without ``-n``: one pytest-xdist worker (set before or after xdist reads ``-n``)."""
    if (not config.getoption("--isolate", default=False) or getattr(config.option, "numprocesses", None)
            or hasattr(config, "workerinput")):  # the worker itself runs the tests
        return
    if not config.pluginmanager.hasplugin("xdist"):
        raise pytest.UsageError("conformance: --isolate needs pytest-xdist (pip install pytest-xdist)")
    config.option.numprocesses = 1
    if getattr(config.option, "dist", "no") == "no":
        config.option.dist = "load"
    config.option.tx = ["popen"]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _active(config) or not config.pluginmanager.hasplugin("timeout") or _user_timeout(config):
        return
    seconds = default_timeout()
    for item in items:
        if _ours(item) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(seconds))


def default_timeout() -> float:
    """:data:`DEFAULT_TIMEOUT` scaled by the active Hypothesis profile's examples per check (the thorough profile's
    500 draw 20 times the gate's 25: a check that takes a minute there takes many here; hangs are still caught)."""
    from hypothesis import settings

    scale = min(max(1.0, settings.default.max_examples / GATE_EXAMPLES), MAX_SCALE)
    return DEFAULT_TIMEOUT * scale


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    """The signal method for conformance tests, raising :class:`ImplementationTimeout`, plus a watchdog."""
    if (settings.method != "signal" or threading.current_thread() is not threading.main_thread()
            or not _ours(item) or not _active(item.config)):
        return None  # pytest-timeout's own timer
    from pytest_timeout import is_debugging

    message = f"{TIMEOUT_TEXT}{settings.timeout:g}s) from pytest-timeout: the test did not finish in time"

    def handler(signum: int, frame: Any) -> None:
        if not settings.disable_debugger_detection and is_debugging():
            return
        raise ImplementationTimeout(message)

    watchdog = threading.Timer(settings.timeout + grace(settings.timeout), _abandon,
                               (item, message, grace(settings.timeout)))
    watchdog.daemon = True

    def cancel() -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        watchdog.cancel()

    item.cancel_timeout = cancel  # pytest-timeout's cancel hook calls it
    signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, settings.timeout)
    watchdog.start()
    return True


def _abandon(item: pytest.Item, message: str, waited: float) -> None:
    """The alarm did not end the test (it is stuck outside Python): report the timeout and end the process."""
    text = (f"{message}; it did not return to Python within {waited:g}s of the alarm (a hang inside compiled "
            "code), so the process is ended")
    try:
        sys.stderr.write(f"\n+++ {item.nodeid}: {text}\n")
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
        if hasattr(item.config, "workerinput"):  # xdist: the controller records it; the worker is replaced
            report = pytest.TestReport(item.nodeid, item.location, {}, "failed", text, "call",
                                       user_properties=[("conformance_result", result_for(item, text).to_json())])
            item.ihook.pytest_runtest_logreport(report=report)
    finally:
        os._exit(1)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    """A test that timed out records a "timeout" result (its body never finished to record one)."""
    report = yield
    exc = call.excinfo.value if call.excinfo is not None else None
    if (report.failed and exc is not None and str(exc).startswith(TIMEOUT_TEXT) and _ours(item)
            and _active(item.config) and not any(k == "conformance_result" for k, _ in report.user_properties)):
        report.user_properties.append(("conformance_result", result_for(item, str(exc)).to_json()))
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """On the xdist controller, a worker's crash becomes a "crashed" result for the test it was running."""
    if any(k == "conformance_result" and '"status": "timeout"' in v for k, v in report.user_properties):
        _TIMED_OUT.add(report.nodeid)
    if report.when != "???" or not report.failed or report.nodeid in _TIMED_OUT:
        return
    result = result_from_nodeid(report.nodeid, "crashed", f"{report.longrepr} (the process running the "
                                "implementation died: os._exit, a segfault or an abort)")
    if result is not None:
        report.user_properties.append(("conformance_result", result.to_json()))


def result_for(item: pytest.Item, message: str, status: str = "timeout") -> CheckResult:
    """A result for a conformance test from its parameters (contract or timing case, dtype, mode) and marker."""
    from conformance.contracts import REGISTRY

    params = item.callspec.params if hasattr(item, "callspec") else {}
    if "contract" in params:
        name, family = params["contract"].name, params["contract"].family
    else:
        name = getattr(params.get("timing_case"), "name", item.name)
        family = REGISTRY[name].family if name in REGISTRY else ""
    category = next((m.name for m in item.iter_markers() if m.name in CATEGORIES), item.originalname[5:])
    return CheckResult(name, family, category, params.get("dtype", ""), params.get("mode", ""), status=status,
                       message=message)


def result_from_nodeid(nodeid: str, status: str, message: str) -> CheckResult | None:
    """A result from a node id like ``.../test_value.py::test_value[sigmoid-float32-eager]`` (None if not ours)."""
    from conformance.contracts import REGISTRY
    from conformance.plugin import DTYPE_CHOICES, MODE_CHOICES

    test, _, params = nodeid.rpartition("::")[2].partition("[")
    category = test[len("test_"):]
    params = params.rstrip("]")
    names = [n for n in REGISTRY if params == n or params.startswith(n + "-")]
    if category not in CATEGORIES or not names:
        return None
    name = max(names, key=len)
    rest = params[len(name):].split("-")
    dtype = next((p for p in rest if p in DTYPE_CHOICES), "")
    mode = next((p for p in rest if p in MODE_CHOICES), "")
    return CheckResult(name, REGISTRY[name].family, category, dtype, mode, status=status, message=message)
