"""`pytest tests/system --long`: the hours-long fault schedule instead of the quick one."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--long",
        action="store_true",
        default=False,
        help="run the system fault suite's hours-long form (see docs/faults.md)",
    )
    parser.addoption(
        "--long-hours",
        type=float,
        default=3.0,
        help="with --long: how many hours of fault rounds (default 3)",
    )


@pytest.fixture
def long_form(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--long"))


@pytest.fixture
def long_hours(request: pytest.FixtureRequest) -> float:
    return float(request.config.getoption("--long-hours"))
