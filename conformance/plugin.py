"""pytest plugin: options, markers, Hypothesis profiles, parametrization and the summary.

Registered through the ``pytest11`` entry point, so it works both as
``pytest conformance --impl=...`` in the repository and as
``pytest --pyargs conformance --impl=...`` anywhere.  It does nothing unless
``--impl`` is given (or the conformance tests are collected without it, which is
a usage error).
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from conformance import parallel
from conformance.startup import cache_dir, quiet_startup, tidy_environment

DTYPE_CHOICES = ("float32", "float16", "bfloat16", "float64")
# TensorFlow: eager, function, xla; JAX: eager, jit; PyTorch: eager, compile
MODE_CHOICES = ("eager", "function", "xla", "jit", "compile")
FRAMEWORK_CHOICES = ("auto", "tf", "jax", "torch", "keras")
MARKERS = {
    "value": "value checks against the float64 oracle",
    "gradient": "gradient (VJP) checks against the oracle",
    "stability": "adversarial-input stability tier",
    "badinput": "bad-input behaviour",
    "regression": "regression fixture replay",
    "timing": "pytest-benchmark timings (off unless --timing)",
}
# per-test timeouts, hangs and crashes reported as results; --shard; results written as they are reached
pytest_plugins = ("conformance.isolation", "conformance.shard", "conformance.journal")
_RESULTS_KEY = pytest.StashKey[list]()
IMPL_KEY = pytest.StashKey[tuple]()  # (--impl spec, the loaded module, the dtypes under test) once --impl is given
START_KEY = pytest.StashKey[float]()  # session start (time.time()), for the report
_WRITTEN_KEY = pytest.StashKey[list]()  # "conformance report: PATH" lines, printed last in the summary
_EXPECT_KEY = pytest.StashKey[object]()  # the --expect file's Expectations (conformance.expectations)
RUN_KEY = pytest.StashKey[object]()  # the run's RunInfo (conformance.reporting.run_info), set at session finish


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
    g.addoption("--mode", default=None, choices=MODE_CHOICES,
                help="TensorFlow: eager (default), function (tf.function) or xla (tf.function(jit_compile=True)); "
                     "JAX: jit (default) or eager; PyTorch: eager (default) or compile (torch.compile)")
    g.addoption("--framework", default="auto", choices=FRAMEWORK_CHOICES,
                help="the implementation's framework: tf, jax, torch, or keras (Keras 3 keras.ops code, run by "
                     "$KERAS_BACKEND's runner); default auto: detected from the module's imports (tf when unsure)")
    g.addoption("--accumulate", default="measured", choices=("measured", "dtype"),
                help="how the tolerance model charges sums in float16/bfloat16: measured (default: as the "
                     "framework's reductions were measured to accumulate, float32 on today's platforms) or dtype "
                     "(an implementation that accumulates in the dtype on purpose: cumsum, a loop of adds)")
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
    g.addoption("--reproducers-dir", default=None, metavar="DIR",
                help="where a failing test's standalone reproducer (.py and .npz) is written: default "
                     "<report stem>-reproducers beside --report, else the cache directory's reproducers/")
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
        raise usage_error(spec, exc) from exc


def usage_error(spec: str, exc: Exception) -> pytest.UsageError:
    """The usage error for an ``--impl`` that cannot be found or imported."""
    if getattr(exc, "found", False):  # the module was found; the error is in it (a SyntaxError, a failing import)
        return pytest.UsageError(f"conformance: could not import --impl={spec}: {exc}")
    return pytest.UsageError(
        f"conformance: could not import --impl={spec}: {exc}\n"
        "Pass an importable dotted module (--impl=mypkg.losses), a module in the current directory "
        "(--impl=mylosses), a path to a .py file (--impl=./my_losses.py), or module:object for an object "
        "whose attributes are the contract names."
    )


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


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Register the suite's Hypothesis profiles before Hypothesis' own ``pytest_configure`` loads one by name.

    Only when ``--hypothesis-profile`` is given (Hypothesis imports itself then anyway), so that the plugin's
    mere presence does not import Hypothesis into every pytest run, nor into the xdist controller.
    """
    if config.getoption("--hypothesis-profile", default=None):
        from conformance.checks.profiles import register_profiles

        register_profiles()


