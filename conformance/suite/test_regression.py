"""Regression replay: the committed fixture set (or the ``--fixtures-dir`` sets) against the implementation."""

import pytest

from conformance.regression import pytest_replay


@pytest.mark.regression
def test_regression(contract, dtype, mode, impl, record, request):
    pytest_replay(contract, impl, dtype, mode, record, request.config)
