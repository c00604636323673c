"""Multi-tenant context: which tenant the current message belongs to.

The tenant of a new message (published, sent, scheduled or invoked) is, first match wins:

1. the tenant given explicitly: ``bus.publish(event, tenant="acme")`` (also ``send`` and
   ``schedule``), or an active :func:`tenant_scope`;
2. the message's own tenant field: the field marked ``Annotated[T, TenantKey()]``, else a
   field (or attribute) named ``tenant_id`` (usually the partition key too);
3. the tenant of the message being handled (a handler's cascades, publishes, sends and
   schedules carry it on);
4. none.

The tenant travels as the CloudEvents extension attribute ``tenantid`` (Kafka header
``ce_tenantid``), through outbox rows, local queues, scheduled rows and dead letters. While
a handler runs, :func:`current_tenant` returns its message's tenant (the context variable a
handler's own code can read, besides injecting :class:`TenantContext`).

A message type marked cross-tenant (:func:`cross_tenant`, or ``__cross_tenant__ = True`` on
the class) may be published for another tenant by a handler of a service with tenant
isolation on (``Service(..., tenant_isolation=True)``); any other such publish raises
:class:`~momentum.contracts.errors.TenantIsolationError`.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Annotated, Any, Final, TypeVar, get_args, get_origin
from uuid import UUID

from momentum.contracts.errors import ContractError
from momentum.contracts.partitioning import uuid_text

T = TypeVar("T", bound=type)

DEFAULT_TENANT_FIELD: Final = "tenant_id"
"""The field read as a message's tenant when no field is marked :class:`TenantKey`."""

_scoped_tenant: ContextVar[str | None] = ContextVar("momentum_tenant", default=None)
"""The tenant set explicitly by :func:`tenant_scope`."""

handling_tenant: ContextVar[str | None] = ContextVar("momentum_handling_tenant", default=None)
"""The tenant of the message the running handler handles (set by the runtime)."""

_FIELDS: dict[type, str | None] = {}


@dataclass(frozen=True, slots=True)
class TenantContext:
    """The tenant of the message being handled; inject it by annotating a parameter.

    Attributes:
        tenant_id: The tenant's id, or ``None`` for messages without a tenant.
    """

    tenant_id: str | None


@dataclass(frozen=True, slots=True)
class TenantKey:
    """Marks the field holding a message's tenant: ``Annotated[UUID, TenantKey()]``.

    Without a marked field, a field named ``tenant_id`` is the tenant. At most one field of
    a class may be marked.
    """


def cross_tenant(cls: T) -> T:
    """Class decorator: messages of ``cls`` may be published for another tenant.

    With tenant isolation on, a handler running for tenant A that publishes (sends,
    schedules, invokes) a message for tenant B raises ``TenantIsolationError``, unless the
    message's class is marked so. Equivalent to ``__cross_tenant__ = True`` in the class
    body (subclasses inherit it).
    """
    cls.__cross_tenant__ = True  # type: ignore[attr-defined]
    return cls


def is_cross_tenant(cls: type) -> bool:
    """Whether messages of ``cls`` may cross tenants (see :func:`cross_tenant`)."""
    return getattr(cls, "__cross_tenant__", False) is True


@contextmanager
def tenant_scope(tenant_id: object) -> Iterator[None]:
    """Messages sent, published or invoked inside this block belong to ``tenant_id``.

    It wins over the messages' own tenant fields; ``tenant_scope(None)`` lifts an outer
    scope.
    """
    token = _scoped_tenant.set(None if tenant_id is None else _text(tenant_id))
    try:
        yield
    finally:
        _scoped_tenant.reset(token)


def current_tenant() -> str | None:
    """The tenant in force here: the innermost :func:`tenant_scope`, else the handled one.

    Inside a handler (and what it calls) that is its message's tenant; outside, ``None``
    unless a scope is active.
    """
    return _scoped_tenant.get() or handling_tenant.get()


HandlingTokens = tuple["Token[str | None] | None", "Token[str | None] | None"]
"""What :func:`enter_handling` changed, for :func:`leave_handling`."""


def enter_handling(tenant: str | None) -> HandlingTokens | None:
    """A handler starts for a message of ``tenant``: make it the handled tenant.

    Handlers of queued and received messages run on worker tasks (a queue lane, a partition
    worker, an actor's activation): a :func:`tenant_scope` such a task inherited from whoever
    created it does not apply. Returns ``None`` when nothing had to change (the common
    case: two reads).
    """
    scoped = _scoped_tenant.get()
    handled = handling_tenant.get()
    if scoped is None and handled == tenant:
        return None
    return (
        _scoped_tenant.set(None) if scoped is not None else None,
        handling_tenant.set(tenant) if handled != tenant else None,
    )


def leave_handling(tokens: HandlingTokens | None) -> None:
    """Undo :func:`enter_handling`."""
    if tokens is None:
        return
    scoped, handled = tokens
    if handled is not None:
        handling_tenant.reset(handled)
    if scoped is not None:
        _scoped_tenant.reset(scoped)


def scoped_tenant() -> str | None:
    """The tenant of the innermost :func:`tenant_scope` only (``None`` outside of one)."""
    return _scoped_tenant.get()


def _text(value: object) -> str:
    return uuid_text(value) if type(value) is UUID else str(value)


def tenant_field(cls: type) -> str | None:
    """The attribute holding the tenant of ``cls``'s messages (cached per class).

    The field marked :class:`TenantKey`, else ``tenant_id``: returned even when the class
    has no such attribute (reading it then gives ``None``).

    Raises:
        ContractError: Two fields are marked ``TenantKey``.
    """
    try:
        return _FIELDS[cls]
    except KeyError:
        pass
    found = _FIELDS[cls] = _marked_field(cls)
    return found


def _marked_field(cls: type) -> str:
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception:  # unresolvable annotations: no marker can be read
        return DEFAULT_TENANT_FIELD
    marked = [
        name
        for name, hint in hints.items()
        if get_origin(hint) is Annotated
        and any(isinstance(item, TenantKey) or item is TenantKey for item in get_args(hint)[1:])
    ]
    if len(marked) > 1:
        raise ContractError(
            f"{cls.__module__}.{cls.__qualname__} marks {len(marked)} fields TenantKey() "
            f"({', '.join(sorted(marked))}); a message has one tenant: mark one field."
        )
    return marked[0] if marked else DEFAULT_TENANT_FIELD


def message_tenant(message: Any) -> str | None:
    """The tenant ``message`` names itself: its :func:`tenant_field`, as text (UUIDs canonical)."""
    cls = type(message)
    name = _FIELDS.get(cls) or tenant_field(cls)
    value = getattr(message, name, None)  # type: ignore[arg-type]
    if value is None:
        return None
    return uuid_text(value) if type(value) is UUID else str(value)


def own_tenant(message: Any) -> str | None:
    """The tenant given for ``message`` itself: the active scope, else its tenant field."""
    scoped = _scoped_tenant.get()
    if scoped is not None:
        return scoped
    return message_tenant(message)


def tenant_of(message: Any) -> str | None:
    """Tenant for a new message: the scope, else its tenant field, else the handled one."""
    scoped = _scoped_tenant.get()
    if scoped is not None:
        return scoped
    found = message_tenant(message)
    return found if found is not None else handling_tenant.get()
