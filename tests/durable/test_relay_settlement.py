"""The outbox relay settles each row by its own outcome (real SQLite files and PostgreSQL).

A scripted transport acknowledges records at once except those the test holds back, so the
tests decide when a slow record's outcome arrives: the rows acknowledged meanwhile are sent as
soon as the claim's hold ends, the slow row stays leased to its relay (renewed while in flight,
invisible to other relays) and is settled when its outcome arrives.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from test_relay import MakeStore, wait_until

from momentum.contracts.errors import TransportError
from momentum.runtime.ports import PENDING, RecordOutcome
from momentum.runtime.relay import OutboxRelay, RelaySettings
from momentum.runtime.store import MessageStore, OutgoingRecord

SLOW = "dev.tests.public.slow.v1"
FAST = "dev.tests.public.fast.v1"


class HeldDeliveries:
    """Outcomes known at once, except the records the transport holds until :meth:`settle`."""

    def __init__(self, records: Sequence[OutgoingRecord], held: set[str]) -> None:
        self.records = list(records)
        self.results: list[RecordOutcome] = [
            PENDING if r.destination in held else None for r in records
        ]
        self.settled = asyncio.Event()
        if PENDING not in self.results:
            self.settled.set()

    @property
    def pending(self) -> bool:
        return PENDING in self.results

    def settle(self, error: BaseException | None) -> None:
        self.results = [error if r is PENDING else r for r in self.results]
        self.settled.set()

    def outcomes(self) -> list[RecordOutcome]:
        return list(self.results)

    async def wait(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        try:
            await asyncio.wait_for(self.settled.wait(), timeout)
        except TimeoutError:
            return False
        return True


class ScriptedTransport:
    """A record transport that acknowledges at once every record but those to ``held``."""

    def __init__(self, *held: str) -> None:
        self.held = set(held)
        self.batches: list[HeldDeliveries] = []

    @property
    def published(self) -> list[str]:
        return [r.message_id for batch in self.batches for r in batch.records]

    def encode(self, envelope: object, destination: object) -> OutgoingRecord:
        raise NotImplementedError

    async def publish_records(
        self, records: Sequence[OutgoingRecord]
    ) -> list[BaseException | None]:
        raise AssertionError("the relay starts records and settles them one by one")

    async def start_records(self, records: Sequence[OutgoingRecord]) -> HeldDeliveries:
        deliveries = HeldDeliveries(records, self.held)
        self.batches.append(deliveries)
        return deliveries

    def in_flight(self) -> HeldDeliveries:
        (batch,) = [b for b in self.batches if b.pending]
        return batch


def record(n: int, destination: str, key: str) -> OutgoingRecord:
    return OutgoingRecord(f"m-{n}", destination, key, [("ce_type", b"T")], b"{}")


async def fill(store: MessageStore, records: Sequence[OutgoingRecord]) -> None:
    await store.open()
    async with store.transaction() as tx:
        await tx.add_outgoing(records)


def relay_on(
    store: MessageStore, transport: ScriptedTransport, owner: str = "relay-1", **settings: Any
) -> OutboxRelay:
    values: dict[str, Any] = {"lease_seconds": 0.6, "hold_seconds": 0.1, "poll_seconds": 0.05}
    values.update(settings)
    return OutboxRelay(store, transport, RelaySettings(owner=owner, **values))


async def eventually(check: Callable[[], Awaitable[bool]], what: str, limit: float = 10) -> None:
    """Wait until ``await check()`` holds; fail naming ``what`` after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while not await check():
        assert time.monotonic() < deadline, f"timed out after {limit} s waiting for {what}"
        await asyncio.sleep(0.01)  # poll interval, not a wait for an outcome


