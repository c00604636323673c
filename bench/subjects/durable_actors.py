"""Candidates of the actors benchmarks: inbound payments, stateless vs. actor-handled.

A started ``Service`` with a message store and an ``InMemoryBroker`` transport (4 lanes,
records keyed by 24 tenants), as in the durable-inbox benchmark. Each record is a
``PaymentReceived`` of one of 1,000 invoices, taken in turn (each 1,000 messages give each
invoice one: an actor's save is rarely shared by two of its messages in one batch).
``run(n)`` hands n pre-built wire records to ``broker.publish_record`` and returns when
the n-th handler finished and everything is committed (``settle``: what the Kafka
consumer waits for before committing offsets).

- stateless: a plain handler (``async def handle(event: PaymentReceived)``): its inbox row
  goes to the group commit (many messages per transaction).
- actor: ``InvoiceLedger(Actor[Ledger])`` keyed by the invoice, adding the amount to its
  state: per message the activation's mailbox, the state serialized (a small dataclass),
  and one entry for the actor saves (inbox rows, one optimistic ``UPDATE ... WHERE version
  = expected`` per invoice in the batch, outbox rows: none here), also committed in groups.

The warm-up run activates the invoices (their first state rows are written then).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Annotated, Any
from uuid import UUID

from bench.framework import Run, current_config
from bench.subjects.durable_support import (
    ENVIRONMENT,
    Countdown,
    postgres_schema,
    postgres_store,
    run_id,
    sqlite_directory,
    sqlite_store,
)
from momentum import Actor, PartitionKey, event_topic, handler

DOMAIN = "BenchActors"
TENANTS = 24
INVOICES = 1_000
LANES = 4


@event_topic("payments", domain=DOMAIN)
@dataclass(frozen=True)
class PaymentReceived:
    """A payment of an invoice (records keyed by tenant; the actor by invoice)."""

    tenant: Annotated[str, PartitionKey()]
    invoice: str
    amount: int


@dataclass
class Ledger:
    """An invoice's payments."""

    total: int = 0
    count: int = 0


class InvoiceLedger(Actor[Ledger]):
    """Adds each payment to the invoice's ledger."""

    key_field = "invoice"
    countdown: Countdown  # set per candidate (its event loop)

    @handler
    async def on_payment(self, event: PaymentReceived) -> None:
        self.state.total += event.amount
        self.state.count += 1
        InvoiceLedger.countdown.hit()


def _records(count: int, first: int) -> list[Any]:
    from momentum import Envelope, topic_name
    from momentum.runtime.records import encode_outgoing

    topic = topic_name(PaymentReceived, ENVIRONMENT)
    templates = []
    for i in range(TENANTS):
        event = PaymentReceived(f"tenant-{i}", "invoice", 1)
        envelope = Envelope(event, source="/bench_actors/bench-bank")
        templates.append(encode_outgoing(envelope, topic, event.tenant))
    position = next(i for i, (name, _) in enumerate(templates[0].headers) if name == "ce_id")
    made = []
    for i in range(first, first + count):
        invoice = i % INVOICES  # each invoice in turn: one message per actor per 1,000
        tenant = invoice % TENANTS  # an invoice belongs to one tenant (one lane)
        template = templates[tenant]
        message_id = str(UUID(int=(0xAC7 << 116) + i))
        headers = list(template.headers)
        headers[position] = ("ce_id", message_id.encode())
        body = (f'{{"tenant":"tenant-{tenant}","invoice":"inv-{invoice}","amount":1}}').encode()
        made.append(replace(template, message_id=message_id, headers=headers, body=body))
    return made


@asynccontextmanager
async def _service(store: Any, *, actor: bool) -> AsyncIterator[Run]:
    from momentum import Service
    from momentum.testing import InMemoryBroker

    broker = InMemoryBroker(concurrency=LANES)
    service = Service(
        "bench-actors", DOMAIN, transport=broker.transport(), environment=ENVIRONMENT, store=store
    )
    countdown = InvoiceLedger.countdown = Countdown()

    async def handle(event: PaymentReceived) -> None:
        countdown.hit()

    if actor:
        service.add_actor(InvoiceLedger)
    else:
        service.add_handler(handle)
    config = current_config()
    pending = _records((config.ops or 1000) * (config.rounds + 1), run_id())
    position = 0

    async def run(n: int) -> None:
        nonlocal position
        batch = pending[position : position + n]
        position += n
        if len(batch) < n:
            raise RuntimeError("actors: more ops than records built at setup")
        broker.records.clear()
        broker.published.clear()

        def feed() -> None:
            for record in batch:
                broker.publish_record(record)

        await countdown.wait(n, feed)
        durability = service.runtime.durability
        assert durability is not None
        await durability.settle()  # inbox rows and actor states committed

    async with service:
        yield run


@asynccontextmanager
async def stateless_postgres() -> AsyncIterator[Run]:
    """A plain handler, ``PostgresStore`` (defaults) in a fresh schema."""
    async with (
        postgres_schema("stateless") as schema,
        _service(postgres_store(schema), actor=False) as run,
    ):
        yield run


@asynccontextmanager
async def actor_postgres() -> AsyncIterator[Run]:
    """The ``InvoiceLedger`` actor, ``PostgresStore`` (defaults) in a fresh schema."""
    async with (
        postgres_schema("actors") as schema,
        _service(postgres_store(schema), actor=True) as run,
    ):
        yield run


@asynccontextmanager
async def stateless_sqlite() -> AsyncIterator[Run]:
    """A plain handler, ``SqliteStore`` (defaults) in a temporary directory."""
    async with (
        sqlite_directory() as path,
        _service(sqlite_store(path / "stateless.db"), actor=False) as run,
    ):
        yield run


@asynccontextmanager
async def actor_sqlite() -> AsyncIterator[Run]:
    """The ``InvoiceLedger`` actor, ``SqliteStore`` (defaults) in a temporary directory."""
    async with (
        sqlite_directory() as path,
        _service(sqlite_store(path / "actors.db"), actor=True) as run,
    ):
        yield run
