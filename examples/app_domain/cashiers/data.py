"""Storage of cashiers (in memory here; a real service would use its database)."""

from __future__ import annotations

from uuid import UUID

from app_domain.cashiers.contracts.integration_events import Cashier


class CashierRepository:
    """Cashiers per tenant."""

    def __init__(self) -> None:
        self._rows: dict[tuple[UUID, UUID], Cashier] = {}

    async def add(self, tenant_id: UUID, cashier: Cashier) -> None:
        """Store a new or changed cashier."""
        self._rows[(tenant_id, cashier.cashier_id)] = cashier

    async def get(self, tenant_id: UUID, cashier_id: UUID) -> Cashier | None:
        """The cashier, or ``None``."""
        return self._rows.get((tenant_id, cashier_id))

    async def remove(self, tenant_id: UUID, cashier_id: UUID) -> bool:
        """Delete a cashier; ``False`` when there was none."""
        return self._rows.pop((tenant_id, cashier_id), None) is not None

    async def email_taken(self, tenant_id: UUID, email: str) -> bool:
        """Whether another cashier of the tenant uses ``email``."""
        return any(t == tenant_id and c.email == email for (t, _), c in self._rows.items())
