"""An actor process of the Kafka actor tests.

`python actor_process.py BOOTSTRAP ENV DATABASE_URL SCHEMA OUT` runs the `billing` service
(group `{env}.billing`) with the `PaymentLedger` actor on PostgreSQL schema SCHEMA; appends
`pid invoice seq` to OUT per handled payment; on SIGTERM stops gracefully and appends
`refusals pid N` (actor saves refused in this process).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from momentum_kafka_actors import PaymentLedger

from momentum import MomentumSettings, Service
from momentum.kafka import KafkaConfig, KafkaTransport, TopicProvisioning
from momentum.postgres import PostgresStore
from momentum.settings import StoreSettings


async def main(bootstrap: str, environment: str, database_url: str, schema: str, out: str) -> None:
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    PaymentLedger.log_fd = fd
    PaymentLedger.pause = 0.002
    config = KafkaConfig(
        bootstrap_servers=bootstrap,
        provisioning=TopicProvisioning(enabled=True, partitions=6),
        commit_interval=0.05,
        consumer={"session.timeout.ms": 6000, "heartbeat.interval.ms": 500},
    )
    service = Service(
        "billing",
        "KafkaTests",
        transport=KafkaTransport(config),
        store=PostgresStore(database_url, schema=schema, poll_interval=0.5),
        settings=MomentumSettings(environment=environment, store=StoreSettings(poll_seconds=0.2)),
    )
    service.add_actor(PaymentLedger)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with service:
        await stop.wait()
        actors = service.runtime.actors
        refusals = actors.saves.refusals if actors is not None else -1
    os.write(fd, f"refusals {os.getpid()} {refusals}\n".encode())
    os.close(fd)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
