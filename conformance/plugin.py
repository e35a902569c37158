"""pytest plugin: options, markers, Hypothesis profiles, parametrization and the summary.

Registered through the ``pytest11`` entry point, so it works both as
``pytest conformance --impl=...`` in the repository and as
``pytest --pyargs conformance --impl=...`` anywhere.  It does nothing unless
``--impl`` is given (or the conformance tests are collected without it, which is
a usage error).
"""

from __future__ import annotations

import time
from types import ModuleType

import pytest

from conformance.checks.profiles import register_profiles

DTYPE_CHOICES = ("float32", "float16", "bfloat16", "float64")
MODE_CHOICES = ("eager", "function", "xla")
MARKERS = {
    "value": "value checks against the float64 oracle",
    "gradient": "gradient (VJP) checks against the oracle",
    "stability": "adversarial-input stability tier",
    "badinput": "bad-input behaviour",
    "regression": "regression fixture replay",
    "timing": "pytest-benchmark timings (off unless --timing)",
}
register_profiles()  # before Hypothesis' pytest_configure loads --hypothesis-profile
pytest_plugins = ("conformance.isolation",)  # per-test timeouts, hangs and crashes reported as results
_RESULTS_KEY = pytest.StashKey[list]()
IMPL_KEY = pytest.StashKey[tuple]()  # (--impl spec, the loaded module, the dtypes under test) once --impl is given
START_KEY = pytest.StashKey[float]()  # session start (time.time()), for the report
_WRITTEN_KEY = pytest.StashKey[list]()  # "conformance report: PATH" lines, printed last in the summary
_EXPECT_KEY = pytest.StashKey[object]()  # the --expect file's Expectations (conformance.expectations)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from conformance import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def register_user_contracts(config: pytest.Config) -> list[str]:
    """Register the records that ``pytest_conformance_contracts`` implementations return; their names."""
    from conformance.contracts import register

    names = []
    for records in config.hook.pytest_conformance_contracts():
        for record in records or ():
            names.append(register(record).name)
    return names


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("conformance", "loss conformance suite")
    g.addoption("--impl", default=None, metavar="MODULE",
                help="implementation under test: a dotted module (mypkg.losses) or a path to a .py file")
    g.addoption("--dtype", action="append", default=None, metavar="DTYPE",
                help=f"dtype(s) under test, repeatable or comma-separated: {', '.join(DTYPE_CHOICES)} "
                     "(default float32)")
    g.addoption("--mode", default="eager", choices=MODE_CHOICES,
                help="eager (default), function (tf.function) or xla (tf.function(jit_compile=True))")
    g.addoption("--strict-hazards", action="store_true", default=False, help="fail on hazards too")
    g.addoption("--report", default=None, metavar="PATH", help="write a self-contained HTML report to PATH")
    g.addoption("--report-json", default=None, metavar="PATH",
                help="write machine-readable per-name, per-category verdicts to PATH")
    # pytest itself owns --fixtures (it lists fixtures), hence --fixtures-dir.
    g.addoption("--fixtures-dir", action="append", default=None, metavar="DIR",
                help="replay the regression fixture set in DIR instead of the committed one (repeatable; "
                     "'committed' names the committed set)")
    g.addoption("--expect", default=None, metavar="FILE",
                help="TOML file of known failures ([[expected]] name, category, optional divergence, reason): "
                     "they are reported 'expected' (xfail); one that passes fails the run")
    g.addoption("--timing", action="store_true", default=False,
                help="run the timing benchmarks (marker timing; off by default)")
    g.addoption("--timing-size", default=None, choices=("production", "tiny"),
                help="sizes for the timing benchmarks: production (default) or tiny (CI smoke check); "
                     "also $CONFORMANCE_TIMING_SIZE")


def load_impl(spec: str) -> ModuleType:
    """Import ``spec`` (see :mod:`conformance.impl`), raising ``pytest.UsageError`` with advice on failure."""
    from conformance.impl import ImplError, load

    try:
        return load(spec).obj
    except ImplError as exc:
        raise pytest.UsageError(
            f"conformance: could not import --impl={spec}: {exc}\n"
            "Pass an importable dotted module (--impl=mypkg.losses), a module in the current directory "
            "(--impl=mylosses), a path to a .py file (--impl=./my_losses.py), or module:object for an object "
            "whose attributes are the contract names."
        ) from exc


def dtypes_under_test(config: pytest.Config) -> list[str]:
    """The ``--dtype`` list (default float32), validated and without repeats."""
    raw = config.getoption("--dtype") or ["float32"]
    out = []
    for item in raw:
        for d in item.split(","):
            d = d.strip()
            if d not in DTYPE_CHOICES:
                raise pytest.UsageError(f"conformance: --dtype: expected one of {DTYPE_CHOICES}, got {d!r}")
            if d not in out:
                out.append(d)
    return out


