"""Actor declarations that cannot work fail at start-up, naming the class and the fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import pytest
from actor_fixtures import Adjust, Ledger, LedgerActor, PaymentReceived

from momentum import Actor, ConfigurationError, HandlerConfigurationError, PartitionKey, Service
from momentum.runtime.store import StoreTransaction


@dataclass(frozen=True)
class Unkeyed:
    invoice: str


@dataclass
class Needy:
    amount: int  # no default


async def start(*actors: type, **settings: Any) -> Service:
    service = Service("config", "ActorTests", database_url="memory://", **settings)
    for actor in actors:
        service.add_actor(actor)
    await service.start()
    return service


async def test_an_actor_names_its_state_type() -> None:
    class Stateless(Actor):  # type: ignore[type-arg]
        async def handle(self, event: PaymentReceived) -> None: ...

    with pytest.raises(HandlerConfigurationError, match=r"Actor\[State\]"):
        await start(Stateless)


async def test_the_key_field_must_be_a_field_of_the_message() -> None:
    class Misnamed(Actor[Ledger]):
        key_field = "invoice_id"

        async def handle(self, event: PaymentReceived) -> None: ...

    with pytest.raises(HandlerConfigurationError, match="key_field 'invoice_id'"):
        await start(Misnamed)


async def test_a_message_without_a_partition_key_needs_a_key_field() -> None:
    class Keyless(Actor[Ledger]):
        async def handle(self, event: Unkeyed) -> None: ...

    with pytest.raises(HandlerConfigurationError, match="no partition key"):
        await start(Keyless)

    class Keyed(Actor[Ledger]):
        key_field = "invoice"

        async def handle(self, event: Unkeyed) -> None:
            self.state.count += 1

    service = await start(Keyed)
    try:
        async with service.tracked():
            await service.bus.publish(Unkeyed("inv-1"))
        assert (await service.actors.get(Keyed, "inv-1").state()).count == 1
    finally:
        await service.stop()


async def test_an_actor_handler_cannot_take_the_store_transaction() -> None:
    class Transactional(Actor[Ledger]):
        key_field = "invoice"

        async def handle(self, event: PaymentReceived, tx: StoreTransaction) -> None: ...

    with pytest.raises(HandlerConfigurationError, match="cannot take a StoreTransaction"):
        await start(Transactional)


async def test_two_actor_classes_cannot_share_a_type_name() -> None:
    class First(Actor[Ledger]):
        actor_type = "Shared"

    class Second(Actor[Ledger]):
        actor_type = "Shared"

    with pytest.raises(HandlerConfigurationError, match="both stored as actor type 'Shared'"):
        await start(First, Second)


async def test_a_command_has_one_handler_also_among_actors() -> None:
    class Rival(Actor[Ledger]):
        key_field = "invoice"

        async def handle(self, command: Adjust) -> int:
            return 0

    with pytest.raises(HandlerConfigurationError, match="exactly one handler"):
        await start(LedgerActor, Rival)


@dataclass(frozen=True)
class Charge:
    invoice: Annotated[str, PartitionKey()]


async def test_a_state_without_defaults_needs_initial_state() -> None:
    class Strict(Actor[Needy]):
        async def handle(self, event: Charge) -> None: ...

    class Defaulted(Actor[Needy]):
        async def handle(self, event: Charge) -> None:
            self.state.amount += 1

        def initial_state(self) -> Needy:
            return Needy(amount=100)

    service = await start(Strict, Defaulted)
    try:
        with pytest.raises(ConfigurationError, match="override initial_state"):
            await service.actors.get(Strict, "a").state()
        assert (await service.actors.get(Defaulted, "a").state()).amount == 100
    finally:
        await service.stop()


async def test_service_actors_refuses_other_classes_and_services_without_actors() -> None:
    service = await start(LedgerActor)
    try:
        with pytest.raises(ConfigurationError, match="not an actor of this service"):
            service.actors.get(Actor, "k")
        assert service.actors.get(LedgerActor, 7).key == "7"
    finally:
        await service.stop()
    plain = Service("plain", "ActorTests", database_url="memory://")
    async with plain:
        with pytest.raises(ConfigurationError, match="runs no actors"):
            _ = plain.actors


def test_describe_names_actor_handlers() -> None:
    service = Service("config", "ActorTests", database_url="memory://")
    service.add_actor(LedgerActor)
    reasons = {
        c.name.rsplit(".", 2)[-2] + "." + c.name.rsplit(".", 1)[-1]: c.reason
        for c in service.describe()
    }
    assert reasons["LedgerActor.on_payment"] == (
        "handler of PaymentReceived: marked with @handler in actor LedgerActor"
    )
    assert (
        reasons["LedgerActor.handle"] == "handler of GetTotal: named 'handle' in actor LedgerActor"
    )
    assert "LedgerActor.on_activate" not in reasons
