"""Domain events of invoices: handled inside the app-domain service, never on Kafka."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from momentum import PartitionKey


@dataclass(frozen=True)
class InvoiceStatusChanged:
    """An invoice moved to a new status (local queues keep one invoice's changes in order).

    Attributes:
        invoice_id: The invoice (the partition key of the local queue).
        status: ``open``, ``paid``, ``overdue`` (its actor's reminder) or ``cancelled``.
    """

    invoice_id: Annotated[UUID, PartitionKey()]
    status: str
