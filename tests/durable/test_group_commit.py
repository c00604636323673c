"""Group commit of the inbox: many handled messages per transaction, in order, never lost.

A handler that does not take the store transaction runs outside one; its inbox row and the
rows it produced are committed with other messages' in one transaction. These tests hold or
fail those commits (a proxy around a real SQLite or PostgreSQL store) and check what the
runtime promises: nothing counts as settled before it is committed, a failed commit is tried
again without running handlers twice, outbox rows keep their order per key, duplicates queued
together run once, and a stop abandons (never fakes) what could not commit.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from momentum import PartitionKey, Service, event_topic
from momentum.contracts.errors import StoreError
from momentum.runtime.outbox import Durability
from momentum.runtime.store import MessageStore, StoreTransaction
from momentum.testing import InMemoryBroker

MakeStore = Callable[[str], MessageStore]


@event_topic("payments")
@dataclass(frozen=True)
class OrderPaid:
    """Consumed: the service under test handles it (no transaction parameter)."""

    shop: Annotated[str, PartitionKey()]
    seq: int


@event_topic("receipts")
@dataclass(frozen=True)
class ReceiptIssued:
    """Published by the handler: an outbox row of the group commit."""

    shop: Annotated[str, PartitionKey()]
    seq: int


class GatedStore:
    """A real store whose write transactions can be held or made to fail."""

    def __init__(self, inner: MessageStore) -> None:
        self.inner = inner
        self.gate = asyncio.Event()
        self.gate.set()
        self.failures_left = 0
        self.transactions = 0
        self.waiting = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @asynccontextmanager
    async def transaction(self, connection: Any | None = None) -> AsyncIterator[StoreTransaction]:
        if not self.gate.is_set():
            self.waiting.set()
            await self.gate.wait()
        if self.failures_left:
            self.failures_left -= 1
            raise StoreError("database unreachable (test)")
        self.transactions += 1
        async with self.inner.transaction(connection) as tx:
            yield tx


async def wait_until(condition: Callable[[], bool], within: float = 20.0) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 (state of the runtime, no event to wait on)
            await asyncio.sleep(0.005)


@dataclass
class Shop:
    """The service under test (``shop``, on a gated store) and ``till``, which publishes to it
    through its outbox, so the broker holds wire records (``broker.records``)."""

    broker: InMemoryBroker
    store: GatedStore
    runs: list[int]
    service: Service
    publisher: Service

    @property
    def durability(self) -> Durability:
        durability = self.service.runtime.durability
        assert durability is not None
        return durability

    async def inbox_size(self) -> int:
        return (await self.store.inner.stats()).inbox_size


def shop(
    make_store: MakeStore, holds: dict[int, asyncio.Event] | None = None, **options: Any
) -> Shop:
    broker = InMemoryBroker()
    store = GatedStore(make_store("shop"))
    runs: list[int] = []

    async def on_paid(event: OrderPaid) -> ReceiptIssued:
        runs.append(event.seq)
        if holds and event.seq in holds:
            await holds[event.seq].wait()
        return ReceiptIssued(event.shop, event.seq)

    service = Service("shop", "Billing", transport=broker.transport(), store=store, **options)
    service.add_handler(on_paid)
    till = Service("till", "Billing", transport=broker.transport(), store=make_store("till"))
    return Shop(broker, store, runs, service, till)


def receipts(broker: InMemoryBroker) -> list[int]:
    """Sequence numbers of the receipts relayed to the broker, in relay order."""
    return [json.loads(r.body)["seq"] for r in broker.records if "receipts" in r.destination]


async def idle(*services: Service) -> None:
    for service in services:
        await service.runtime.wait_idle()


async def publish_paid(publisher: Service, count: int) -> None:
    async with publisher.bus.transaction():
        for seq in range(count):
            await publisher.bus.publish(OrderPaid("s1" if seq % 2 else "s2", seq))


async def test_many_messages_share_a_commit_and_settle_waits_for_it(
    make_store: MakeStore,
) -> None:
    s = shop(make_store)
    async with s.service, s.publisher:
        s.store.gate.clear()  # hold the first commit: everything handled meanwhile queues up
        await publish_paid(s.publisher, 200)
        await wait_until(lambda: len(s.runs) == 200)
        settled = asyncio.create_task(s.durability.settle())
        await s.store.waiting.wait()
        for _ in range(3):
            await asyncio.sleep(0)  # lets settle run up to where it waits
        assert not settled.done()  # handled, not durable: a transport may not commit yet
        assert await s.inbox_size() == 0
        s.store.gate.set()
        await asyncio.wait_for(settled, 20)
        assert await s.inbox_size() == 200
        assert s.durability.commits.batches < 20  # 200 messages, a handful of transactions
        assert s.durability.lookup.queries < 200
        await s.service.runtime.wait_idle()
    assert sorted(s.runs) == list(range(200))
    assert sorted(receipts(s.broker)) == list(range(200))


async def test_a_failed_commit_is_retried_without_rerunning_handlers_and_keeps_key_order(
    make_store: MakeStore,
) -> None:
    s = shop(make_store)
    async with s.service, s.publisher:
        s.store.failures_left = 3  # the database is away for three attempts
        await publish_paid(s.publisher, 60)
        await wait_until(lambda: len(s.runs) == 60)
        await s.durability.settle()
        await s.service.runtime.wait_idle()
        assert s.durability.commits.failures == 3
        assert await s.inbox_size() == 60
    assert sorted(s.runs) == list(range(60))  # each handler ran once
    relayed = receipts(s.broker)
    assert sorted(relayed) == list(range(60))
    for shop_seqs in ([q for q in relayed if q % 2], [q for q in relayed if not q % 2]):
        assert shop_seqs == sorted(shop_seqs)  # per key in handling order


async def test_duplicates_queued_together_run_once(make_store: MakeStore) -> None:
    s = shop(make_store)
    async with s.service, s.publisher:
        await publish_paid(s.publisher, 1)
        await idle(s.publisher, s.service)
        s.store.gate.clear()
        # the same record three times in a row (a relay that crashed after publishing, then
        # a redelivery): looked up ahead together, while the first is not yet committed
        for _ in range(3):
            s.broker.publish_record(s.broker.records[0])
        s.store.gate.set()
        await s.service.runtime.wait_idle()
        assert await s.inbox_size() == 1
    assert s.runs == [0]


async def test_an_inbox_answer_read_before_a_commit_is_not_trusted_after_it(
    make_store: MakeStore,
) -> None:
    holds = {0: asyncio.Event(), 2: asyncio.Event()}
    s = shop(make_store, holds)
    async with s.service, s.publisher:
        async with s.publisher.bus.transaction():  # one key: one lane, in this order
            await s.publisher.bus.publish(OrderPaid("s2", 0))
            await s.publisher.bus.publish(OrderPaid("s2", 2))
        await wait_until(lambda: s.runs == [0])  # the first inside its handler, 2 queued
        queries = s.durability.lookup.queries
        s.broker.publish_record(s.broker.records[0])  # a second copy of 0 queues behind 2 ...
        await wait_until(lambda: s.durability.lookup.queries > queries)  # ... looked up ahead
        holds[0].set()
        await wait_until(lambda: s.runs == [0, 2])
        await s.durability.settle()  # 0 committed after the look-up read the inbox
        holds[2].set()
        await s.service.runtime.wait_idle()
        assert await s.inbox_size() == 2
    assert s.runs == [0, 2]


async def test_stop_abandons_what_could_not_commit_and_the_redelivery_runs_it(
    make_store: MakeStore,
) -> None:
    s = shop(make_store, shutdown_seconds=0.2)
    async with s.publisher:
        async with s.service:
            s.store.failures_left = 1_000_000  # the database does not come back before the stop
            await publish_paid(s.publisher, 1)
            await wait_until(lambda: s.runs == [0] and s.durability.commits.failures > 0)
            await idle(s.publisher)
        s.store.failures_left = 0
        async with s.service:
            assert await s.inbox_size() == 0  # nothing passed off as committed
            s.broker.publish_record(s.broker.records[0])  # the transport delivers it again
            await s.service.runtime.wait_idle()
            assert await s.inbox_size() == 1
    assert s.runs == [0, 0]  # at least once: the first run's commit never happened
