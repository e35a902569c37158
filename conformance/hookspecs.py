"""Hooks the conformance plugin adds to pytest."""

from __future__ import annotations

import pytest


@pytest.hookspec
def pytest_conformance_contracts() -> list:
    """Return user :class:`~conformance.contracts.record.Contract` records to check beside the catalogue.

    Implement it in a plugin module loaded with ``-p MODULE`` (or in a ``conftest.py``); build the
    records with :func:`conformance.contracts.user.define`.
    """
