"""Integration events used by the Kafka transport tests (topics `{env}.kafkatests.public.*`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from momentum import PartitionKey, event_topic

DOMAIN = "KafkaTests"


@event_topic("orders", domain=DOMAIN)
@dataclass(frozen=True)
class OrderPlaced:
    customer: Annotated[str, PartitionKey()]
    seq: int


@event_topic("orders", domain=DOMAIN)
@dataclass(frozen=True)
class OrderPaid:
    customer: Annotated[str, PartitionKey()]
    seq: int


@event_topic("orders", domain=DOMAIN)
@dataclass(frozen=True)
class OrderShipped:
    customer: Annotated[str, PartitionKey()]
    seq: int


@event_topic("audits", domain=DOMAIN)
@dataclass(frozen=True)
class AuditNoted:
    """No partition key: the transport keys the record by message id."""

    note: str
