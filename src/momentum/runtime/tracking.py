"""Activity recording for tracked sessions: what was sent, published, handled and failed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from momentum.contracts.envelope import Envelope
from momentum.contracts.errors import MomentumError

ActivityKind = Literal[
    "invoked",
    "sent",
    "published",
    "scheduled",
    "received",
    "handled",
    "failed",
    "retried",
    "dead-lettered",
    "discarded",
    "no-route",
    "duplicate",
]
M = TypeVar("M")


@dataclass(frozen=True, slots=True)
class Activity:
    """One thing that happened to a message.

    Attributes:
        kind: What happened.
        message: The message.
        envelope: Its envelope, when one exists (in-process invokes may have none).
        handler: Dotted name of the handler, for ``handled``/``failed``.
        exception: What the handler raised, for ``failed``.
    """

    kind: ActivityKind
    message: Any
    envelope: Envelope | None = None
    handler: str | None = None
    exception: BaseException | None = None


class ActivityLog:
    """An append-only list of activities with typed accessors."""

    def __init__(self) -> None:
        self.activities: list[Activity] = []

    def record(self, activity: Activity) -> None:
        """Append one activity."""
        self.activities.append(activity)

    def _of(self, kind: ActivityKind) -> list[Activity]:
        return [a for a in self.activities if a.kind == kind]

    @property
    def invoked(self) -> list[Activity]:
        """Messages passed to ``bus.invoke``."""
        return self._of("invoked")

    @property
    def sent(self) -> list[Activity]:
        """Messages passed to ``bus.send`` (or cascaded commands)."""
        return self._of("sent")

    @property
    def published(self) -> list[Activity]:
        """Messages published (explicitly or cascaded from a handler)."""
        return self._of("published")

    @property
    def scheduled(self) -> list[Activity]:
        """Messages scheduled for later delivery."""
        return self._of("scheduled")

    @property
    def received(self) -> list[Activity]:
        """Messages that arrived from the transport."""
        return self._of("received")

    @property
    def handled(self) -> list[Activity]:
        """Successful handler executions."""
        return self._of("handled")

    @property
    def duplicates(self) -> list[Activity]:
        """Redeliveries acknowledged by the inbox without running the handler again."""
        return self._of("duplicate")

    @property
    def failed(self) -> list[Activity]:
        """Handler executions that raised."""
        return self._of("failed")

    @property
    def retried(self) -> list[Activity]:
        """Failures followed by another attempt (inline or delayed)."""
        return self._of("retried")

    @property
    def dead_lettered(self) -> list[Activity]:
        """Messages moved to dead letters."""
        return self._of("dead-lettered")

    @property
    def discarded(self) -> list[Activity]:
        """Messages dropped by an error rule."""
        return self._of("discarded")

    @property
    def no_route(self) -> list[Activity]:
        """Messages published that no handler or transport received."""
        return self._of("no-route")

    def messages(self, kind: ActivityKind, message_type: type[M]) -> list[M]:
        """The messages of ``message_type`` with activity ``kind``, in order."""
        return [
            a.message
            for a in self.activities
            if a.kind == kind and isinstance(a.message, message_type)
        ]

    def __iter__(self) -> Iterator[Activity]:
        return iter(self.activities)


class TrackingTimeoutError(MomentumError, TimeoutError):
    """A tracked session's work did not finish in time.

    Attributes:
        pending: Descriptions of the work still queued or running.
    """

    def __init__(self, timeout: float, pending: list[str]) -> None:
        self.pending = pending
        shown = "\n  ".join(pending) if pending else "(nothing pending: a handler is blocked)"
        super().__init__(f"tracked session still busy after {timeout:g} s; pending:\n  {shown}")
