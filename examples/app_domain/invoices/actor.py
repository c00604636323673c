"""The invoice actor: adds up an invoice's payments and publishes ``InvoicePaid``.

One actor per invoice (keyed by ``invoice_id``): on Kafka, the member that owns the
partition of the invoice's tenant is its only activation; its state is saved in the message
store with every payment, in the transaction of the payment's inbox row and of the events it
publishes, so a payment is counted exactly once even when a process dies mid-stream.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from uuid import UUID

from app_domain.invoices.contracts.integration_events import InvoicePaid, PaymentReceived
from app_domain.invoices.data import InvoiceRepository
from app_domain.invoices.domain_events import InvoiceStatusChanged
from momentum import Actor, Query, Reminder, handler

logger = logging.getLogger(__name__)

BALANCE_REMINDER = timedelta(days=7)
"""How long after a partial payment the actor checks whether the rest came."""


@dataclass
class InvoiceAccount:
    """An invoice's payments (the actor's state).

    Attributes:
        paid: Sum of the payments received.
        payments: Identifiers of the payments, in the order received.
        status: ``open``, ``paid`` or ``overdue``.
    """

    paid: Decimal = Decimal(0)
    payments: list[UUID] = field(default_factory=list)
    status: str = "open"


@dataclass(frozen=True)
class GetInvoiceAccount(Query[InvoiceAccount]):
    """The payments of an invoice so far (answered by its actor).

    Attributes:
        invoice_id: The invoice.
    """

    invoice_id: UUID


class InvoiceActor(Actor[InvoiceAccount]):
    """Adds up an invoice's payments; publishes ``InvoicePaid`` once they cover it."""

    key_field = "invoice_id"

    def __init__(self, invoices: InvoiceRepository) -> None:
        self.invoices = invoices

    @handler
    async def received(
        self, payment: PaymentReceived
    ) -> tuple[InvoicePaid | None, InvoiceStatusChanged | None]:
        """Count the payment; the one that completes the amount pays the invoice."""
        row = await self.invoices.get(payment.invoice_id)
        if row is None:
            raise LookupError(f"payment {payment.payment_id} for unknown invoice")
        account = self.state
        account.paid += payment.amount
        account.payments.append(payment.payment_id)
        if account.status == "paid":
            return None, None  # paid twice: kept on the account
        if account.paid < row.invoice.amount:
            self.remind("balance-due", delay=BALANCE_REMINDER)  # replaces the pending one
            return None, None
        account.status = "paid"
        self.forget_reminder("balance-due")
        paid = InvoicePaid(payment.tenant_id, payment.invoice_id, account.paid, payment.received_at)
        return paid, InvoiceStatusChanged(payment.invoice_id, "paid")

    async def handle(self, query: GetInvoiceAccount) -> InvoiceAccount:
        """The account as it is now."""
        return InvoiceAccount(self.state.paid, list(self.state.payments), self.state.status)

    async def on_reminder(self, reminder: Reminder) -> InvoiceStatusChanged | None:
        """A week after a partial payment the rest has not come: the invoice is overdue."""
        row = await self.invoices.get(UUID(self.key))
        if self.state.status != "open" or row is None or row.status != "open":
            return None  # paid meanwhile, or cancelled
        logger.info(
            "invoice %s: %s of it paid a week ago, the rest is overdue", self.key, self.state.paid
        )
        self.state.status = "overdue"
        return InvoiceStatusChanged(UUID(self.key), "overdue")
