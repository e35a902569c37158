"""Stability tier: adversarial inputs; each output element ok, failure or hazard (conformance/stability.py)."""

import pytest

from conformance.checks.engine import pytest_check


@pytest.mark.stability
def test_stability(contract, dtype, mode, impl, record, request):
    pytest_check(contract, "stability", impl, dtype, mode, record,
                 strict_hazards=request.config.getoption("--strict-hazards"))
