"""``KafkaDeliveries``: the outbox relay's view of records produced by ``start_records``.

The producer's :class:`~momentum.kafka.producer.Delivery` is filled by librdkafka's delivery
reports on the poll thread; this reads it on the event loop: a snapshot of every record's
outcome (the relay settles the acknowledged rows at once and leaves the others pending) and a
bounded wait for the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from momentum.contracts.errors import TransportError
from momentum.kafka.producer import Delivery, delivery_error
from momentum.runtime.ports import PENDING, RecordOutcome
from momentum.runtime.store import OutgoingRecord


class KafkaDeliveries:
    """:class:`~momentum.runtime.ports.RecordDeliveries` of records given to librdkafka.

    Args:
        records: Every record of the call, in order.
        delivery: The delivery of the records that were produced (``None``: none was).
        unavailable: Topics that could not be provisioned, with the reason: their records
            were not produced and fail with it.
    """

    __slots__ = ("_delivery", "_records", "_unavailable")

    def __init__(
        self,
        records: Sequence[OutgoingRecord],
        delivery: Delivery | None,
        unavailable: Mapping[str, BaseException],
    ) -> None:
        self._records = records
        self._delivery = delivery
        self._unavailable = unavailable

    async def wait(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until every produced record is reported, at most ``timeout`` seconds."""
        delivery = self._delivery
        if delivery is None or delivery.finished:
            return True
        if timeout is not None and timeout <= 0:
            return False
        try:
            await asyncio.wait_for(asyncio.shield(delivery.future), timeout)
        except TimeoutError:
            return False
        return True

    def outcomes(self) -> list[RecordOutcome]:
        """Per record: ``None`` (acknowledged), a :class:`TransportError`, or ``PENDING``."""
        delivery = self._delivery
        produced: Iterator[Any] = iter(())
        if delivery is not None:
            if delivery.finished:
                delivery.fail_pending()  # records a stop left unproduced or unreported
            produced = iter(list(delivery.outcomes))  # a copy: the poll thread writes slots
        results: list[RecordOutcome] = []
        unavailable = self._unavailable
        for record in self._records:
            topic = record.destination
            failure = unavailable.get(topic) if unavailable else None
            if failure is not None:
                results.append(
                    TransportError(
                        f"Kafka delivery to topic {topic!r} failed: not provisioned: {failure}"
                    )
                )
                continue
            outcome = next(produced)
            if outcome is None or outcome is PENDING:
                results.append(outcome)
            else:
                results.append(delivery_error(topic, outcome))
        return results