def backlog_is(store: MessageStore, n: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return (await store.stats()).backlog == n

    return check


async def test_acknowledged_rows_are_sent_while_a_slow_row_is_leased_then_settled(
    make_store: MakeStore,
) -> None:
    store = make_store("shop")
    fast = [record(n, FAST, f"k{n}") for n in range(2, 7)]
    await fill(store, [record(0, SLOW, "a"), record(1, SLOW, "a"), *fast])
    transport = ScriptedTransport(SLOW)
    relay = relay_on(store, transport)
    relay.start()
    try:
        # the five fast rows are sent; the slow stream's two rows are in flight
        await eventually(backlog_is(store, 2), "the fast rows to be sent")
        assert transport.published == [f"m-{n}" for n in range(7)]
        other = relay_on(store, ScriptedTransport(), owner="relay-2")
        until = time.monotonic() + 2 * 0.6  # two lease periods: the watcher renews the lease
        while time.monotonic() < until:
            assert await other.relay_once() == 0  # still leased to relay-1
        assert relay.unsettled == 1
        transport.held.clear()
        transport.in_flight().settle(TransportError("unknown topic"))
        # released with a back-off (attempt 1), then both slow rows go again, in order
        await eventually(backlog_is(store, 0), "the retry")
        assert transport.published[7:] == ["m-0", "m-1"]
    finally:
        await relay.stop()
        await relay.close(5)
    assert (relay.relayed, relay.failed) == (7, 2)
    assert await store.dead_letters() == []


async def test_a_slow_row_that_keeps_failing_becomes_a_dead_letter_alone(
    make_store: MakeStore,
) -> None:
    store = make_store("shop")
    await fill(store, [record(0, SLOW, "a"), record(1, FAST, "b")])
    transport = ScriptedTransport(SLOW)
    relay = relay_on(store, transport, max_attempts=2)
    relay.start()
    try:
        for attempt in (1, 2):
            await wait_until(
                lambda n=attempt: transport.published.count("m-0") == n,  # type: ignore[misc]
                10,
                f"publication {attempt} of the slow row",
            )
            transport.in_flight().settle(TransportError(f"unknown topic ({attempt})"))
        await eventually(backlog_is(store, 0), "the dead letter")
        await relay.wait_idle()
    finally:
        await relay.stop()
        await relay.close(5)
    (letter,) = await store.dead_letters()
    assert (letter.record.message_id, letter.attempts) == ("m-0", 2)
    assert letter.exception_message == "unknown topic (2)"
    assert (relay.relayed, relay.dead_lettered) == (1, 1)


async def test_wait_idle_waits_for_late_rows_and_close_settles_what_a_stop_flushed(
    make_store: MakeStore,
) -> None:
    store = make_store("shop")
    await fill(store, [record(0, SLOW, "a"), record(1, FAST, "b")])
    transport = ScriptedTransport(SLOW)
    relay = relay_on(store, transport)
    relay.start()
    await eventually(backlog_is(store, 1), "the fast row")
    await wait_until(lambda: relay.unsettled == 1, 10, "the claim to end")
    idle = asyncio.ensure_future(relay.wait_idle())
    await relay.stop()  # claims no more; the late row is still watched
    assert not idle.done() and relay.unsettled == 1
    transport.in_flight().settle(None)  # the transport's stop flushed it: delivered
    await relay.close(5)
    assert (await store.stats()).backlog == 0
    assert relay.unsettled == 0
    await asyncio.wait_for(idle, 5)


async def test_close_gives_up_on_rows_still_in_flight_and_leaves_them_leased(
    make_store: MakeStore,
) -> None:
    store = make_store("shop")
    await fill(store, [record(0, SLOW, "a")])
    transport = ScriptedTransport(SLOW)
    relay = relay_on(store, transport, lease_seconds=0.4)
    relay.start()
    await wait_until(lambda: relay.unsettled == 1, 10, "the claim to end")
    await relay.stop()
    await relay.close(0.1)
    assert relay.unsettled == 0
    assert (await store.stats()).backlog == 1  # leased; published again once it expires
    survivor = relay_on(store, ScriptedTransport(), owner="relay-2")

    async def taken_over() -> bool:
        return await survivor.relay_once() == 1

    await eventually(taken_over, "the lease to expire")
    assert (await store.stats()).backlog == 0
