"""Reactions to app-domain's integration events."""

from __future__ import annotations

import logging
from uuid import UUID

from app_domain.cashiers.contracts.integration_events import CashierCreated, CashierDeleted
from app_domain.invoices.contracts.integration_events import InvoicePaid
from notifications.email import EmailService


class Directory:
    """Cashier emails known to this service (its own copy, fed by events)."""

    def __init__(self) -> None:
        self.emails: dict[UUID, str] = {}


async def handle(event: CashierCreated, email: EmailService, directory: Directory) -> None:
    """Welcome the new cashier (raises when the mail bounces)."""
    directory.emails[event.cashier.cashier_id] = event.cashier.email
    await email.send(event.cashier.email, f"Welcome, {event.cashier.name}!")


class CashierDeletedConsumer:
    """Forgets deleted cashiers."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory

    def consume(self, event: CashierDeleted) -> None:
        """Drop the cashier's email."""
        self.directory.emails.pop(event.cashier_id, None)


async def consume_async(
    event: InvoicePaid, email: EmailService, directory: Directory, log: logging.Logger
) -> None:
    """Send a payment receipt to the tenant's billing contact."""
    log.info("invoice %s paid: %s", event.invoice_id, event.amount_paid)
    await email.send("billing@tenant.example", f"Invoice {event.invoice_id} paid")
