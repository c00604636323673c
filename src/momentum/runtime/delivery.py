"""Running one handler for one message under the service's error policy.

A failed attempt is matched against the error rules (handler, then message type, then global,
then the default); the rule's slot for that attempt says: retry inline, retry after a delay
(returned to the caller, which parks the key), or stop: dead-letter or discard.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from momentum.contracts.envelope import Envelope
from momentum.contracts.errors import StoreError
from momentum.runtime.dead_letters import DeadLetterRecord, DeadLetterSink
from momentum.runtime.pipeline import HandlerChain
from momentum.runtime.policies import (
    DeadLetter,
    Discard,
    ErrorPolicy,
    ErrorRule,
    PauseListener,
    RetryAfter,
    RetryInline,
    ScheduleRetry,
    choose,
)
from momentum.runtime.telemetry import Telemetry
from momentum.runtime.tracking import Activity, ActivityLog

if TYPE_CHECKING:
    from momentum.runtime.outbox import Durability

logger = logging.getLogger("momentum.errors")

REMEMBERED_RETRIES = 100_000
"""Inbound messages waiting for a delayed retry whose progress is remembered at most."""

STORE_RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)
"""Delays before handling a message again while the message store fails (last repeats)."""

FIRST_FAILURE_HEADER = "momentum-first-failure"
"""Envelope header of a scheduled retry: when the message first failed (POSIX seconds), so
the dead letter after the last scheduled attempt says when the trouble began."""


class Delivery:
    """Applies the error policy, handler timeouts and dead letters to handler executions."""

    def __init__(
        self,
        policy: ErrorPolicy,
        dead_letters: DeadLetterSink,
        timeouts: Sequence[tuple[float, tuple[type, ...] | None]],
        tracker: Callable[[], ActivityLog | None],
        durability: Durability | None = None,
    ) -> None:
        self.policy = policy
        self.durability = durability
        self._store_failures = 0
        self.dead_letters = dead_letters
        self._timeouts = list(timeouts)
        self._tracker = tracker
        self._rules: dict[str, list[ErrorRule]] = {}
        self._limits: dict[str, float | None] = {}
        self._first_failure: dict[tuple[str, str], float] = {}
        # inbound messages whose handlers are not all finished: message id -> handler -> attempt
        self._inbound: dict[str, dict[str, int]] = {}
        self.inbound_outcome: Callable[[bool], None] | None = None  # e.g. a circuit breaker
        # writes a durable retry due later (set when the service has a message store)
        self.schedule_retry: Callable[[HandlerChain, Envelope, float], Awaitable[None]] | None = (
            None
        )
        self.pause_listener: Callable[[float], None] | None = None  # set with a transport
        self.telemetry: Telemetry | None = None  # set when the service reports telemetry

    def _record(self, kind: Any, envelope: Envelope, chain: HandlerChain, exc: Exception) -> None:
        tracker = self._tracker()
        if tracker is not None:
            tracker.record(Activity(kind, envelope.message, envelope, chain.name, exc))
        telemetry = self.telemetry
        if telemetry is not None and kind == "retried":
            telemetry.retried(envelope, chain.name)

    def _rules_for(self, chain: HandlerChain) -> list[ErrorRule]:
        rules = self._rules.get(chain.name)
        if rules is None:
            rules = self._rules[chain.name] = self.policy.rules_for(chain.message_type, chain.name)
        return rules

    def _timeout_for(self, chain: HandlerChain) -> float | None:
        if chain.name not in self._limits:
            matching = [
                seconds
                for seconds, types in self._timeouts
                if types is None or issubclass(chain.message_type, types)
            ]
            self._limits[chain.name] = min(matching) if matching else None
        return self._limits[chain.name]

    async def attempt(
        self,
        chain: HandlerChain,
        envelope: Envelope,
        attempt: int,
        outcome: Callable[[bool], None] | None = None,
        pause: Callable[[float], None] | None = None,
        *,
        inbound: bool = False,
    ) -> tuple[float | None, int]:
        """Run ``chain`` from attempt ``attempt`` on.

        An inbound message runs in a store transaction with its inbox row when the service
        has a store. While the store fails, the message waits and is tried again without
        counting an attempt: nothing is acknowledged that is not durably recorded.

        Returns ``(None, _)`` when finished (handled, dead-lettered or discarded), or
        ``(delay, next_attempt)`` when the rule asks for a delayed retry.
        """
        limit = self._timeout_for(chain)
        env = envelope if envelope.attempts == attempt else envelope.for_attempt(attempt)
        key = (envelope.message_id_text, chain.name)
        durability = self.durability if inbound else None
        while True:
            try:
                if limit is None:
                    if durability is not None:
                        await durability.handle_inbound(chain, env)
                    else:
                        await chain.dispatch(env)
                else:
                    await self._dispatch_within(chain, env, limit, durability)
                self._store_failures = 0
            except StoreError as exc:
                return self._store_unavailable(chain, env, exc), attempt
            except Exception as exc:
                if outcome is not None:
                    outcome(False)
                self._first_failure.setdefault(key, first_failure_of(env))
                rule = choose(self._rules_for(chain), exc)
                action = rule.action_for(attempt)
                if isinstance(action, RetryInline):
                    self._record("retried", env, chain, exc)
                    attempt += 1
                    env = env.for_attempt(attempt)
                    continue
                if isinstance(action, PauseListener):
                    self._record("retried", env, chain, exc)
                    if pause is not None:
                        pause(action.seconds)
                    _log_retry(logging.WARNING, chain, env, attempt, exc, action)
                    return action.seconds, attempt + 1
                if isinstance(action, ScheduleRetry) and self.schedule_retry is not None:
                    self._record("retried", env, chain, exc)
                    retry = env.for_attempt(attempt + 1)
                    first = self._first_failure.get(key, time.time())
                    retry.headers = {**env.headers, FIRST_FAILURE_HEADER: repr(first)}
                    try:
                        await self.schedule_retry(chain, retry, time.time() + action.seconds)
                    except StoreError as store_exc:
                        return self._store_unavailable(chain, env, store_exc), attempt
                    _log_retry(logging.INFO, chain, env, attempt, exc, action)
                    self._first_failure.pop(key, None)
                    return None, attempt
                if isinstance(action, RetryAfter | ScheduleRetry):
                    self._record("retried", env, chain, exc)
                    delay = action.delay() if isinstance(action, RetryAfter) else action.seconds
                    _log_retry(
                        logging.INFO, chain, env, attempt, exc, f"retrying after {delay:.3f} s"
                    )
                    return delay, attempt + 1
                first = self._first_failure.get(key, time.time())
                try:
                    await self._give_up(action, rule, chain, env, exc, attempt, first)
                except StoreError as store_exc:
                    return self._store_unavailable(chain, env, store_exc), attempt
                self._first_failure.pop(key, None)
                return None, attempt
            if outcome is not None:
                outcome(True)
            if self._first_failure:
                self._first_failure.pop(key, None)
            return None, attempt

    def _store_unavailable(self, chain: HandlerChain, env: Envelope, exc: StoreError) -> float:
        """Log a store failure; the delay before the message is tried again."""
        delay = STORE_RETRY_SECONDS[min(self._store_failures, len(STORE_RETRY_SECONDS) - 1)]
        self._store_failures += 1
        logger.warning(
            "%s could not record %s %s in the message store (%s); not acknowledged, "
            "trying again in %.1f s",
            chain.name,
            env.message_type,
            env.message_id,
            exc,
            delay,
        )
        return delay

    async def _dispatch_within(
        self,
        chain: HandlerChain,
        env: Envelope,
        limit: float,
        durability: Durability | None = None,
    ) -> None:
        timeout = asyncio.timeout(limit)
        try:
            async with timeout:
                if durability is not None:
                    await durability.handle_inbound(chain, env)
                else:
                    await chain.dispatch(env)
        except TimeoutError as exc:
            if timeout.expired():  # cancelled from here: the chain saw CancelledError instead
                exc.add_note(f"momentum: {chain.name} exceeded its {limit:g} s handler timeout")
                self._record("failed", env, chain, exc)
            raise

    async def _give_up(
        self,
        action: DeadLetter | Discard,
        rule: ErrorRule,
        chain: HandlerChain,
        env: Envelope,
        exc: Exception,
        attempts: int,
        first_failed_at: float,
    ) -> None:
        if isinstance(action, Discard):
            self._record("discarded", env, chain, exc)
            logger.warning(
                "%s discarded %s %s after %d attempt(s) (%s: %s) by rule %r",
                chain.name,
                env.message_type,
                env.message_id,
                attempts,
                type(exc).__name__,
                exc,
                str(rule),
            )
            return
        reason = "retries-exhausted" if rule.slots else "not-retried"
        record = DeadLetterRecord.of(
            env, chain.name, exc, attempts=attempts, first_failed_at=first_failed_at, reason=reason
        )
        await self.dead_letters.add(record)
        self._record("dead-lettered", env, chain, exc)
        if self.telemetry is not None:
            self.telemetry.dead_lettered(env.message_type, chain.name, reason)
        logger.warning(
            "%s moved %s %s to dead letters after %d attempt(s): %s: %s",
            chain.name,
            env.message_type,
            env.message_id,
            attempts,
            type(exc).__name__,
            exc,
        )

    def in_progress(self, envelope: Envelope) -> bool:
        """Whether an earlier delivery of this inbound message is still unfinished."""
        return envelope.has_message_id and envelope.message_id_text in self._inbound

    async def inbound(self, envelope: Envelope, chains: Sequence[HandlerChain]) -> float | None:
        """Run every handler of an inbound message that has not finished yet (see Receiver)."""
        message_id = envelope.message_id_text
        progress = self._inbound.setdefault(message_id, {})
        for chain in chains:
            attempt = progress.get(chain.name, 1)
            if attempt == 0:
                continue  # finished on an earlier delivery of this envelope
            delay, next_attempt = await self.attempt(
                chain, envelope, attempt, self.inbound_outcome, self.pause_listener, inbound=True
            )
            if delay is not None:
                progress[chain.name] = next_attempt
                self._forget_oldest()
                return delay
            progress[chain.name] = 0
        del self._inbound[message_id]
        return None

    def _forget_oldest(self) -> None:
        """Bound what is remembered of messages waiting for a delayed retry.

        A transport that abandons a parked message (its partition was revoked) never brings
        it back here; past :data:`REMEMBERED_RETRIES` the oldest entries go. A message
        forgotten that does come back starts its attempts over; with a store, the inbox
        still skips the handlers that had finished.
        """
        inbound = self._inbound
        while len(inbound) > REMEMBERED_RETRIES:
            del inbound[next(iter(inbound))]

    def local(self, chain: HandlerChain, envelope: Envelope) -> LocalAttempts:
        """The work a local queue runs (and re-runs after delays) for one handler."""
        return LocalAttempts(self, chain, envelope)


class LocalAttempts:
    """One handler's attempts at one message in a local queue; remembers the next attempt."""

    __slots__ = ("chain", "delivery", "envelope", "next_attempt")

    def __init__(self, delivery: Delivery, chain: HandlerChain, envelope: Envelope) -> None:
        self.delivery = delivery
        self.chain = chain
        self.envelope = envelope
        self.next_attempt = 1

    async def __call__(self) -> float | None:
        """Run the next attempt(s); ``None`` when finished, else the delay to wait."""
        delay, self.next_attempt = await self.delivery.attempt(
            self.chain, self.envelope, self.next_attempt
        )
        return delay


def first_failure_of(envelope: Envelope) -> float:
    """When ``envelope``'s message first failed: its scheduled retry's header, else now."""
    text = envelope.headers.get(FIRST_FAILURE_HEADER)
    if text is not None:
        try:
            return float(text)
        except ValueError:
            pass  # not ours: a header of that name from elsewhere
    return time.time()


def _log_retry(
    level: int, chain: HandlerChain, env: Envelope, attempt: int, exc: Exception, then: object
) -> None:
    """``<handler> failed on <type> <id> (attempt n, <exception>); <then>``."""
    logger.log(
        level,
        "%s failed on %s %s (attempt %d, %s); %s",
        chain.name,
        env.message_type,
        env.message_id,
        attempt,
        type(exc).__name__,
        then,
    )
