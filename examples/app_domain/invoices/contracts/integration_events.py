"""Integration events of invoices, on the ``invoices`` topic; payments on ``payments``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from momentum import PartitionKey, event_topic


@dataclass(frozen=True)
class Invoice:
    """An invoice as other services see it.

    Attributes:
        invoice_id: Identifier of the invoice.
        cashier_id: Cashier who issued it.
        amount: Total to pay, in ``currency``.
        currency: ISO 4217 code, e.g. ``EUR``.
        due_at: When payment is due.
    """

    invoice_id: UUID
    cashier_id: UUID
    amount: Decimal
    currency: str
    due_at: datetime


@event_topic(Invoice)
@dataclass(frozen=True)
class InvoiceCreated:
    """Published when a cashier issues an invoice.

    Attributes:
        tenant_id: Tenant that owns the invoice.
        invoice: The invoice as issued.
    """

    tenant_id: Annotated[UUID, PartitionKey()]
    invoice: Invoice


@event_topic(Invoice)
@dataclass(frozen=True)
class InvoicePaid:
    """Published when an invoice is paid in full.

    Attributes:
        tenant_id: Tenant that owns the invoice.
        invoice_id: Identifier of the paid invoice.
        amount_paid: Amount received, in the invoice's currency.
        paid_at: When the payment was received.
    """

    tenant_id: Annotated[UUID, PartitionKey()]
    invoice_id: UUID
    amount_paid: Decimal
    paid_at: datetime


@event_topic(Invoice)
@dataclass(frozen=True)
class InvoiceCancelled:
    """Published when an unpaid invoice is cancelled.

    Attributes:
        tenant_id: Tenant that owns the invoice.
        invoice_id: Identifier of the cancelled invoice.
        reason: Why it was cancelled, as entered by the cashier.
    """

    tenant_id: Annotated[UUID, PartitionKey()]
    invoice_id: UUID
    reason: str


@event_topic("payments")
@dataclass(frozen=True)
class PaymentReceived:
    """Published for each payment received for an invoice (at the desk, or a bank transfer).

    The invoice's actor adds the payments up; once they cover the invoice it publishes
    ``InvoicePaid``. Keyed by tenant, so all payments of an invoice are on one partition.

    Attributes:
        tenant_id: Tenant that owns the invoice.
        invoice_id: The invoice paid.
        payment_id: Identifier of the payment.
        amount: Amount received, in the invoice's currency.
        received_at: When it was received.
    """

    tenant_id: Annotated[UUID, PartitionKey()]
    invoice_id: UUID
    payment_id: UUID
    amount: Decimal
    received_at: datetime
