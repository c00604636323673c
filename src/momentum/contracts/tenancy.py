"""Multi-tenant context: which tenant the current message belongs to."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from momentum.contracts.partitioning import uuid_text

_current_tenant: ContextVar[str | None] = ContextVar("momentum_tenant", default=None)


@dataclass(frozen=True, slots=True)
class TenantContext:
    """The tenant of the message being handled; inject it by annotating a parameter.

    Attributes:
        tenant_id: The tenant's id, or ``None`` for messages without a tenant.
    """

    tenant_id: str | None


@contextmanager
def tenant_scope(tenant_id: object) -> Iterator[None]:
    """Messages sent, published or invoked inside this block belong to ``tenant_id``."""
    token = _current_tenant.set(None if tenant_id is None else str(tenant_id))
    try:
        yield
    finally:
        _current_tenant.reset(token)


def current_tenant() -> str | None:
    """The tenant set by the innermost :func:`tenant_scope`, if any."""
    return _current_tenant.get()


def tenant_of(message: Any) -> str | None:
    """Tenant for a new message: the active scope, else the message's ``tenant_id`` field."""
    scoped = _current_tenant.get()
    if scoped is not None:
        return scoped
    value = getattr(message, "tenant_id", None)
    if value is None:
        return None
    return uuid_text(value) if type(value) is UUID else str(value)
