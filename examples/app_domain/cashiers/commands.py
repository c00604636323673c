"""Cashier commands, their validators and handlers."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from uuid import UUID

from app_domain.cashiers.contracts.integration_events import (
    Cashier,
    CashierCreated,
    CashierDeleted,
    CashierUpdated,
)
from app_domain.cashiers.data import CashierRepository
from momentum import Command, Result, ValidationFailure

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", re.IGNORECASE)


@dataclass(frozen=True)
class CreateCashier(Command[Result[Cashier]]):
    """Create a cashier for a tenant.

    Attributes:
        tenant_id: Tenant the cashier works for.
        name: Display name.
        email: Address for notifications; unique per tenant.
    """

    tenant_id: UUID
    name: str
    email: str


@dataclass(frozen=True)
class UpdateCashier(Command[Result[Cashier]]):
    """Change a cashier's name and email.

    Attributes:
        tenant_id: Tenant the cashier works for.
        cashier_id: The cashier to change.
        name: New display name.
        email: New address.
    """

    tenant_id: UUID
    cashier_id: UUID
    name: str
    email: str


@dataclass(frozen=True)
class DeleteCashier(Command[Result[bool]]):
    """Delete a cashier.

    Attributes:
        tenant_id: Tenant the cashier works for.
        cashier_id: The cashier to delete.
    """

    tenant_id: UUID
    cashier_id: UUID


def _name_and_email(name: str, email: str) -> list[ValidationFailure]:
    failures = []
    if not name.strip():
        failures.append(ValidationFailure("name", "must not be empty"))
    if len(name) > 100:
        failures.append(ValidationFailure("name", "must be at most 100 characters"))
    if not EMAIL.fullmatch(email):
        failures.append(ValidationFailure("email", f"{email!r} is not an email address"))
    return failures


async def validate(command: CreateCashier, cashiers: CashierRepository) -> list[ValidationFailure]:
    """Name present, email well-formed and not used by another cashier of the tenant."""
    failures = _name_and_email(command.name, command.email)
    if not failures and await cashiers.email_taken(command.tenant_id, command.email):
        failures.append(ValidationFailure("email", "is already used by another cashier"))
    return failures


class UpdateCashierValidator:
    """Validates :class:`UpdateCashier` (a validator class, found by its name)."""

    def validate(self, command: UpdateCashier) -> list[ValidationFailure]:
        """Name present and email well-formed."""
        return _name_and_email(command.name, command.email)


async def handle(
    command: CreateCashier, cashiers: CashierRepository
) -> tuple[Result[Cashier], CashierCreated]:
    """Store the cashier; ``CashierCreated`` is published once this returns."""
    cashier = Cashier(uuid.uuid4(), command.name.strip(), command.email)
    await cashiers.add(command.tenant_id, cashier)
    return Result.ok(cashier), CashierCreated(command.tenant_id, cashier)


class CashierCommandHandler:
    """Handlers of the other cashier commands, sharing the repository."""

    def __init__(self, cashiers: CashierRepository) -> None:
        self.cashiers = cashiers

    async def handle(self, command: UpdateCashier) -> tuple[Result[Cashier], CashierUpdated | None]:
        """Change the cashier, or fail when it does not exist."""
        if await self.cashiers.get(command.tenant_id, command.cashier_id) is None:
            return Result.fail(ValidationFailure("cashier_id", "no such cashier")), None
        cashier = Cashier(command.cashier_id, command.name.strip(), command.email)
        await self.cashiers.add(command.tenant_id, cashier)
        return Result.ok(cashier), CashierUpdated(command.tenant_id, cashier)


class CashierDeletionHandler:
    """Deletes cashiers."""

    def __init__(self, cashiers: CashierRepository) -> None:
        self.cashiers = cashiers

    async def handle(self, command: DeleteCashier) -> tuple[Result[bool], CashierDeleted | None]:
        """Delete the cashier; deleting a missing one succeeds with ``False``."""
        if not await self.cashiers.remove(command.tenant_id, command.cashier_id):
            return Result.ok(False), None
        return Result.ok(True), CashierDeleted(command.tenant_id, command.cashier_id)
