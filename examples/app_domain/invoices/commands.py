"""Invoice commands: create, pay, cancel."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

from app_domain.cashiers.data import CashierRepository
from app_domain.invoices.contracts.integration_events import (
    Invoice,
    InvoiceCancelled,
    InvoiceCreated,
    PaymentReceived,
)
from app_domain.invoices.data import InvoiceRepository
from app_domain.invoices.domain_events import InvoiceStatusChanged
from momentum import Command, Result, ValidationFailure


@dataclass(frozen=True)
class CreateInvoice(Command[Result[Invoice]]):
    """Issue an invoice.

    Attributes:
        tenant_id: Tenant.
        cashier_id: Issuing cashier; must exist.
        amount: Total, positive.
        currency: ISO 4217 code.
        due_in_days: Days until payment is due.
    """

    tenant_id: UUID
    cashier_id: UUID
    amount: Decimal
    currency: str = "EUR"
    due_in_days: int = 30


@dataclass(frozen=True)
class PayInvoice(Command[Result[Invoice]]):
    """Record a payment of an open invoice (the invoice's actor adds the payments up).

    Attributes:
        invoice_id: The invoice.
        amount: Amount received; positive, at most the invoice amount.
    """

    invoice_id: UUID
    amount: Decimal


@dataclass(frozen=True)
class CancelInvoice(Command[Result[Invoice]]):
    """Cancel an open invoice.

    Attributes:
        invoice_id: The invoice.
        reason: Why.
    """

    invoice_id: UUID
    reason: str


async def validate(command: CreateInvoice, cashiers: CashierRepository) -> list[ValidationFailure]:
    """Amount positive, currency a 3-letter code, cashier known."""
    failures = []
    if command.amount <= 0:
        failures.append(ValidationFailure("amount", "must be positive"))
    if len(command.currency) != 3 or not command.currency.isalpha():
        failures.append(ValidationFailure("currency", "must be a 3-letter ISO 4217 code"))
    if await cashiers.get(command.tenant_id, command.cashier_id) is None:
        failures.append(ValidationFailure("cashier_id", "no such cashier"))
    return failures


async def handle(
    command: CreateInvoice, invoices: InvoiceRepository
) -> tuple[Result[Invoice], InvoiceCreated, InvoiceStatusChanged]:
    """Store the invoice; publish the integration event and the domain event."""
    invoice = Invoice(
        uuid.uuid4(),
        command.cashier_id,
        command.amount,
        command.currency.upper(),
        datetime.now(UTC) + timedelta(days=command.due_in_days),
    )
    await invoices.add(command.tenant_id, invoice)
    return (
        Result.ok(invoice),
        InvoiceCreated(command.tenant_id, invoice),
        InvoiceStatusChanged(invoice.invoice_id, "open"),
    )


class InvoicePaymentHandler:
    """Records payments: ``PaymentReceived``, which the invoice's actor adds up."""

    def __init__(self, invoices: InvoiceRepository) -> None:
        self.invoices = invoices

    async def handle(self, command: PayInvoice) -> tuple[Result[Invoice], PaymentReceived | None]:
        """Publish the payment of an unpaid invoice (``InvoicePaid`` comes from its actor)."""
        row = await self.invoices.get(command.invoice_id)
        if row is None or row.status not in ("open", "overdue"):
            return Result.fail(ValidationFailure("invoice_id", "no open invoice")), None
        if not 0 < command.amount <= row.invoice.amount:
            failure = ValidationFailure("amount", f"must be positive, at most {row.invoice.amount}")
            return Result.fail(failure), None
        payment = PaymentReceived(
            row.tenant_id, row.invoice.invoice_id, uuid.uuid4(), command.amount, datetime.now(UTC)
        )
        return Result.ok(row.invoice), payment


class InvoiceCancellationHandler:
    """Cancels invoices."""

    def __init__(self, invoices: InvoiceRepository) -> None:
        self.invoices = invoices

    async def handle(
        self, command: CancelInvoice
    ) -> tuple[Result[Invoice], InvoiceCancelled | None, InvoiceStatusChanged | None]:
        """Cancel the invoice when it is open."""
        row = await self.invoices.get(command.invoice_id)
        if row is None or row.status != "open":
            return Result.fail(ValidationFailure("invoice_id", "no open invoice")), None, None
        row.status = "cancelled"
        cancelled = InvoiceCancelled(row.tenant_id, row.invoice.invoice_id, command.reason)
        changed = InvoiceStatusChanged(row.invoice.invoice_id, "cancelled")
        return Result.ok(row.invoice), cancelled, changed
