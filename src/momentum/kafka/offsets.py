"""``OffsetTracker``: which offset of one partition is safe to commit.

Records of a partition are added in offset order as they are received and completed in any
order (keys of one partition may be handled concurrently). The committable offset is the
lowest offset not yet completed, or one past the last completed record when nothing is
pending: committing it never skips a record whose handler has not finished, so a crash
redelivers at most the records that were in flight.
"""

from __future__ import annotations

from collections import deque

from momentum.contracts.errors import TransportError


class OffsetTracker:
    """Received and completed offsets of one partition (used on the event loop only)."""

    __slots__ = ("_completed", "_next", "_pending", "committed")

    def __init__(self) -> None:
        self._pending: deque[int] = deque()
        self._completed: set[int] = set()
        self._next: int | None = None
        self.committed: int | None = None
        """The offset last handed to a commit (``None`` before the first)."""

    def add(self, offset: int) -> None:
        """Record that ``offset`` was received and is not handled yet."""
        last = self._pending[-1] if self._pending else None
        if (last is not None and offset <= last) or (
            self._next is not None and offset < self._next
        ):
            raise TransportError(f"offset {offset} received out of order")
        self._pending.append(offset)

    def complete(self, offset: int) -> None:
        """Record that the record at ``offset`` is fully handled (or skipped)."""
        self._completed.add(offset)
        pending = self._pending
        while pending and pending[0] in self._completed:
            done = pending.popleft()
            self._completed.discard(done)
            self._next = done + 1

    @property
    def in_flight(self) -> int:
        """Records received and not yet completed."""
        return len(self._pending)

    @property
    def position(self) -> int | None:
        """The committable offset: every record below it is handled; ``None`` if none seen."""
        if self._pending:
            return self._pending[0]
        return self._next

    def to_commit(self) -> int | None:
        """The committable offset if it advanced since the last commit, else ``None``."""
        position = self.position
        if position is None or position == self.committed:
            return None
        return position
