from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import servers

REPO = Path(__file__).resolve().parent.parent
CONTRACT_EXAMPLE = REPO / "tests" / "data" / "sensors.example.yaml"


@pytest.fixture
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    """A private mosquitto broker on a free loopback port."""
    with servers.mosquitto(tmp_path_factory.mktemp("mosquitto")) as server:
        yield server


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    """A private redis-server on a free loopback port."""
    with servers.redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A PostgreSQL database for the Postgres backend (TRACSEQ_TEST_POSTGRES overrides)."""
    return os.environ.get("TRACSEQ_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


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
