"""Records a transport could not decode (poison), kept in the message store's dead letters.

A transport that rejects records (:class:`~momentum.runtime.ports.RejectingTransport`) hands
them over in batches; each batch is written in one transaction, every record as it was read
(key, value and headers byte for byte), with the reason in its exception message:
``[invalid-json] ...``, followed by what became of its dead-letter topic copy when that copy
is not there whole.
"""

from __future__ import annotations

from collections.abc import Sequence

from momentum.runtime.dead_letters import exception_name
from momentum.runtime.ports import RejectedRecord
from momentum.runtime.store import DeadLetter, MessageStore, OutgoingRecord
from momentum.runtime.stored_dead_letters import header_text
from momentum.runtime.telemetry import Telemetry


def rejected_letter(rejected: RejectedRecord, group: str) -> DeadLetter:
    """The dead letter of one rejected record of consumer group ``group``."""
    headers = [(name, value or b"") for name, value in rejected.headers]
    message_id = header_text(headers, "ce_id") or (
        f"{rejected.topic}/{rejected.partition}/{rejected.offset}"
    )
    key = rejected.key.decode(errors="replace") if rejected.key is not None else None
    message = f"[{rejected.reason}] {rejected.error}"
    if rejected.copy_note:
        message += f"; {rejected.copy_note}"
    return DeadLetter(
        record=OutgoingRecord(message_id, rejected.topic, key, headers, rejected.value or b""),
        message_type=header_text(headers, "ce_type"),
        exception_type=exception_name(rejected.error),
        exception_message=message,
        stack="",
        attempts=0,
        first_failure_at=rejected.failed_at,
        last_failure_at=rejected.failed_at,
        origin_topic=rejected.topic,
        origin_partition=rejected.partition,
        origin_offset=rejected.offset,
        tenant=header_text(headers, "ce_tenantid"),  # as the record claims it
        group=group,
        raw_key=rejected.key,
    )


class StoredRejections:
    """The :data:`~momentum.runtime.ports.RejectedSink` writing to the store's dead letters.

    Args:
        store: The message store.
        group: The service's consumer group (only it lists and replays its letters).
        telemetry: Counts each kept record as a dead letter (by reason only: a poison
            record's type name is whatever its sender wrote).
    """

    def __init__(self, store: MessageStore, group: str, telemetry: Telemetry | None = None) -> None:
        self.store = store
        self.group = group
        self.telemetry = telemetry

    async def __call__(self, records: Sequence[RejectedRecord]) -> None:
        """Write ``records`` as dead letters in one transaction."""
        if not records:
            return
        async with self.store.transaction() as tx:
            await tx.add_dead_letters([rejected_letter(r, self.group) for r in records])
        telemetry = self.telemetry
        if telemetry is not None:
            for record in records:
                telemetry.dead_lettered(None, None, f"poison:{record.reason}")
