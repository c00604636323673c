"""An outbox relay process: `python relay_process.py BOOTSTRAP ENV DATABASE_URL SCHEMA MODE`.

Runs the `warehouse` service (PostgreSQL store in SCHEMA, Kafka transport, 1 s leases,
batches of 50) whose relay publishes the outbox. MODE `die-after-delivery` kills the process
with SIGKILL right after its first batch was acknowledged by Kafka and before the rows are
marked sent (its claim's row locks end with its connection); MODE `die-when-late` (no
provisioning, a missing topic fails after 3 s) kills it right after a claim ended with a row
still unacknowledged and leased to it; MODE `normal` relays until SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from momentum import Service
from momentum.kafka import KafkaConfig, KafkaTransport, TopicProvisioning
from momentum.postgres import PostgresStore
from momentum.runtime.relay import OutboxRelay
from momentum.settings import MomentumSettings, StoreSettings


async def main(bootstrap: str, environment: str, url: str, schema: str, mode: str) -> None:
    store = PostgresStore(url, schema=schema, poll_interval=0.2)
    if mode == "die-after-delivery":
        claim = store.claimed

        async def complete(ids: Sequence[int]) -> None:  # delivered, not yet marked sent
            os.kill(os.getpid(), signal.SIGKILL)

        @asynccontextmanager
        async def claimed(*args: Any) -> AsyncIterator[Any]:
            async with claim(*args) as rows:
                rows.complete = complete  # type: ignore[method-assign]
                yield rows

        store.claimed = claimed  # type: ignore[method-assign]
    provisioning = TopicProvisioning(enabled=True, partitions=3)
    producer: dict[str, Any] = {}
    if mode == "die-when-late":

        def watch(*args: Any) -> None:  # the claim committed: acknowledged rows sent, one leased
            os.kill(os.getpid(), signal.SIGKILL)

        OutboxRelay._watch = watch  # type: ignore[method-assign]
        provisioning = TopicProvisioning(enabled=False)
        producer = {"topic.metadata.propagation.max.ms": 3000}
    config = KafkaConfig(bootstrap_servers=bootstrap, provisioning=provisioning, producer=producer)
    settings = MomentumSettings(
        environment=environment,
        store=StoreSettings(lease_seconds=1.0, relay_batch_size=50, poll_seconds=0.2),
    )
    service = Service(
        "warehouse", "KafkaTests", transport=KafkaTransport(config), store=store, settings=settings
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with service:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