def pytest_configure(config: pytest.Config) -> None:
    for name, doc in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {doc}")
    config.stash[_RESULTS_KEY] = []
    spec = config.getoption("--impl")
    if not spec:
        return
    from hypothesis import settings

    from conformance.checks.profiles import DEFAULT_PROFILE
    from conformance.contracts import REGISTRY

    if not config.getoption("--hypothesis-profile", default=None):
        settings.load_profile(DEFAULT_PROFILE)  # also overrides Hypothesis' own "ci" profile
    register_user_contracts(config)
    module = load_impl(spec)
    names = list(REGISTRY)
    provided = [n for n in names if getattr(module, n, None) is not None]
    if not provided:
        raise pytest.UsageError(
            f"conformance: --impl={spec} provides none of the contract names ({', '.join(names[:4])}, ...). "
            "Pass a module that defines the functions of spec §7, or a small adapter module exposing them."
        )
    config.stash[IMPL_KEY] = (spec, module, dtypes_under_test(config))
    if config.getoption("--expect"):
        from conformance import expectations

        config.stash[_EXPECT_KEY] = expectations.load(config.getoption("--expect"), names,
                                                      expectations.known_ids(REGISTRY.values()))


def is_suite_item(item: pytest.Item) -> bool:
    """Whether ``item`` is one of the conformance tests (``conformance.suite``)."""
    mod = getattr(item, "module", None)
    return mod is not None and mod.__name__.startswith("conformance.suite.")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if IMPL_KEY not in config.stash and any(is_suite_item(i) for i in items):
        raise pytest.UsageError(
            "conformance: no implementation chosen. Pass --impl=MODULE, e.g.\n"
            "  pytest conformance --impl=mypkg.losses\n"
            "  pytest --pyargs conformance --impl=./my_losses.py"
        )
    if not _timing_enabled(config):
        timing = [i for i in items if i.get_closest_marker("timing") is not None]
        if timing:
            config.hook.pytest_deselected(items=timing)
            items[:] = [i for i in items if i.get_closest_marker("timing") is None]


def _timing_enabled(config: pytest.Config) -> bool:
    """Timing tests run with --timing, or when pytest-benchmark is asked to (--benchmark-only/-enable)."""
    return any(config.getoption(o, default=False) for o in ("--timing", "--benchmark-only", "--benchmark-enable"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "contract" not in metafunc.fixturenames or IMPL_KEY not in metafunc.config.stash:
        return
    from conformance.contracts import REGISTRY

    _, _, dtypes = metafunc.config.stash[IMPL_KEY]
    metafunc.parametrize("contract", list(REGISTRY.values()), ids=list(REGISTRY))
    metafunc.parametrize("dtype", dtypes)
    metafunc.parametrize("mode", [metafunc.config.getoption("--mode")])


@pytest.fixture
def impl(request: pytest.FixtureRequest) -> tuple[str, ModuleType]:
    """(name, module) of the implementation under test."""
    spec, module, _ = request.config.stash[IMPL_KEY]
    return spec, module


@pytest.fixture
def record(request: pytest.FixtureRequest):
    """Call with a CheckResult to attach it to the test report (aggregated across xdist workers)."""

    def _record(result) -> None:
        request.node.user_properties.append(("conformance_result", result.to_json()))

    return _record


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # "???": pytest-xdist's report for a test whose worker crashed (conformance.isolation adds its result)
    if report.when not in ("call", "???") and not (report.when == "setup" and report.skipped):
        return
    cfg = _CONFIG[0] if _CONFIG else None
    if cfg is None:
        return
    from conformance.reporting.results import CheckResult

    for key, value in report.user_properties:
        if key == "conformance_result":
            cfg.stash[_RESULTS_KEY].append(CheckResult.from_json(value))


_CONFIG: list[pytest.Config] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failure that an ``--expect`` entry declares becomes an xfail (its results status "expected")."""
    report = yield
    declared = item.config.stash.get(_EXPECT_KEY, None)
    if declared is not None:
        declared.apply_to_report(report, call.excinfo.value if call.excinfo else None)
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    _CONFIG[:] = [session.config]
    session.config.stash[START_KEY] = time.time()


def results(config: pytest.Config) -> list:
    """All CheckResults gathered in this session (on the xdist controller: from every worker)."""
    return config.stash[_RESULTS_KEY]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if IMPL_KEY not in config.stash or hasattr(config, "workerinput"):
        return  # only the controller writes reports
    from conformance.reporting.writer import write_outputs

    spec, module, dtypes = config.stash[IMPL_KEY]
    declared = config.stash.get(_EXPECT_KEY, None)
    stale = declared.finish(results(config)) if declared is not None else []  # entries that no longer fail
    if stale and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    config.stash[_WRITTEN_KEY] = stale + write_outputs(config, results(config), spec, module, dtypes,
                                                          config.stash.get(START_KEY, None))


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if IMPL_KEY not in config.stash:
        return
    from conformance.contracts import REGISTRY
    from conformance.reporting.terminal import render_summary

    spec, module, _ = config.stash[IMPL_KEY]
    provided = [n for n in REGISTRY if getattr(module, n, None) is not None]
    from hypothesis import settings

    for line in render_summary(results(config), spec, provided, settings.get_current_profile_name()):
        terminalreporter.write_line(line)
    for line in config.stash.get(_WRITTEN_KEY, []):
        terminalreporter.write_line(line)