def pytest_configure(config: pytest.Config) -> None:
    for name, doc in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {doc}")
    config.stash[_RESULTS_KEY] = []
    spec = config.getoption("--impl")
    if not spec:
        return
    atexit.register(gc.freeze)  # at exit: skip collecting the framework's objects one by one (about 1 s)
    tidy_environment(config)  # before the implementation (and so TensorFlow) is imported
    dtypes = dtypes_under_test(config)
    from conformance.numerics import arithmetic

    arithmetic.set_policy(config.getoption("--accumulate") or "measured")
    if parallel.is_controller(config):
        # The workers import the implementation; a usage error found there comes back in workeroutput.
        configure_controller(config, spec, dtypes)
        return
    try:
        configure_runner(config, spec, dtypes)
    except pytest.UsageError as exc:
        if not hasattr(config, "workerinput"):
            raise
        config.workeroutput[parallel.USAGE_ERROR] = str(exc)  # raising here would print a traceback and exit 0


def configure_controller(config: pytest.Config, spec: str, dtypes: list[str]) -> None:
    """The xdist controller: find ``--impl`` without importing it; load ``--expect`` (to apply it to the results)."""
    from conformance.impl import ImplError, find

    try:
        find(spec)
    except ImplError as exc:
        raise usage_error(spec, exc) from exc
    config.stash[IMPL_KEY] = (spec, None, dtypes)
    parallel.limit_worker_threads(config)
    if config.hook.pytest_conformance_contracts.get_hookimpls():  # for --expect and the crash reports' names
        register_user_contracts(config)
    if config.getoption("--expect"):
        load_expectations(config)


def configure_runner(config: pytest.Config, spec: str, dtypes: list[str]) -> None:
    """A process that runs the tests: import ``--impl``, select the framework, load profile and ``--expect``."""
    from hypothesis import settings

    from conformance.checks.profiles import DEFAULT_PROFILE, register_profiles
    from conformance.contracts import REGISTRY

    register_profiles()
    if not config.getoption("--hypothesis-profile", default=None):
        settings.load_profile(DEFAULT_PROFILE)  # also overrides Hypothesis' own "ci" profile
    register_user_contracts(config)
    with quiet_startup(config):
        module = load_impl(spec)
    _select_framework(config, module)
    names = list(REGISTRY)
    if not any(getattr(module, n, None) is not None for n in names):
        raise pytest.UsageError(
            f"conformance: --impl={spec} provides none of the contract names ({', '.join(names[:4])}, ...). "
            "Pass a module that defines the functions of docs/contracts.md, or a small adapter module exposing them."
        )
    config.stash[IMPL_KEY] = (spec, module, dtypes)
    if config.getoption("--expect"):
        load_expectations(config)


def load_expectations(config: pytest.Config) -> None:
    """Read ``--expect`` against the registered contracts."""
    from conformance import expectations
    from conformance.contracts import REGISTRY

    config.stash[_EXPECT_KEY] = expectations.load(config.getoption("--expect"), list(REGISTRY),
                                                  expectations.known_ids(REGISTRY.values()))


def _select_framework(config: pytest.Config, module: ModuleType) -> None:
    """Select the runner for --framework (here and in every xdist worker) and resolve --mode's default."""
    from conformance import runners

    try:
        runner = runners.select(config.getoption("--framework"), module)
    except (ValueError, ImportError) as exc:
        raise pytest.UsageError(f"conformance: --framework={config.getoption('--framework')}: {exc}") from exc
    mode = config.getoption("--mode") or runner.DEFAULT_MODE
    if mode not in runner.MODES:
        raise pytest.UsageError(f"conformance: --mode={mode} is not a mode of the {runner.NAME} runner "
                                f"({', '.join(runner.MODES)})")
    config.option.mode = mode


def is_suite_item(item: pytest.Item) -> bool:
    """Whether ``item`` is one of the conformance tests (``conformance.suite``)."""
    mod = getattr(item, "module", None)
    return mod is not None and mod.__name__.startswith("conformance.suite.")


