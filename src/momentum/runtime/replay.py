"""Replaying stored dead letters through the normal path.

A dead letter read from a transport topic is written back to the outbox for that topic,
marked with the replaying consumer group (``momentum-replay-group``) so other groups skip it;
the inbox lets only the handlers that had not finished run again. A dead letter of a local
handler goes back on its durable local queue (queued in this process without a store).
Attempts start over.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from momentum.runtime.delivery import FIRST_FAILURE_HEADER
from momentum.runtime.records import RecordReader
from momentum.runtime.store import (
    LOCAL_PREFIX,
    DeadLetter,
    DeadLetterFilter,
    OutgoingRecord,
    local_destination,
    local_handler,
)

if TYPE_CHECKING:
    from momentum.runtime.core import BusRuntime

REPLAY_GROUP_HEADER = "momentum-replay-group"
_RESTARTED_HEADERS = frozenset({REPLAY_GROUP_HEADER, FIRST_FAILURE_HEADER})
"""Headers a replay does not carry over: it is a new start for the message."""


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    """What a replay did.

    Attributes:
        republished: Dead letters written back to the outbox for their topic.
        requeued: Dead letters queued for their local handler.
    """

    republished: int
    requeued: int

    @property
    def total(self) -> int:
        """Every replayed dead letter."""
        return self.republished + self.requeued


def replay_record(letter: DeadLetter, group: str) -> OutgoingRecord:
    """The outbox record that replays ``letter`` to its topic for consumer group ``group``."""
    headers = [(k, v) for k, v in letter.record.headers if k not in _RESTARTED_HEADERS]
    if letter.handler is not None:
        headers.append((REPLAY_GROUP_HEADER, group.encode()))
    return replace(letter.record, headers=headers, available_at=None)


async def replay_stored(runtime: BusRuntime, where: DeadLetterFilter) -> ReplayOutcome:
    """Take this service's dead letters matching ``where`` from the store and replay them."""
    store = runtime.store
    if store is None:
        raise RuntimeError("replay_stored needs a service with a message store")
    mine = replace(where, group=runtime.group)  # a shared store holds other services' letters
    ids = [letter.id for letter in await store.dead_letters(mine) if letter.id is not None]
    if not ids:
        return ReplayOutcome(0, 0)
    local: list[DeadLetter] = []
    async with store.transaction() as tx:
        taken = await tx.take_dead_letters(ids)
        outgoing = []
        for letter in taken:
            if not letter.record.destination.startswith(LOCAL_PREFIX):
                outgoing.append(replay_record(letter, runtime.group))
            elif runtime.durable_queues is not None:  # back on its durable local queue
                handler = letter.handler or local_handler(letter.record.destination)
                destination = local_destination(runtime.group, handler)
                outgoing.append(replace(letter.record, destination=destination, available_at=None))
            else:
                local.append(letter)
        if outgoing:
            await tx.add_outgoing(outgoing)
    if local:
        reader = RecordReader(runtime.chains)
        for letter in local:
            envelope = reader.read(letter.record).for_attempt(1)
            handler = letter.handler or local_handler(letter.record.destination)
            runtime.deliver_local(handler, envelope)
    if outgoing:
        runtime.outbox_committed(len(outgoing))
    requeued = sum(1 for letter in taken if letter.record.destination.startswith(LOCAL_PREFIX))
    return ReplayOutcome(len(taken) - requeued, requeued)
