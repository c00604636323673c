"""Readiness on a broker that goes away and comes back (a private broker of this test)."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from momentum_kafka_events import OrderPlaced
from private_kafka import PrivateKafka

from momentum import Service
from momentum.health import serve_health
from momentum.kafka import KafkaConfig, KafkaTransport, TopicProvisioning
from momentum.sqlite import SqliteStore


@pytest.fixture
def broker() -> Iterator[PrivateKafka]:
    private = PrivateKafka()
    try:
        private.start()
        yield private
    finally:
        private.close()


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as failed:
        return failed.code, json.loads(failed.read())


async def _until(url: str, code: int, limit: float = 60) -> dict[str, object]:
    deadline = asyncio.get_running_loop().time() + limit
    while True:
        status, body = await asyncio.to_thread(_get, url)
        if status == code:
            return body
        assert asyncio.get_running_loop().time() < deadline, (status, body)
        await asyncio.sleep(0.2)  # poll interval, not a wait for an outcome


async def test_ready_turns_unready_while_kafka_is_down_and_ready_when_it_returns(
    broker: PrivateKafka, tmp_path: Path
) -> None:
    config = KafkaConfig(
        bootstrap_servers=broker.bootstrap,
        provisioning=TopicProvisioning(enabled=True, partitions=1),
        consumer={"session.timeout.ms": 6000, "heartbeat.interval.ms": 500},
    )

    async def placed(event: OrderPlaced) -> None:
        pass

    service = Service(
        "billing",
        "Billing",
        transport=KafkaTransport(config),
        store=SqliteStore(tmp_path / "billing.db"),
        environment="ready",
    )
    service.add_handler(placed)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    async with service:
        server = await serve_health(service, "127.0.0.1", port)
        ready = f"http://127.0.0.1:{port}/health/ready"
        live = f"http://127.0.0.1:{port}/health/live"
        try:
            assert await _until(ready, 200) == {"status": "ready", "problems": []}
            await asyncio.to_thread(broker.stop)
            body = await _until(ready, 503)
            assert body["status"] == "unready"
            (problem,) = body["problems"]  # type: ignore[misc]
            assert problem.startswith("transport: Kafka is unreachable"), problem
            assert (await asyncio.to_thread(_get, live))[0] == 200  # alive all along
            report = await service.health()
            assert (report.ready, report.transport_reachable) == (False, False)
            await asyncio.to_thread(broker.start)
            assert await _until(ready, 200) == {"status": "ready", "problems": []}
            assert (await service.health()).transport_reachable is True
        finally:
            server.close()
            await server.wait_closed()
