"""Events the transport contract suite sends (topics `{env}.transportcontract.public.*`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from momentum import PartitionKey, event_topic


@event_topic("ticks", domain="TransportContract")
@dataclass(frozen=True)
class Tick:
    """A numbered tick of one stream.

    Attributes:
        stream: The partition key.
        seq: Position within the stream.
    """

    stream: Annotated[str, PartitionKey()]
    seq: int
