"""`pytest tests/system --long`: the hours-long fault schedule instead of the quick one
(the options themselves are declared in tests/conftest.py, so they always exist)."""

from __future__ import annotations

import pytest


@pytest.fixture
def long_form(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--long"))


@pytest.fixture
def long_hours(request: pytest.FixtureRequest) -> float:
    return float(request.config.getoption("--long-hours"))
