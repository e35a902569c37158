"""Bad input: out-of-range labels and indices, wrong channel counts, mismatched shapes (conformance/badinput.py)."""

import pytest

from conformance.checks.engine import pytest_check


@pytest.mark.badinput
def test_badinput(contract, dtype, mode, impl, record):
    pytest_check(contract, "badinput", impl, dtype, mode, record)
