"""Gradient checks: tf.GradientTape VJPs against the oracle's analytic VJPs."""

import pytest

from conformance.checks.engine import pytest_check


@pytest.mark.gradient
def test_gradient(contract, dtype, mode, impl, record):
    pytest_check(contract, "gradient", impl, dtype, mode, record)
