"""Error policies as data: which exceptions, and what to do on each failed attempt.

A rule matches exception types (and optionally a predicate) and holds ordered attempt slots::

    ErrorRule.on(TimeoutError, ConnectionError).retry(2).retry_after(0.5, 2.0).dead_letter()

reads "on TimeoutError or ConnectionError: retry inline 2 times, then retry after 0.5 s, then
after 2 s, then move to dead letters". The n-th failure takes the n-th slot; after the last
slot the rule's end applies (dead letters unless the rule says ``discard``). Rules are
plain immutable values, printable, comparable and testable without running anything.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

End = Literal["dead-letter", "discard"]


@dataclass(frozen=True, slots=True)
class RetryInline:
    """Run the handler again at once."""

    def __str__(self) -> str:
        return "retry inline"


@dataclass(frozen=True, slots=True)
class RetryAfter:
    """Run the handler again after ``seconds`` (+/- ``jitter`` as a fraction).

    Later messages with the same partition key wait behind it (the key is parked); other keys
    keep flowing.

    Attributes:
        seconds: Delay before the next attempt.
        jitter: Random spread applied to the delay, as a fraction (0.1 = +/-10%).
    """

    seconds: float
    jitter: float = 0.0

    def delay(self, rng: Callable[[], float] = random.random) -> float:
        """The delay to wait this time, jitter applied."""
        if not self.jitter:
            return self.seconds
        return max(0.0, self.seconds * (1 + self.jitter * (2 * rng() - 1)))

    def __str__(self) -> str:
        spread = f" (+/-{self.jitter:.0%})" if self.jitter else ""
        return f"retry after {_seconds(self.seconds)}{spread}"


@dataclass(frozen=True, slots=True)
class PauseListener:
    """Pause the transport listener for ``seconds`` (a dependency is down), then retry.

    On messages from a local queue it acts like :class:`RetryAfter`.

    Attributes:
        seconds: How long consumption stops.
    """

    seconds: float

    def __str__(self) -> str:
        return f"pause the listener for {_seconds(self.seconds)}"


@dataclass(frozen=True, slots=True)
class ScheduleRetry:
    """Schedule the next attempt as a durable message due after ``seconds``, and let go.

    The current delivery finishes at once (its Kafka offset may be committed): the retry is a
    row of the handler's durable local queue, run by whichever process claims it when due,
    with the attempt count carried along. Later messages with the same key are *not* held
    back (use :class:`RetryAfter` to keep the key's order). Without a message store it acts
    like :class:`RetryAfter`.

    Attributes:
        seconds: Delay before the next attempt.
    """

    seconds: float

    def __str__(self) -> str:
        return f"schedule a durable retry after {_seconds(self.seconds)}"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Stop retrying; store the message with its failure for inspection and replay."""

    def __str__(self) -> str:
        return "move to dead letters"


@dataclass(frozen=True, slots=True)
class Discard:
    """Stop retrying and drop the message (logged)."""

    def __str__(self) -> str:
        return "discard"


Action = RetryInline | RetryAfter | PauseListener | ScheduleRetry | DeadLetter | Discard
Slot = RetryInline | RetryAfter | PauseListener | ScheduleRetry


def _seconds(value: float) -> str:
    return f"{value:g} s" if value >= 1 else f"{value * 1000:g} ms"


def backoff(
    attempts: int,
    *,
    initial: float,
    factor: float = 2.0,
    maximum: float = 60.0,
    jitter: float = 0.1,
) -> tuple[RetryAfter, ...]:
    """``attempts`` exponential delays starting at ``initial``, capped at ``maximum``."""
    return tuple(
        RetryAfter(min(maximum, initial * factor**i), jitter) for i in range(max(0, attempts))
    )


@dataclass(frozen=True)
class ErrorRule:
    """Exceptions it matches and what each failed attempt leads to.

    Attributes:
        exception_types: The rule matches instances of these types.
        slots: One action per failed attempt, in order.
        end: What happens after the last slot.
        predicate: Optional extra test on the exception.
        description: How the predicate reads in ``str(rule)``.
    """

    exception_types: tuple[type[BaseException], ...]
    slots: tuple[Slot, ...] = ()
    end: End = "dead-letter"
    predicate: Callable[[BaseException], bool] | None = field(default=None, compare=False)
    description: str = ""

    @classmethod
    def on(
        cls,
        *exception_types: type[BaseException],
        when: Callable[[BaseException], bool] | None = None,
        described_as: str = "",
    ) -> ErrorRule:
        """A rule for ``exception_types`` (default: any ``Exception``), optionally filtered."""
        return cls(exception_types or (Exception,), predicate=when, description=described_as)

    def retry(self, times: int = 1) -> ErrorRule:
        """Add ``times`` immediate retries."""
        return replace(self, slots=self.slots + (RetryInline(),) * times)

    def retry_after(self, *seconds: float, jitter: float = 0.0) -> ErrorRule:
        """Add one delayed retry per delay given."""
        return replace(self, slots=self.slots + tuple(RetryAfter(s, jitter) for s in seconds))

    def retry_with_backoff(
        self,
        attempts: int,
        *,
        initial: float,
        factor: float = 2.0,
        maximum: float = 60.0,
        jitter: float = 0.1,
    ) -> ErrorRule:
        """Add ``attempts`` delayed retries with capped exponential backoff and jitter."""
        delays = backoff(attempts, initial=initial, factor=factor, maximum=maximum, jitter=jitter)
        return replace(self, slots=self.slots + delays)

    def schedule_retry(self, *seconds: float) -> ErrorRule:
        """Add one durable scheduled retry per delay given (see :class:`ScheduleRetry`)."""
        return replace(self, slots=self.slots + tuple(ScheduleRetry(s) for s in seconds))

    def pause_listener(self, seconds: float) -> ErrorRule:
        """Add a slot that pauses the transport listener for ``seconds``, then retries."""
        return replace(self, slots=(*self.slots, PauseListener(seconds)))

    def dead_letter(self) -> ErrorRule:
        """End in the dead letters (the default end)."""
        return replace(self, end="dead-letter")

    def discard(self) -> ErrorRule:
        """End by discarding the message."""
        return replace(self, end="discard")

    def matches(self, exc: BaseException) -> bool:
        """Whether this rule applies to ``exc``."""
        if not isinstance(exc, self.exception_types):
            return False
        return self.predicate is None or bool(self.predicate(exc))

    def action_for(self, failures: int) -> Action:
        """What to do after the ``failures``-th failed attempt (1-based)."""
        if 1 <= failures <= len(self.slots):
            return self.slots[failures - 1]
        return DeadLetter() if self.end == "dead-letter" else Discard()

    def __str__(self) -> str:
        names = " or ".join(t.__name__ for t in self.exception_types)
        when = (
            f" when {self.description}"
            if self.description
            else (" (filtered)" if self.predicate is not None else "")
        )
        steps = _describe_slots(self.slots)
        end = str(DeadLetter() if self.end == "dead-letter" else Discard())
        return f"on {names}{when}: " + (f"{steps}, then {end}" if steps else end)


def _describe_slots(slots: Sequence[Slot]) -> str:
    parts: list[str] = []
    i = 0
    while i < len(slots):
        slot = slots[i]
        if isinstance(slot, RetryInline):
            run = 1
            while i + run < len(slots) and isinstance(slots[i + run], RetryInline):
                run += 1
            parts.append("retry inline" + (f" {run} times" if run > 1 else ""))
            i += run
        elif isinstance(slot, PauseListener | ScheduleRetry):
            parts.append(str(slot))
            i += 1
        else:
            delays = []
            while i < len(slots) and isinstance(slots[i], RetryAfter):
                after = slots[i]
                assert isinstance(after, RetryAfter)
                delays.append(after)
                i += 1
            text = ", ".join(_seconds(d.seconds) for d in delays)
            jitter = max(d.jitter for d in delays)
            parts.append(f"retry after {text}" + (f" (+/-{jitter:.0%})" if jitter else ""))
    return ", then ".join(parts)


DEFAULT_RULE = ErrorRule.on(Exception).retry_with_backoff(2, initial=0.1, maximum=1.0)
"""Three attempts: the first, then two delayed retries with backoff; then dead letters."""


@dataclass(frozen=True)
class ScopedRule:
    """A rule and where it applies.

    Attributes:
        rule: The rule.
        message_types: Only handlers of these message types (and subclasses), if given.
        handlers: Only these handler functions (dotted names), if given.
    """

    rule: ErrorRule
    message_types: tuple[type, ...] | None = None
    handlers: tuple[str, ...] | None = None

    @property
    def specificity(self) -> int:
        """Handler rules beat message-type rules, which beat global rules."""
        return 2 if self.handlers is not None else 1 if self.message_types is not None else 0

    def applies(self, message_type: type, handler: str) -> bool:
        """Whether this rule covers ``handler`` handling ``message_type``."""
        if self.handlers is not None and handler not in self.handlers:
            return False
        return self.message_types is None or issubclass(message_type, self.message_types)

    @property
    def scope(self) -> str:
        """Where the rule applies, in words.

        ``for every handler``, ``for handlers of OrderPlaced (and subclasses)``, ``for
        handler app.orders.handle``, or both restrictions together (``for handler
        app.orders.handle, on OrderPlaced (and subclasses)``).
        """
        parts: list[str] = []
        if self.handlers is not None:
            names = " or ".join(self.handlers) or "no handler"
            parts.append(f"handler{'s' if len(self.handlers) > 1 else ''} {names}")
        if self.message_types is not None:
            kinds = " or ".join(t.__qualname__ for t in self.message_types) or "no message type"
            kinds += " (and subclasses)"
            parts.append(f"on {kinds}" if parts else f"handlers of {kinds}")
        return "for " + (", ".join(parts) if parts else "every handler")

    def __str__(self) -> str:
        return f"{self.scope}: {self.rule}"


class ErrorPolicy:
    """All rules of a service; picks the most specific matching rule for a failure."""

    def __init__(self, rules: Sequence[ScopedRule] = (), default: ErrorRule = DEFAULT_RULE):
        # most specific first; among equals, the order they were added
        self.rules = sorted(rules, key=lambda r: -r.specificity)
        self.default = default

    def rules_for(self, message_type: type, handler: str) -> list[ErrorRule]:
        """The candidate rules of one handler, most specific first, default last."""
        return [s.rule for s in self.rules if s.applies(message_type, handler)] + [self.default]

    def __str__(self) -> str:
        """One line per rule, most specific first, each saying where it applies.

        The last line is the default rule: what every other failure of every handler gets.
        """
        lines = [str(s) for s in self.rules]
        lines.append(f"otherwise, for every handler: {self.default}")
        return "\n".join(lines)


def choose(rules: Sequence[ErrorRule], exc: BaseException) -> ErrorRule:
    """The first rule matching ``exc`` (the last rule is the default and matches anything)."""
    for rule in rules:
        if rule.matches(exc):
            return rule
    return rules[-1]
