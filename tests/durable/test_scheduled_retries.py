"""`ErrorRule.schedule_retry`: the next attempt becomes a durable row due later.

The failing delivery is finished at once (so a transport may commit it), the retry runs from
the store with its attempt count, and after the last slot the rule's end applies.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from momentum_fixture_bus.shipping.integration_events import ParcelShipped

from momentum import Service
from momentum.runtime.delivery import FIRST_FAILURE_HEADER
from momentum.runtime.policies import ErrorRule
from momentum.runtime.replay import REPLAY_GROUP_HEADER, replay_record
from momentum.runtime.store import MessageStore
from momentum.testing import InMemoryBroker, tracked

MakeStore = Callable[[str], MessageStore]


class Flaky(Exception):
    pass


def test_the_rule_reads_in_plain_words() -> None:
    rule = ErrorRule.on(Flaky).retry(1).schedule_retry(5, 60).dead_letter()
    assert str(rule) == (
        "on Flaky: retry inline, then schedule a durable retry after 5 s, then "
        "schedule a durable retry after 60 s, then move to dead letters"
    )


async def test_scheduled_retries_run_from_the_store_and_free_the_key(
    make_store: MakeStore,
) -> None:
    broker = InMemoryBroker()
    attempts: list[tuple[int, int, float]] = []  # (seq, attempt, when)

    async def on_parcel(event: ParcelShipped, envelope: object) -> None:
        from momentum import Envelope

        assert isinstance(envelope, Envelope)
        attempts.append((event.seq, envelope.attempts, time.monotonic()))
        if event.seq == 1 and envelope.attempts < 3:
            raise Flaky(f"attempt {envelope.attempts}")

    on_parcel.__annotations__["envelope"] = __import__("momentum").Envelope
    warehouse = Service(
        "warehouse", "Logistics", transport=broker.transport(), database_url="memory://"
    )
    tracking = Service("tracking", "Logistics", transport=broker.transport(), store=make_store("t"))
    tracking.add_handler(on_parcel)
    tracking.on_error(ErrorRule.on(Flaky).schedule_retry(0.2, 0.2).dead_letter())
    async with warehouse, tracking:
        async with tracked(warehouse, tracking, timeout=20) as log:
            await warehouse.bus.publish(ParcelShipped("north", 1))
            await warehouse.bus.publish(ParcelShipped("north", 2))
        assert tracking.store is not None
        backlog = (await tracking.store.stats()).backlog
    assert backlog == 0
    assert [(seq, attempt) for seq, attempt, _ in attempts] == [(1, 1), (2, 1), (1, 2), (1, 3)]
    assert attempts[2][2] - attempts[0][2] >= 0.2  # the retry waited in the store
    assert len(log.retried) == 2 and not log.dead_lettered


async def test_after_the_last_scheduled_retry_the_rule_ends_in_dead_letters(
    make_store: MakeStore,
) -> None:
    broker = InMemoryBroker()
    failed_at: list[float] = []

    async def on_parcel(event: ParcelShipped) -> None:
        failed_at.append(time.time())
        raise Flaky(f"parcel {event.seq}")

    warehouse = Service(
        "warehouse", "Logistics", transport=broker.transport(), database_url="memory://"
    )
    tracking = Service("tracking", "Logistics", transport=broker.transport(), store=make_store("t"))
    tracking.add_handler(on_parcel)
    tracking.on_error(ErrorRule.on(Flaky).schedule_retry(0.05, 0.05).dead_letter())
    async with warehouse, tracking, tracked(warehouse, tracking, timeout=20):
        await warehouse.bus.publish(ParcelShipped("south", 9))
        assert tracking.store is not None
    async with tracking:
        assert tracking.store is not None
        (letter,) = await tracking.store.dead_letters()
    assert letter.attempts == 3 and len(failed_at) == 3
    assert letter.exception_message == "parcel 9"
    # the trouble began at the first attempt, not at the last scheduled one
    assert failed_at[0] <= letter.first_failure_at < failed_at[1]
    assert letter.last_failure_at >= failed_at[2]
    # carried by the retries' envelopes; a replay starts afresh without it
    assert FIRST_FAILURE_HEADER in dict(letter.record.headers)
    replayed = dict(replay_record(letter, tracking.group_id).headers)
    assert FIRST_FAILURE_HEADER not in replayed
    assert replayed[REPLAY_GROUP_HEADER] == tracking.group_id.encode()


async def test_without_a_store_a_scheduled_retry_waits_in_memory() -> None:
    seen: list[int] = []

    async def on_parcel(event: ParcelShipped) -> None:
        seen.append(event.seq)
        if len(seen) == 1:
            raise Flaky("once")

    service = Service("solo", "Logistics", database_url="memory://")
    service.add_handler(on_parcel)
    service.on_error(ErrorRule.on(Flaky).schedule_retry(0.05))
    async with service, service.tracked() as log:
        await service.bus.publish(ParcelShipped("east", 4))
    assert seen == [4, 4]
    assert len(log.retried) == 1
