"""Timing benchmarks (pytest-benchmark): each training-relevant loss against the memory-bandwidth bound.

Deselected unless ``--timing`` (or ``--benchmark-only`` / ``--benchmark-enable``) is given.  Parametrized over
the production (or ``--timing-size=tiny``) cases of :mod:`conformance.checks.timing`, fwd and fwd+bwd, the
``--dtype`` list, and eager/function/xla (only ``--mode`` when it is given explicitly).
"""

import pytest

from conformance.checks import timing
from conformance.plugin import dtypes_under_test
from conformance.runners.active import MODES


def _modes(config: pytest.Config) -> list[str]:
    explicit = any(a == "--mode" or a.startswith("--mode=") for a in config.invocation_params.args)
    return [config.getoption("--mode")] if explicit else list(MODES)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "timing_case" not in metafunc.fixturenames:
        return
    cases = timing.cases(timing.size_from_config(metafunc.config))
    metafunc.parametrize("timing_case", cases, ids=[c.id for c in cases])
    metafunc.parametrize("direction", timing.DIRECTIONS, ids=["fwd", "fwdbwd"])
    metafunc.parametrize("dtype", dtypes_under_test(metafunc.config))
    metafunc.parametrize("mode", _modes(metafunc.config))


@pytest.mark.timing
def test_timing(timing_case, direction, dtype, mode, impl, record, benchmark, request):
    name, module = impl
    size = timing.size_from_config(request.config)
    try:
        result = timing.run_timing(timing_case, direction, dtype, mode, module, name, benchmark, size)
    except BaseException as exc:
        if hasattr(exc, "conformance_result"):
            record(exc.conformance_result)
        raise
    record(result)
    if result.status in ("not provided", "skipped"):
        pytest.skip(result.message)
    if result.status == "failed":
        pytest.fail(result.message, pytrace=False)
