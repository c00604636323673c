"""A consumer process for the multi-process tests: `python consumer_process.py BOOTSTRAP ENV OUT`.

Runs the `billing` service (group `{env}.billing`) handling `OrderPlaced`; appends one line
`customer seq partition offset pid` per handled record to OUT; stops gracefully on SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from momentum_kafka_events import OrderPlaced

from momentum import Envelope, Service
from momentum.kafka import KafkaConfig, KafkaTransport, TopicProvisioning


async def main(bootstrap: str, environment: str, out: str) -> None:
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    pid = os.getpid()

    async def placed(event: OrderPlaced, envelope: Envelope) -> None:
        await asyncio.sleep(0.01)
        origin = envelope.origin
        assert origin is not None
        line = f"{event.customer} {event.seq} {origin.partition} {origin.offset} {pid}\n"
        os.write(fd, line.encode())  # one atomic append per record

    config = KafkaConfig(
        bootstrap_servers=bootstrap,
        provisioning=TopicProvisioning(enabled=True, partitions=3),
        commit_interval=0.05,
        consumer={"session.timeout.ms": 6000, "heartbeat.interval.ms": 500},
    )
    service = Service(
        "billing", "Billing", transport=KafkaTransport(config), environment=environment
    )
    service.add_handler(placed)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with service:
        await stop.wait()
    os.close(fd)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
