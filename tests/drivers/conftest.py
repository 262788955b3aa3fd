from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import servers


@pytest.fixture
def amqtt_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    """A private amqtt broker (MQTT 3.1.1 only) on a free loopback port."""
    with servers.amqtt(tmp_path_factory.mktemp("amqtt")) as server:
        yield server
