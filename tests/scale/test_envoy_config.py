"""compose.yaml puts Envoy on 8098 in front of two centrals (no engine here: static checks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]


def _load(path: str) -> Any:
    return yaml.safe_load((REPO / path).read_text())


def test_envoy_balances_the_two_postgres_centrals_on_8098() -> None:
    services = _load("compose.yaml")["services"]
    envoy = _load("docker/envoy.yaml")["static_resources"]
    listener = envoy["listeners"][0]
    assert listener["address"]["socket_address"]["port_value"] == 8098
    assert services["envoy"]["ports"] == ["127.0.0.1:8098:8098"]
    assert "./docker/envoy.yaml:/etc/envoy/envoy.yaml:ro" in services["envoy"]["volumes"]
    cluster = envoy["clusters"][0]
    assert cluster["lb_policy"] == "ROUND_ROBIN"
    hosts = [
        e["endpoint"]["address"]["socket_address"]
        for e in cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    ]
    assert [h["address"] for h in hosts] == ["central-pg", "central-pg-2"]
    for host in hosts:
        command = services[host["address"]]["command"]
        assert command[command.index("--db") + 1].startswith("postgresql://")
        assert command[command.index("--listen") + 1].endswith(f":{host['port_value']}")
        assert services[host["address"]]["profiles"] == services["envoy"]["profiles"]
    assert cluster["health_checks"][0]["http_health_check"]["path"] == "/readyz"


def test_the_live_stream_route_has_no_response_timeout() -> None:
    envoy = _load("docker/envoy.yaml")["static_resources"]
    manager = envoy["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    routes = manager["route_config"]["virtual_hosts"][0]["routes"]
    stream = next(r for r in routes if r["match"].get("path") == "/api/v1/stream")
    assert stream["route"]["timeout"] == "0s"
    assert stream["route"]["idle_timeout"] == "60s"  # the SSE heartbeat is every 15 s
    assert routes.index(stream) < len(routes) - 1  # before the catch-all
