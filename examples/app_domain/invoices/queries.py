"""Invoice queries and the domain-event handler that keeps status history."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from app_domain.invoices.data import InvoiceRepository, StoredInvoice
from app_domain.invoices.domain_events import InvoiceStatusChanged
from momentum import Query


@dataclass(frozen=True)
class GetInvoice(Query[StoredInvoice | None]):
    """Read one invoice with its status history.

    Attributes:
        invoice_id: The invoice.
    """

    invoice_id: UUID


async def handle(query: GetInvoice, invoices: InvoiceRepository) -> StoredInvoice | None:
    """The invoice, or ``None``."""
    return await invoices.get(query.invoice_id)


async def consume(event: InvoiceStatusChanged, invoices: InvoiceRepository) -> None:
    """Take the new status and append it to the invoice's history."""
    row = await invoices.get(event.invoice_id)
    if row is not None:
        row.status = event.status
        row.history.append(event.status)
