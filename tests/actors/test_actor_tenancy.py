"""An actor's handler runs for its message's tenant, on the actor's activation (another task
than the caller's): ``TenantContext``, ``current_tenant()`` and what it publishes agree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel

from momentum import (
    Actor,
    Command,
    MessageBus,
    PartitionKey,
    Service,
    TenantContext,
    current_tenant,
    tenant_scope,
)


class Visits(BaseModel):
    """What the actor saw."""

    seen: list[str] = []


@dataclass(frozen=True)
class Visit(Command[str]):
    door: Annotated[str, PartitionKey()]


@dataclass(frozen=True)
class Visited:
    door: str


SEEN: list[str] = []


class DoorActor(Actor[Visits]):
    """Notes the tenant of each visit as injected and as the context variable says."""

    async def handle(self, visit: Visit, context: TenantContext, bus: MessageBus) -> str:
        seen = f"{context.tenant_id}/{current_tenant()}"
        SEEN.append(seen)
        await bus.publish(Visited(visit.door))
        return seen


async def test_an_actor_handler_sees_its_messages_tenant() -> None:
    service = Service("doors", "ActorTests", database_url="memory://")
    service.add_actor(DoorActor)
    published: list[str | None] = []

    async def visited(event: Visited, context: TenantContext) -> None:
        published.append(context.tenant_id)

    service.add_handler(visited)
    async with service, service.tracked():
        with tenant_scope("acme"):
            assert await service.bus.invoke(Visit("front")) == "acme/acme"
        assert await service.bus.invoke(Visit("back")) == "None/None"
    assert current_tenant() is None
    assert published == ["acme", None]


async def test_an_activation_made_for_one_tenant_does_not_keep_its_tenant_for_others() -> None:
    # the activation's task is created while the first caller's tenant_scope is active: its
    # context must not make the next tenants' messages (and what the actor publishes) acme's
    service = Service("doors", "ActorTests", database_url="memory://")
    service.add_actor(DoorActor)
    published: list[str | None] = []

    async def visited(event: Visited, context: TenantContext) -> None:
        published.append(context.tenant_id)

    service.add_handler(visited)
    async with service, service.tracked():
        with tenant_scope("acme"):
            assert await service.bus.invoke(Visit("front")) == "acme/acme"
        with tenant_scope("globex"):
            assert await service.bus.invoke(Visit("front")) == "globex/globex"
        assert await service.bus.invoke(Visit("front")) == "None/None"
    assert published == ["acme", "globex", None]


async def test_a_queued_message_of_an_actor_runs_for_its_tenant() -> None:
    service = Service("doors", "ActorTests", database_url="memory://")
    service.add_actor(DoorActor)
    SEEN.clear()
    async with service, service.tracked():
        with tenant_scope("acme"):
            await service.bus.send(Visit("side"))
        with tenant_scope("globex"):
            await service.bus.send(Visit("side"))
    assert SEEN == ["acme/acme", "globex/globex"]
