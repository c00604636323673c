"""``OffsetTracker``: which offset of one partition is safe to commit.

Records of a partition are added in offset order as they are received and completed in any
order (keys of one partition may be handled concurrently, and a key parked for a delayed
retry lets later records of other keys finish first). The committable offset is the lowest
offset not yet completed, or one past the last received record when nothing is pending:
committing it never skips a record whose handler has not finished, so a crash redelivers at
most the records from that offset on.

Memory follows the unfinished records, not the span behind the oldest one: a record parked
for a minute while thousands of later ones finish costs a few bytes per unfinished record.
"""

from __future__ import annotations

from collections import deque

from momentum.contracts.errors import TransportError

_COMPACT_SLACK = 64
"""Completed offsets tolerated in the order queue beyond twice the unfinished count."""


class OffsetTracker:
    """Received and completed offsets of one partition (used on the event loop only)."""

    __slots__ = ("_last", "_order", "_received", "_unfinished", "committed")

    def __init__(self) -> None:
        self._unfinished: dict[int, int] = {}
        """Offset of each unfinished record -> how many records were received before it."""
        self._order: deque[int] = deque()
        """Unfinished offsets ascending; may still hold completed ones (dropped lazily)."""
        self._received = 0
        self._last: int | None = None
        self.committed: int | None = None
        """The offset last handed to a commit (``None`` before the first)."""

    def add(self, offset: int) -> None:
        """Record that ``offset`` was received and is not handled yet."""
        if self._last is not None and offset <= self._last:
            raise TransportError(f"offset {offset} received out of order")
        self._last = offset
        self._unfinished[offset] = self._received
        self._received += 1
        self._order.append(offset)

    def complete(self, offset: int) -> None:
        """Record that the record at ``offset`` is fully handled (or skipped)."""
        unfinished = self._unfinished
        if unfinished.pop(offset, None) is None:
            return
        order = self._order
        while order and order[0] not in unfinished:
            order.popleft()
        if len(order) > 2 * len(unfinished) + _COMPACT_SLACK:
            # Records behind an old unfinished one completed: forget them (amortised O(1)).
            self._order = deque(o for o in order if o in unfinished)

    @property
    def unfinished(self) -> int:
        """Records received and not yet completed."""
        return len(self._unfinished)

    @property
    def in_flight(self) -> int:
        """Records received from the committable offset on: what a crash would redeliver."""
        if not self._unfinished:
            return 0
        return self._received - self._unfinished[self._order[0]]

    @property
    def position(self) -> int | None:
        """The committable offset: every record below it is handled; ``None`` if none seen."""
        if self._order:
            return self._order[0]
        return None if self._last is None else self._last + 1

    def to_commit(self) -> int | None:
        """The committable offset if it advanced since the last commit, else ``None``."""
        position = self.position
        if position is None or position == self.committed:
            return None
        return position
