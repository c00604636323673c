"""Integration events of cashiers, published on the ``cashiers`` topic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from momentum import PartitionKey, event_topic


@dataclass(frozen=True)
class Cashier:
    """A cashier as other services see it.

    Attributes:
        cashier_id: Identifier of the cashier.
        name: Display name.
        email: Address for notifications.
    """

    cashier_id: UUID
    name: str
    email: str


@event_topic(Cashier)
@dataclass(frozen=True)
class CashierCreated:
    """Published when a cashier is created.

    Attributes:
        tenant_id: Tenant that owns the cashier.
        cashier: The cashier as created.
    """

    tenant_id: Annotated[UUID, PartitionKey()]
    cashier: Cashier


@event_topic(Cashier)
@dataclass(frozen=True)
class CashierUpdated:
    """Published when a cashier's name or email changes.

    Attributes:
        tenant_id: Tenant that owns the cashier.
        cashier: The cashier after the change.
    """

    tenant_id: Annotated[UUID, PartitionKey()]
    cashier: Cashier


@event_topic(Cashier)
@dataclass(frozen=True)
class CashierDeleted:
    """Published when a cashier is deleted; their invoices are kept.

    Attributes:
        tenant_id: Tenant that owned the cashier.
        cashier_id: Identifier of the deleted cashier.
    """

    tenant_id: Annotated[UUID, PartitionKey()]
    cashier_id: UUID
