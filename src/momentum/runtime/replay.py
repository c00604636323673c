"""Replaying stored dead letters through the normal path.

A dead letter read from a transport topic is written back to the outbox for that topic,
marked with the replaying consumer group (``momentum-replay-group``) so other groups skip it;
the inbox lets only the handlers that had not finished run again. A dead letter of a local
handler goes back on its durable local queue (queued in this process without a store).
Attempts start over.

A letter whose record key is not text (a poison record's binary key, a NUL byte, a key
longer than the outbox's text key holds: :func:`~momentum.runtime.store.text_key`) cannot
go through the outbox byte for byte: it is sent straight through the transport
(:class:`~momentum.runtime.ports.RawRecordTransport`), its key exactly as read, and taken
from the store once acknowledged (a crash in between replays it again). Without such a
transport it stays in the store (counted as ``left``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from momentum.runtime.delivery import FIRST_FAILURE_HEADER
from momentum.runtime.ports import RawRecordTransport
from momentum.runtime.records import RecordReader
from momentum.runtime.store import (
    LOCAL_PREFIX,
    DeadLetter,
    DeadLetterFilter,
    OutgoingRecord,
    local_destination,
    local_handler,
    text_key,
)

if TYPE_CHECKING:
    from momentum.runtime.core import BusRuntime

logger = logging.getLogger("momentum.dead_letters")

REPLAY_GROUP_HEADER = "momentum-replay-group"
_RESTARTED_HEADERS = frozenset({REPLAY_GROUP_HEADER, FIRST_FAILURE_HEADER})
"""Headers a replay does not carry over: it is a new start for the message."""


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    """What a replay did.

    Attributes:
        republished: Dead letters written back to the outbox for their topic (or sent
            straight to it: a record whose key is no text).
        requeued: Dead letters queued for their local handler.
        left: Dead letters that stay in the store: their key is no text and the service
            has no transport to send them as they are.
    """

    republished: int
    requeued: int
    left: int = 0

    @property
    def total(self) -> int:
        """Every replayed dead letter."""
        return self.republished + self.requeued


def replay_record(letter: DeadLetter, group: str) -> OutgoingRecord:
    """The outbox record that replays ``letter`` to its topic for consumer group ``group``.

    Only ``group`` handles it again when the letter is of a message this group read (a
    handler failed, or it was poison to this group): other groups skip it. A letter of the
    relay (never published) goes to every group.
    """
    headers = [(k, v) for k, v in letter.record.headers if k not in _RESTARTED_HEADERS]
    if letter.handler is not None or letter.origin_topic is not None:
        headers.append((REPLAY_GROUP_HEADER, group.encode()))
    return replace(letter.record, headers=headers, available_at=None)


def needs_raw(letter: DeadLetter) -> bool:
    """Whether ``letter``'s key is no text the outbox could carry byte for byte."""
    raw = letter.raw_key
    if raw is None or letter.record.destination.startswith(LOCAL_PREFIX):
        return False
    return text_key(raw) != letter.record.key


async def replay_stored(runtime: BusRuntime, where: DeadLetterFilter) -> ReplayOutcome:
    """Take this service's dead letters matching ``where`` from the store and replay them."""
    store = runtime.store
    if store is None:
        raise RuntimeError("replay_stored needs a service with a message store")
    mine = replace(where, group=runtime.group)  # a shared store holds other services' letters
    letters = [letter for letter in await store.dead_letters(mine) if letter.id is not None]
    raw = [letter for letter in letters if needs_raw(letter)]
    ids = [letter.id for letter in letters if letter.id is not None and not needs_raw(letter)]
    outcome = await _replay_taken(runtime, ids) if ids else ReplayOutcome(0, 0)
    if not raw:
        return outcome
    sent, left = await _replay_raw(runtime, raw)
    return ReplayOutcome(outcome.republished + sent, outcome.requeued, left)


async def _replay_raw(runtime: BusRuntime, letters: list[DeadLetter]) -> tuple[int, int]:
    """Send ``letters`` as they are, then take them from the store: ``(sent, left)``."""
    store, transport = runtime.store, runtime.transport
    assert store is not None
    if not isinstance(transport, RawRecordTransport):
        logger.warning(
            "%d dead letter(s) have a key that is no text and the service has no transport "
            "that sends records as they are: left in the store",
            len(letters),
        )
        return 0, len(letters)
    sent: list[int] = []
    for letter in letters:
        record = replay_record(letter, runtime.group)
        await transport.publish_raw(record.destination, letter.raw_key, record.body, record.headers)
        assert letter.id is not None
        sent.append(letter.id)
    async with store.transaction() as tx:
        await tx.take_dead_letters(sent)
    return len(sent), 0


async def _replay_taken(runtime: BusRuntime, ids: list[int]) -> ReplayOutcome:
    """Take the letters ``ids`` and replay them through the outbox or local queues."""
    store = runtime.store
    assert store is not None
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