TIMING_MODULE = Path(__file__).parent / "suite" / "test_timing.py"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave the timing module uncollected unless timing is asked for: a default run counts no deselected tests."""
    if collection_path == TIMING_MODULE and not _timing_enabled(config):
        return True
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if parallel.USAGE_ERROR in getattr(config, "workeroutput", {}):  # the controller reports it; run nothing
        config.hook.pytest_deselected(items=list(items))
        items[:] = []
        return
    if IMPL_KEY not in config.stash and any(is_suite_item(i) for i in items):
        raise pytest.UsageError(
            "conformance: no implementation chosen. Pass --impl=MODULE or a .py path, e.g. from your project's folder\n"
            "  pytest --pyargs conformance --impl=./my_losses.py\n"
            "  pytest --pyargs conformance --impl=mypkg.losses"
        )
    if not _timing_enabled(config):  # timing tests collected all the same (the module named on the command line)
        timing = [i for i in items if i.get_closest_marker("timing") is not None]
        if timing:
            config.hook.pytest_deselected(items=timing)
            items[:] = [i for i in items if i.get_closest_marker("timing") is None]
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: the longest checks first, so no worker ends late
        items[:] = parallel.xdist_order(items, int(config.workerinput.get("workercount", 1)), expected_cost)


# Relative cost of a suite test, from the default run on the reference target (docs/benchmarks.md).
CATEGORY_COST = {"stability": 3.0, "gradient": 3.0, "value": 1.5, "badinput": 1.0, "regression": 0.5}


def expected_cost(item: pytest.Item) -> float:
    """A rough relative duration of a suite test (category x the record's ``cost``), for ordering under pytest-xdist."""
    if not is_suite_item(item):
        return 0.0
    category = item.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    contract = getattr(getattr(item, "callspec", None), "params", {}).get("contract")
    return CATEGORY_COST.get(category, 1.0) * getattr(contract, "cost", 1.0)


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
    if report.failed and call.excinfo is not None and is_suite_item(item) and item.config.getoption("--impl"):
        shorten_failure(item, call, report)
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
    if IMPL_KEY not in config.stash or session.exitstatus == pytest.ExitCode.USAGE_ERROR:
        return  # a usage error from an xdist worker: no run to report, as in a serial run
    spec, module, dtypes = config.stash[IMPL_KEY]
    if module is not None:  # this process imported the implementation (serial run or xdist worker)
        from conformance.reporting.run_info import describe_run

        config.stash[RUN_KEY] = describe_run(spec, module, dtypes, config.getoption("--mode"))
    if hasattr(config, "workerinput"):
        config.workeroutput[parallel.RUN_INFO] = config.stash[RUN_KEY].to_json()
        return  # only the controller writes reports
    from conformance.reporting.writer import write_outputs

    declared = config.stash.get(_EXPECT_KEY, None)
    stale = declared.finish(results(config)) if declared is not None else []  # entries that no longer fail
    if stale and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    config.stash[_WRITTEN_KEY] = stale + write_outputs(config, results(config), run_info(config),
                                                          config.stash.get(START_KEY, None))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """On the xdist controller: a worker's usage error ends the run; the first worker's RunInfo is the run's."""
    output = getattr(node, "workeroutput", None) or {}
    if output.get(parallel.USAGE_ERROR):
        raise pytest.UsageError(output[parallel.USAGE_ERROR])
    config = _CONFIG[0] if _CONFIG else None
    if config is not None and output.get(parallel.RUN_INFO) and RUN_KEY not in config.stash:
        from conformance.reporting.run_info import RunInfo

        config.stash[RUN_KEY] = RunInfo.from_json(output[parallel.RUN_INFO])


@pytest.hookimpl(tryfirst=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """An xdist worker's process ends with its session: freeze the garbage collector before pytest's last full
    collections (two, at unconfigure), which walked the framework's objects for about 0.5 s at the end of the run."""
    if hasattr(config, "workerinput") and IMPL_KEY in config.stash:
        gc.freeze()


def run_info(config: pytest.Config) -> object:
    """The run's RunInfo; a bare one (``--impl``, dtypes) where no process that imported the implementation reported."""
    from conformance.reporting.run_info import RunInfo

    spec, _, dtypes = config.stash[IMPL_KEY]
    return config.stash.get(RUN_KEY, None) or RunInfo(spec, dtypes, mode=config.getoption("--mode") or "?")


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if IMPL_KEY not in config.stash or exitstatus == pytest.ExitCode.USAGE_ERROR:
        return
    from conformance.reporting.terminal import render_summary

    info = run_info(config)
    for line in render_summary(results(config), info.spec, info.provided or None, info.profile or None,
                               names=info.names or None):
        terminalreporter.write_line(line)
    from conformance.reporting.run_info import arithmetic_lines

    for line in arithmetic_lines(info):
        terminalreporter.write_line(f"arithmetic: {line}")
    for line in config.stash.get(_WRITTEN_KEY, []):
        terminalreporter.write_line(line)


# --- a new user's first run: quiet start-up, no stray folders, short failures --------------------------------------

def reproducers_dir(config: pytest.Config) -> Path:
    """``--reproducers-dir``, else ``<report stem>-reproducers`` beside ``--report``, else the cache's reproducers/."""
    if config.getoption("--reproducers-dir"):
        return Path(config.getoption("--reproducers-dir")).resolve()
    if config.getoption("--report"):
        report = Path(config.getoption("--report")).resolve()
        return report.parent / f"{report.stem}-reproducers"
    return cache_dir() / "reproducers"


def _user_frames(exc: BaseException | None) -> list[str]:
    """``file:line in function`` and the source line of each frame of ``exc`` outside the suite and the libraries."""
    import sysconfig
    import traceback

    if exc is None or exc.__traceback__ is None:
        return []
    roots = [str(Path(sysconfig.get_paths()["stdlib"]).resolve())]
    for name in ("conformance", "oracle", "tensorflow", "keras", "tf_keras", "hypothesis", "numpy", "_pytest",
                 "pluggy", "jax", "torch"):
        mod = sys.modules.get(name)
        if mod is not None and getattr(mod, "__file__", None):
            roots.append(str(Path(mod.__file__).resolve().parent))
    lines = []
    for fr in traceback.extract_tb(exc.__traceback__):
        path = str(Path(fr.filename).resolve())
        if any(path.startswith(r + os.sep) for r in roots) or fr.filename.startswith("<"):
            continue
        lines.append(f"  {fr.filename}:{fr.lineno} in {fr.name}")
        if fr.line:
            lines.append(f"    {fr.line.strip()}")
    tail = f"  {type(exc).__name__}: {exc}".splitlines()
    return [*lines, *tail[:4]] if lines else []


def shorten_failure(item: pytest.Item, call: pytest.CallInfo, report: pytest.TestReport) -> None:
    """Replace pytest's traceback of a failed conformance test with ``reporting.terminal.failure_text``.

    Only with pytest's default ``--tb=auto``; any other ``--tb`` keeps pytest's own output.  The failure's standalone
    reproducer is written to :func:`reproducers_dir` and its path printed.
    """
    if item.config.getoption("tbstyle", "auto") != "auto":
        return
    from conformance.reporting.reproducer import write_reproducer
    from conformance.reporting.results import CheckResult
    from conformance.reporting.terminal import failure_text

    found = [v for k, v in report.user_properties if k == "conformance_result"]
    if not found:
        return
    result = CheckResult.from_json(found[-1])
    exc = call.excinfo.value
    if result.inputs is None and getattr(exc, "failure", None):  # a failure raised outside run_check's handler
        result.inputs = exc.failure["inputs"]
        result.extra.update(exc.failure["extra"])
    module = item.config.stash[IMPL_KEY][1] if IMPL_KEY in item.config.stash else None
    files, error = None, None
    if result.inputs:
        try:
            files = write_reproducer(result, item.config.getoption("--impl"), getattr(module, "__file__", None),
                                     reproducers_dir(item.config))
        except Exception as err:  # the failure must still be reported
            error = f"{type(err).__name__}: {err}"
    report.longrepr = failure_text(result, files, _user_frames(exc.__cause__ or exc.__context__), error)


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    """A contract name the implementation does not define is counted "not provided", not "skipped"."""
    if report.skipped and report.when in ("setup", "call") and isinstance(report.longrepr, tuple):
        if str(report.longrepr[2]).startswith("Skipped: not provided by "):
            # pytest's last line counts names, as the summary does: one test per name not provided counts
            found = [json.loads(v).get("name") for k, v in report.user_properties if k == "conformance_result"]
            seen = config.stash.setdefault(_NOT_PROVIDED_KEY, set())
            name = found[0] if found else report.nodeid
            category = "" if name in seen else "not provided"  # pytest's summary line skips the empty category
            seen.add(name)
            return category, "n", "NOT PROVIDED"
    return None


_NOT_PROVIDED_KEY = pytest.StashKey[set]()
