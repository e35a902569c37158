"""Value checks: every provided contract name against the float64 oracle."""

import pytest

from conformance.checks.engine import pytest_check


@pytest.mark.value
def test_value(contract, dtype, mode, impl, record):
    pytest_check(contract, "value", impl, dtype, mode, record)
