"""Cashier queries."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from app_domain.cashiers.contracts.integration_events import Cashier
from app_domain.cashiers.data import CashierRepository
from momentum import Query


@dataclass(frozen=True)
class GetCashier(Query[Cashier | None]):
    """Read one cashier.

    Attributes:
        tenant_id: Tenant the cashier works for.
        cashier_id: The cashier to read.
    """

    tenant_id: UUID
    cashier_id: UUID


async def handle(query: GetCashier, cashiers: CashierRepository) -> Cashier | None:
    """The cashier, or ``None`` when there is none."""
    return await cashiers.get(query.tenant_id, query.cashier_id)
