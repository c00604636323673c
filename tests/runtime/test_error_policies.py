"""Error policies as data, executed: inline and delayed retries, key parking, dead letters,
discard, replay, most-specific rule, handler timeouts, and the transport path."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Annotated

import pytest
from momentum_fixture_bus.shipping.integration_events import ParcelShipped

from momentum import Envelope, PartitionKey, Result, Service, ValidationFailure
from momentum.runtime.dead_letters import InMemoryDeadLetters
from momentum.runtime.policies import (
    DEFAULT_RULE,
    DeadLetter,
    Discard,
    ErrorPolicy,
    ErrorRule,
    RetryAfter,
    RetryInline,
    ScopedRule,
)
from momentum.testing import InMemoryBroker, InMemoryTransport, tracked


@dataclass(frozen=True)
class Job:
    key: Annotated[str, PartitionKey()]
    seq: int


class BusinessRuleBrokenError(Exception):
    pass


# -- rules are data ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        (ErrorRule.on(), "on Exception: move to dead letters"),
        (
            ErrorRule.on(TimeoutError, ConnectionError).retry(2).retry_after(0.5, 2),
            "on TimeoutError or ConnectionError: retry inline 2 times, then retry after "
            "500 ms, 2 s, then move to dead letters",
        ),
        (ErrorRule.on(KeyError).retry().discard(), "on KeyError: retry inline, then discard"),
        (
            ErrorRule.on(ValueError, when=lambda e: "x" in str(e), described_as="it mentions x"),
            "on ValueError when it mentions x: move to dead letters",
        ),
        (
            DEFAULT_RULE,
            "on Exception: retry after 100 ms, 200 ms (+/-10%), then move to dead letters",
        ),
    ],
)
def test_rules_read_in_plain_words(rule: ErrorRule, text: str) -> None:
    assert str(rule) == text


def test_slots_are_taken_in_order_then_the_end() -> None:
    rule = ErrorRule.on().retry(2).retry_after(1.0).discard()
    actions = [rule.action_for(n) for n in range(1, 6)]
    assert actions == [RetryInline(), RetryInline(), RetryAfter(1.0), Discard(), Discard()]
    assert ErrorRule.on().action_for(1) == DeadLetter()


def test_backoff_is_capped_and_jittered_within_bounds() -> None:
    rule = ErrorRule.on().retry_with_backoff(6, initial=0.5, factor=3, maximum=10, jitter=0.2)
    delays = [slot.seconds for slot in rule.slots if isinstance(slot, RetryAfter)]
    assert delays == [0.5, 1.5, 4.5, 10, 10, 10]
    jittered = RetryAfter(10, 0.2)
    assert jittered.delay(lambda: 0.0) == pytest.approx(8.0)
    assert jittered.delay(lambda: 1.0) == pytest.approx(12.0)


def test_most_specific_rule_first_and_predicates() -> None:
    def handle_job(job: Job) -> None: ...

    name = f"{handle_job.__module__}.{handle_job.__qualname__}"
    general = ErrorRule.on(ValueError).retry(1)
    by_type = ErrorRule.on(ValueError).retry(2)
    by_handler = ErrorRule.on(ValueError).retry(3)
    policy = ErrorPolicy(
        [ScopedRule(general), ScopedRule(by_type, (Job,)), ScopedRule(by_handler, None, (name,))]
    )
    assert policy.rules_for(Job, name)[:3] == [by_handler, by_type, general]
    assert policy.rules_for(Job, "other")[:2] == [by_type, general]
    assert policy.rules_for(int, "other")[:1] == [general]
    assert str(policy).splitlines()[-1] == f"otherwise, for every handler: {DEFAULT_RULE}"


@dataclass(frozen=True)
class Parcel:
    seq: int


def handle_job(job: Job) -> None: ...


def handle_parcel(parcel: Parcel) -> None: ...


def test_the_policy_of_a_service_says_where_each_rule_applies() -> None:
    service = Service("jobs", "Shop")
    service.on_error(ErrorRule.on(ValueError).retry())
    service.on_error(ErrorRule.on(KeyError).discard(), message_types=[Job, Parcel])
    service.on_error(ErrorRule.on(TimeoutError).retry(2), handlers=[handle_job])
    service.on_error(
        ErrorRule.on(OSError).retry_after(1.0), message_types=[Job], handlers=[handle_job]
    )
    service.on_error(ErrorRule.on(LookupError), handlers=[handle_job, handle_parcel])
    job, parcel = (f"{f.__module__}.{f.__qualname__}" for f in (handle_job, handle_parcel))
    assert str(service.error_policy).splitlines() == [
        f"for handler {job}: on TimeoutError: retry inline 2 times, then move to dead letters",
        f"for handler {job}, on Job (and subclasses): on OSError: retry after 1 s, then move "
        "to dead letters",
        f"for handlers {job} or {parcel}: on LookupError: move to dead letters",
        "for handlers of Job or Parcel (and subclasses): on KeyError: discard",
        "for every handler: on ValueError: retry inline, then move to dead letters",
        "otherwise, for every handler: on Exception: retry after 100 ms, 200 ms (+/-10%), then "
        "move to dead letters",
    ]


# -- executed -----------------------------------------------------------------------------


def service_with(handler: object, *rules: ErrorRule, concurrency: int = 1) -> Service:
    service = Service("jobs", "Shop", local_queues={"concurrency": concurrency})
    service.add_handler(handler)  # type: ignore[arg-type]
    for rule in rules:
        service.on_error(rule)
    return service


async def test_failing_twice_then_succeeding_is_handled_once_in_key_order() -> None:
    calls: Counter[int] = Counter()
    done: list[int] = []

    async def on_job(job: Job) -> None:
        calls[job.seq] += 1
        if job.seq == 1 and calls[1] <= 2:
            raise ConnectionError("flaky")
        done.append(job.seq)

    service = service_with(on_job, ErrorRule.on(ConnectionError).retry_after(0.01, 0.01))
    async with service, service.tracked() as session:
        for seq in range(4):
            await service.bus.publish(Job("k", seq))
    assert done == [0, 1, 2, 3]
    assert calls[1] == 3 and len(session.retried) == 2 and session.dead_lettered == []


async def test_parked_key_waits_while_other_keys_flow_through_the_same_lane() -> None:
    gate = asyncio.Event()
    order: list[tuple[str, int]] = []

    async def on_job(job: Job) -> None:
        if job.key == "slow" and job.seq == 0 and not gate.is_set():
            raise ConnectionError("dependency down")
        order.append((job.key, job.seq))
        if job.key == "fast" and job.seq == 999:
            gate.set()  # the dependency recovers only once every other key went through

    # one lane: like one Kafka partition. The retry delay is long enough that the 1,000
    # messages of other keys must pass the parked key to finish before it comes back.
    service = service_with(on_job, ErrorRule.on(ConnectionError).retry_after(0.2, 0.2, 0.2, 5))
    async with service, service.tracked(timeout=20) as session:
        await service.bus.publish(Job("slow", 0))
        await service.bus.publish(Job("slow", 1))
        for seq in range(1000):
            await service.bus.publish(Job("fast", seq))
        await service.bus.publish(Job("slow", 2))
    slow = [seq for key, seq in order if key == "slow"]
    fast_done_at = order.index(("fast", 999))
    assert slow == [0, 1, 2]
    assert order.index(("slow", 0)) > fast_done_at  # parked, not blocking the lane
    assert len(session.retried) >= 1 and session.dead_lettered == []


async def test_dead_letters_then_replay_after_the_fix() -> None:
    broken = True
    done: list[int] = []

    async def on_job(job: Job) -> None:
        if broken:
            raise BusinessRuleBrokenError(f"job {job.seq} rejected")
        done.append(job.seq)

    service = service_with(on_job, ErrorRule.on(BusinessRuleBrokenError).retry(1))
    async with service:
        async with service.tracked() as session:
            await service.bus.publish(Job("k", 7))
        sink = service.dead_letters
        assert isinstance(sink, InMemoryDeadLetters)
        [record] = sink.records(exception_type="BusinessRuleBrokenError")
        assert (record.attempts, record.reason) == (2, "retries-exhausted")
        assert record.handler.endswith("on_job") and "job 7 rejected" in record.stack
        assert record.exception_type.endswith("test_error_policies.BusinessRuleBrokenError")
        assert record.first_failed_at <= record.last_failed_at
        assert len(session.dead_lettered) == 1 and done == []
        broken = False
        async with service.tracked():
            assert await service.replay_dead_letters(sink.take([record.id])) == 1
        assert done == [7] and len(sink) == 0


async def test_non_retriable_business_errors_go_straight_to_their_end() -> None:
    calls = 0

    async def on_job(job: Job) -> None:
        nonlocal calls
        calls += 1
        raise BusinessRuleBrokenError("no")

    service = service_with(on_job, ErrorRule.on(BusinessRuleBrokenError).discard())
    async with service, service.tracked() as session:
        await service.bus.publish(Job("k", 1))
    assert calls == 1 and len(session.discarded) == 1 and session.dead_lettered == []


@dataclass(frozen=True)
class Check:
    n: int


async def test_result_fail_is_not_an_error() -> None:
    async def on_check(check: Check) -> Result[int]:
        return Result.fail(ValidationFailure("n", f"{check.n} is odd"))

    service = service_with(on_check)
    async with service, service.tracked() as session:
        await service.bus.publish(Check(1))
    assert session.failed == [] and len(session.handled) == 1


async def test_handler_timeout_cancels_and_counts_as_failure() -> None:
    cancelled = 0

    async def on_job(job: Job) -> None:
        nonlocal cancelled
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled += 1
            raise

    service = service_with(on_job, ErrorRule.on(TimeoutError).retry(1))
    service.handler_timeout(0.05, message_types=[Job])
    async with service, service.tracked() as session:
        await service.bus.publish(Job("k", 1))
    assert cancelled == 2
    assert [type(a.exception) for a in session.failed] == [TimeoutError, TimeoutError]
    assert len(session.dead_lettered) == 1


async def test_transport_deliveries_retry_per_handler_and_keep_key_order() -> None:
    broker = InMemoryBroker(concurrency=1)
    first_calls: list[int] = []
    second_calls: list[int] = []

    async def first(event: ParcelShipped) -> None:
        first_calls.append(event.seq)

    async def second(event: ParcelShipped) -> None:
        second_calls.append(event.seq)
        if event.seq == 0 and second_calls.count(0) < 3:
            raise ConnectionError("later")

    receiver = Service("receiver", "Logistics", transport=broker.transport())
    receiver.add_handler(first)
    receiver.add_handler(second)
    receiver.on_error(ErrorRule.on(ConnectionError).retry_after(0.01, 0.01))
    sender = Service("sender", "Logistics", transport=broker.transport())
    async with sender, receiver, tracked(sender, receiver) as session:
        for seq in range(3):
            await sender.bus.publish(ParcelShipped("w", seq))
    assert first_calls == [0, 1, 2]  # the succeeded handler did not run again on retries
    assert second_calls == [0, 0, 0, 1, 2]
    assert len(session.received) == 3 and len(session.retried) == 2


async def test_pause_listener_slot_stops_consumption_then_retries() -> None:
    broker = InMemoryBroker(concurrency=2)
    attempts: list[int] = []
    others: list[int] = []
    failed_once = asyncio.Event()
    receiver = Service("receiver", "Logistics", transport=broker.transport())

    async def on_parcel(event: ParcelShipped) -> None:
        if event.warehouse == "db":
            attempts.append(event.seq)
            if len(attempts) == 1:
                failed_once.set()
                raise ConnectionError("database down")
        else:
            others.append(event.seq)

    receiver.add_handler(on_parcel)
    rule = ErrorRule.on(ConnectionError).pause_listener(0.2)
    assert str(rule) == (
        "on ConnectionError: pause the listener for 200 ms, then move to dead letters"
    )
    receiver.on_error(rule)
    sender = Service("sender", "Logistics", transport=broker.transport())
    async with sender, receiver:
        transport = receiver.transport
        assert isinstance(transport, InMemoryTransport)
        async with tracked(sender, receiver) as session:
            await sender.bus.publish(ParcelShipped("db", 1))
            await asyncio.wait_for(failed_once.wait(), 5)
            for seq in range(3):
                await sender.bus.publish(ParcelShipped(f"other{seq}", seq))
            await asyncio.sleep(0)  # let the failure's policy run: the listener pauses
            assert transport.paused and others == []
    assert attempts == [1, 1] and sorted(others) == [0, 1, 2]
    assert len(session.retried) == 1 and session.dead_lettered == []


async def test_progress_of_abandoned_retries_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from momentum.runtime import delivery

    monkeypatch.setattr(delivery, "REMEMBERED_RETRIES", 2)
    attempts: dict[int, list[int]] = {}

    async def flaky(event: ParcelShipped, envelope: Envelope) -> None:
        attempts.setdefault(event.seq, []).append(envelope.attempts)
        raise ConnectionError("later")

    service = Service("receiver", "Logistics", transport=InMemoryBroker().transport())
    service.add_handler(flaky)
    service.on_error(ErrorRule.on(ConnectionError).retry_after(60, 60, 60))
    async with service:
        runtime = service.runtime
        # a transport hands over three messages, each parks; it never brings back the first
        envelopes = [Envelope(ParcelShipped("w", seq)) for seq in range(3)]
        for envelope in envelopes:
            assert await runtime.receive(envelope) == 60
        assert not runtime.delivery.in_progress(envelopes[0])  # forgotten: the oldest
        assert runtime.delivery.in_progress(envelopes[2])
        assert await runtime.receive(envelopes[2]) == 60  # remembered: its next attempt
        assert await runtime.receive(envelopes[0]) == 60  # forgotten: from its first attempt
    assert attempts == {0: [1, 1], 1: [1], 2: [1, 2]}
