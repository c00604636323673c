"""Storage of invoices (in memory here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from app_domain.invoices.contracts.integration_events import Invoice


@dataclass
class StoredInvoice:
    """An invoice with its status history.

    Attributes:
        tenant_id: Owner.
        invoice: The invoice.
        status: Current status.
        history: Every status it had, oldest first (kept by a domain-event handler).
    """

    tenant_id: UUID
    invoice: Invoice
    status: str = "open"
    history: list[str] = field(default_factory=list)


class InvoiceRepository:
    """Invoices by id."""

    def __init__(self) -> None:
        self.rows: dict[UUID, StoredInvoice] = {}

    async def add(self, tenant_id: UUID, invoice: Invoice) -> StoredInvoice:
        """Store a new invoice."""
        row = self.rows[invoice.invoice_id] = StoredInvoice(tenant_id, invoice)
        return row

    async def get(self, invoice_id: UUID) -> StoredInvoice | None:
        """The invoice, or ``None``."""
        return self.rows.get(invoice_id)
