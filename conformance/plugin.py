"""pytest plugin: options, markers, Hypothesis profiles, parametrization and the summary.

Registered through the ``pytest11`` entry point, so it works both as
``pytest conformance --impl=...`` in the repository and as
``pytest --pyargs conformance --impl=...`` anywhere.  It does nothing unless
``--impl`` is given (or the conformance tests are collected without it, which is
a usage error).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from conformance.checks.profiles import register_profiles

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
    g.addoption("--mode", default=None, choices=MODE_CHOICES,
                help="TensorFlow: eager (default), function (tf.function) or xla (tf.function(jit_compile=True)); "
                     "JAX: jit (default) or eager; PyTorch: eager (default) or compile (torch.compile)")
    g.addoption("--framework", default="auto", choices=FRAMEWORK_CHOICES,
                help="the implementation's framework: tf, jax, torch, or keras (Keras 3 keras.ops code, run by "
                     "$KERAS_BACKEND's runner); default auto: detected from the module's imports (tf when unsure)")
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
    tidy_environment(config)  # before the implementation (and so TensorFlow) is imported
    from hypothesis import settings

    from conformance.checks.profiles import DEFAULT_PROFILE
    from conformance.contracts import REGISTRY

    if not config.getoption("--hypothesis-profile", default=None):
        settings.load_profile(DEFAULT_PROFILE)  # also overrides Hypothesis' own "ci" profile
    register_user_contracts(config)
    with quiet_startup(config):
        module = load_impl(spec)
    _select_framework(config, module)
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
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: the longest checks first, so no worker ends late
        items[:] = xdist_order(items, int(config.workerinput.get("workercount", 1)))


def xdist_order(items: list[pytest.Item], workers: int) -> list[pytest.Item]:
    """The items by decreasing :func:`expected_cost`, the first ones dealt over the workers' first batches.

    pytest-xdist's ``load`` scheduler hands each worker a first batch of ``len(items) // workers // 4``
    consecutive items, then one or two at a time: the longest items are dealt across those batches
    (snake order), the rest follow longest first. Deterministic, so every worker collects the same order.
    """
    ranked = sorted(items, key=expected_cost, reverse=True)  # stable
    if workers < 2 or len(ranked) < 2 * workers:
        return ranked
    batch = max(len(ranked) // workers // 4, 2)
    batches: list[list[pytest.Item]] = [[] for _ in range(workers)]
    for j, item in enumerate(ranked[:workers * batch]):
        turn, k = divmod(j, workers)
        batches[k if turn % 2 == 0 else workers - 1 - k].append(item)
    return [i for b in batches for i in b] + ranked[workers * batch:]


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


# --- a new user's first run: quiet start-up, no stray folders, short failures --------------------------------------

def cache_dir() -> Path:
    """Where the suite keeps Hypothesis' and pytest-benchmark's files and the default reproducers.

    ``$CONFORMANCE_CACHE_DIR``, else ``$XDG_CACHE_HOME/loss-conformance``, else ``~/.cache/loss-conformance``.
    """
    if os.environ.get("CONFORMANCE_CACHE_DIR"):
        return Path(os.environ["CONFORMANCE_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "loss-conformance"


def tidy_environment(config: pytest.Config) -> None:
    """Quiet TensorFlow's start-up logging and keep ``.hypothesis/`` and ``.benchmarks/`` out of the current folder.

    Each applies only where the user chose nothing: ``TF_CPP_MIN_LOG_LEVEL`` (set to 2: warnings and errors are still
    shown; inherited by pytest-xdist's workers), ``HYPOTHESIS_STORAGE_DIRECTORY`` and ``--benchmark-storage``.
    """
    if "TF_CPP_MIN_LOG_LEVEL" not in os.environ or os.environ.get("CONFORMANCE_QUIET_TF") == "1":
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
        os.environ["CONFORMANCE_QUIET_TF"] = "1"  # so that pytest-xdist's workers, which inherit both, quiet it too
        config.stash[_QUIET_KEY] = True
    if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        from hypothesis.configuration import set_hypothesis_home_dir

        set_hypothesis_home_dir(cache_dir() / "hypothesis")
    if getattr(config.option, "benchmark_storage", None) == "file://./.benchmarks":
        config.option.benchmark_storage = f"file://{cache_dir() / 'benchmarks'}"


_QUIET_KEY = pytest.StashKey[bool]()  # TF_CPP_MIN_LOG_LEVEL was unset: filter TensorFlow's start-up lines too
# TensorFlow's start-up lines on stderr, printed while it is imported whatever TF_CPP_MIN_LOG_LEVEL says
_STARTUP_NOISE = re.compile("|".join([r"All log messages before absl::InitializeLog\(\) is called",
                                       r"\] oneDNN custom operations are on", r"cpu_feature_guard\.cc:\d+\]",
                                       r"^To enable the following instructions: .*rebuild TensorFlow"]))


@contextlib.contextmanager
def quiet_startup(config: pytest.Config) -> Iterator[None]:
    """While importing the implementation (and so, usually, TensorFlow), drop TensorFlow's start-up lines from stderr.

    Only when the user did not set ``TF_CPP_MIN_LOG_LEVEL`` and TensorFlow is not imported yet; every other line
    written to stderr meanwhile is passed on.
    """
    if not config.stash.get(_QUIET_KEY, False) or "tensorflow" in sys.modules:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode("utf-8", errors="replace")
            sys.stderr.write("".join(ln for ln in text.splitlines(keepends=True) if not _STARTUP_NOISE.search(ln)))
            sys.stderr.flush()


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
            return "not provided", "n", "NOT PROVIDED"
    return None
