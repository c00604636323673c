"""The payment ledger actor of the Kafka actor tests (and its process: actor_process.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated

from momentum import Actor, PartitionKey, Reminder, event_topic, handler

DOMAIN = "KafkaTests"
CHECK_DELAY = 4.0
"""Seconds after an invoice's reminder payment (:func:`reminder_seq`) until ``check`` is due."""


def reminder_seq(invoice: str) -> int:
    """The payment of ``inv-NNN`` that sets its reminder: spread over the stream (5..44)."""
    return 5 + int(invoice.rsplit("-", 1)[1]) % 40


@event_topic("payments", domain=DOMAIN)
@dataclass(frozen=True)
class PaymentReceived:
    """A payment for an invoice (the actor key is the partition key)."""

    invoice: Annotated[str, PartitionKey()]
    seq: int
    amount: int


@dataclass
class Ledger:
    count: int = 0
    total: int = 0
    last_seq: int = 0
    out_of_order: int = 0
    reminder_set_by: int = 0
    reminder_fired_by: int = 0
    fired: int = 0


class PaymentLedger(Actor[Ledger]):
    """Sums an invoice's payments, in order; one of them sets a durable reminder."""

    log_fd: int | None = None
    pause: float = 0.0

    @handler
    async def on_payment(self, event: PaymentReceived) -> None:
        ledger = self.state
        if event.seq != ledger.last_seq + 1:
            ledger.out_of_order += 1
        ledger.last_seq = event.seq
        ledger.count += 1
        ledger.total += event.amount
        if event.seq == reminder_seq(event.invoice):
            self.remind("check", delay=CHECK_DELAY)
            ledger.reminder_set_by = os.getpid()
        if PaymentLedger.log_fd is not None:
            os.write(PaymentLedger.log_fd, f"{os.getpid()} {event.invoice} {event.seq}\n".encode())
        if PaymentLedger.pause:
            import asyncio

            await asyncio.sleep(PaymentLedger.pause)

    async def on_reminder(self, reminder: Reminder) -> None:
        self.state.fired += 1
        self.state.reminder_fired_by = os.getpid()


def amount(invoice: int, seq: int) -> int:
    """The amount of an invoice's ``seq``-th payment (sums differ from invoice to invoice)."""
    return (invoice * 31 + seq * 7) % 97 + 1


@dataclass
class Tally:
    count: int = 0
    deactivations: int = 0


class PaymentTally(Actor[Tally]):
    """Counts an invoice's payments; counts its deactivations (saved with the state)."""

    async def handle(self, event: PaymentReceived) -> None:
        self.state.count += 1

    async def on_deactivate(self) -> None:
        self.state.deactivations += 1
