"""Messages, states and actors shared by the actor tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import BaseModel, ConfigDict

from momentum import Actor, Command, PartitionKey, Query, Reminder, event_topic, handler


@event_topic("payments", domain="ActorTests")
@dataclass(frozen=True)
class PaymentReceived:
    """A payment for an invoice.

    Attributes:
        tenant: Partition key.
        invoice: The invoice (the actor key).
        seq: Position among the invoice's payments (from 1).
        amount: Amount paid.
    """

    tenant: Annotated[str, PartitionKey()]
    invoice: str
    seq: int
    amount: int


@event_topic("invoices", domain="ActorTests")
@dataclass(frozen=True)
class InvoiceSettled:
    """Published by the actor when an invoice is paid in full.

    Attributes:
        tenant: Partition key.
        invoice: The invoice.
        total: What was paid.
    """

    tenant: Annotated[str, PartitionKey()]
    invoice: str
    total: int


@dataclass(frozen=True)
class GetTotal(Query[int]):
    invoice: Annotated[str, PartitionKey()]


@dataclass(frozen=True)
class Adjust(Command[int]):
    invoice: Annotated[str, PartitionKey()]
    amount: int


@dataclass(frozen=True)
class SetReminder(Command[None]):
    invoice: Annotated[str, PartitionKey()]
    name: str
    delay: float | None = None
    every: float | None = None


@dataclass
class Ledger:
    total: int = 0
    count: int = 0
    last_seq: int = 0
    out_of_order: list[int] = field(default_factory=list)
    activations: int = 0
    deactivations: int = 0
    reminded: list[str] = field(default_factory=list)
    deferrals: list[int] = field(default_factory=list)


class LedgerActor(Actor[Ledger]):
    """Sums the payments of an invoice; settles it at ``due`` (a class attribute)."""

    key_field = "invoice"
    due = 100

    @handler
    async def on_payment(self, event: PaymentReceived) -> InvoiceSettled | None:
        ledger = self.state
        if event.seq != ledger.last_seq + 1:
            ledger.out_of_order.append(event.seq)
        ledger.last_seq = event.seq
        ledger.total += event.amount
        ledger.count += 1
        if ledger.total >= self.due and ledger.total - event.amount < self.due:
            return InvoiceSettled(event.tenant, self.key, ledger.total)
        return None

    async def handle(self, query: GetTotal) -> int:
        return self.state.total

    async def consume(self, command: Adjust) -> int:
        self.state.total += command.amount
        return self.state.total

    async def handle_async(self, command: SetReminder) -> None:
        if command.delay is None:
            self.forget_reminder(command.name)
        else:
            self.remind(command.name, delay=command.delay, every=command.every)

    async def on_activate(self) -> None:
        self.state.activations += 1

    async def on_deactivate(self) -> None:
        self.state.deactivations += 1

    async def on_reminder(self, reminder: Reminder) -> None:
        self.state.reminded.append(reminder.name)
        self.state.deferrals.append(reminder.deferrals)


class Counter(BaseModel):
    """A pydantic state."""

    model_config = ConfigDict(validate_assignment=True)

    hits: int = 0
    keys: list[str] = []


@dataclass(frozen=True)
class Hit:
    key: Annotated[str, PartitionKey()]
    pause: float = 0.0
    fail: bool = False


class CounterActor(Actor[Counter]):
    """Counts hits; ``running`` tracks handlers running at once, per key and in all."""

    running: dict[str, int] = {}  # noqa: RUF012 - shared on purpose
    most: dict[str, int] = {}  # noqa: RUF012

    async def handle(self, hit: Hit) -> int:
        running, most = type(self).running, type(self).most
        for name in (self.key, "*"):
            running[name] = running.get(name, 0) + 1
            most[name] = max(most.get(name, 0), running[name])
        try:
            self.state.hits += 1
            self.state.keys = [*self.state.keys, self.key]
            if hit.pause:
                await asyncio.sleep(hit.pause)
            if hit.fail:
                raise RuntimeError(f"hit on {self.key} failed")
            return self.state.hits
        finally:
            for name in (self.key, "*"):
                running[name] -= 1
