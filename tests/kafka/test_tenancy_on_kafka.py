"""Tenants on the shared broker: a tenant flows from an invoked command through two cascades and
across Kafka into another service; a service of some tenants skips (and commits) the others'
records; tenant isolation stops a cross-tenant publish of a handler."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pytest
from kafka_support import committed_offsets, read_records, wait_for

from momentum import (
    Command,
    ErrorRule,
    PartitionKey,
    Service,
    TenantContext,
    TenantIsolationError,
    current_tenant,
    event_topic,
    tenant_scope,
    topic_name,
)
from momentum.kafka import KafkaConfig, KafkaTransport
from momentum.sqlite import SqliteStore
from momentum.testing import tracked

pytestmark = pytest.mark.kafka

DOMAIN = "KafkaTests"


@dataclass(frozen=True)
class PlaceOrder(Command[str]):
    order_id: str
    tenant_id: str | None = None  # or given by a tenant_scope


@dataclass(frozen=True)
class OrderAccepted:
    """A domain event without a tenant field: its tenant is the envelope's."""

    order_id: str


@event_topic("tenant-orders", domain=DOMAIN)
@dataclass(frozen=True)
class OrderPlaced:
    order_id: Annotated[str, PartitionKey()]


@event_topic("tenant-invoices", domain=DOMAIN)
@dataclass(frozen=True)
class InvoiceIssued:
    order_id: Annotated[str, PartitionKey()]
    tenant_id: str


@dataclass(frozen=True)
class InvoiceDrafted:
    order_id: str


def orders_service(config: KafkaConfig, environment: str) -> Service:
    orders = Service("orders", DOMAIN, transport=KafkaTransport(config), environment=environment)

    async def place(command: PlaceOrder) -> tuple[str, OrderAccepted]:
        return command.order_id, OrderAccepted(command.order_id)  # cascade 1 (local)

    async def accepted(event: OrderAccepted) -> OrderPlaced:
        return OrderPlaced(event.order_id)  # cascade 2 (to Kafka)

    orders.add_handler(place)
    orders.add_handler(accepted)
    return orders


async def test_a_tenant_flows_from_a_command_through_two_cascades_and_kafka_into_billing(
    make_config: Callable[..., KafkaConfig], environment: str, kafka_bootstrap: str
) -> None:
    orders = orders_service(make_config(), environment)
    billing = Service(
        "billing", DOMAIN, transport=KafkaTransport(make_config()), environment=environment
    )
    seen: dict[str, list[tuple[str, str | None, str | None]]] = {}

    async def placed(event: OrderPlaced, context: TenantContext) -> InvoiceDrafted:
        seen.setdefault(event.order_id, []).append(("placed", context.tenant_id, current_tenant()))
        return InvoiceDrafted(event.order_id)  # and on, inside billing

    async def drafted(event: InvoiceDrafted, context: TenantContext) -> None:
        seen[event.order_id].append(("drafted", context.tenant_id, current_tenant()))

    billing.add_handler(placed)
    billing.add_handler(drafted)
    async with orders, billing, tracked(orders, billing, timeout=60) as session:
        with tenant_scope("acme"):
            assert await orders.bus.invoke(PlaceOrder("o-1")) == "o-1"
        assert await orders.bus.invoke(PlaceOrder("o-2", tenant_id="globex")) == "o-2"
    assert seen == {
        "o-1": [("placed", "acme", "acme"), ("drafted", "acme", "acme")],
        "o-2": [("placed", "globex", "globex"), ("drafted", "globex", "globex")],
    }
    received = {
        a.message.order_id: a.envelope.tenant_id
        for a in session.received
        if isinstance(a.message, OrderPlaced) and a.envelope is not None
    }
    assert received == {"o-1": "acme", "o-2": "globex"}
    records = await asyncio.to_thread(
        read_records, kafka_bootstrap, topic_name(OrderPlaced, environment), 2
    )
    assert sorted(dict(r.headers())["ce_tenantid"] for r in records) == [b"acme", b"globex"]


async def test_a_service_of_some_tenants_commits_the_others_records_unhandled(
    make_config: Callable[..., KafkaConfig],
    environment: str,
    kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    orders = Service(
        "orders", DOMAIN, transport=KafkaTransport(make_config()), environment=environment
    )
    store = SqliteStore(f"sqlite:///{tmp_path / 'acme.db'}")
    acme = Service(
        "acme-billing",
        DOMAIN,
        transport=KafkaTransport(make_config()),
        store=store,
        environment=environment,
        tenants=["acme", "initech"],
    )
    handled: list[tuple[str, str | None]] = []

    async def placed(event: OrderPlaced, context: TenantContext) -> None:
        handled.append((event.order_id, context.tenant_id))

    acme.add_handler(placed)
    plan = [("acme", 4), ("globex", 3), (None, 2), ("initech", 1)]
    async with orders, acme:
        async with tracked(orders, acme, timeout=60):
            for tenant, count in plan:
                for n in range(count):
                    await orders.bus.publish(OrderPlaced(f"{tenant}-{n}"), tenant=tenant)
        topic = topic_name(OrderPlaced, environment)
        await wait_for(  # every record committed, the skipped ones too
            lambda: (
                sum(max(o, 0) for o in committed_offsets(kafka_bootstrap, acme.group_id, topic))
                == 10
            ),
            "the acme service's group to commit all 10 records",
        )
        report = await acme.health()
        letters = await store.dead_letters()
    assert sorted(handled) == [(f"acme-{n}", "acme") for n in range(4)] + [("initech-0", "initech")]
    assert report.tenant_skipped == 5 and letters == []


async def test_tenant_isolation_dead_letters_a_handler_publishing_for_another_tenant(
    make_config: Callable[..., KafkaConfig], environment: str, kafka_bootstrap: str
) -> None:
    orders = orders_service(make_config(), environment)
    billing = Service(
        "billing",
        DOMAIN,
        transport=KafkaTransport(make_config()),
        environment=environment,
        tenant_isolation=True,
    )
    billing.on_error(ErrorRule.on(TenantIsolationError).dead_letter())
    issued: list[tuple[str, str]] = []

    async def placed(event: OrderPlaced, context: TenantContext) -> InvoiceIssued:
        # a bug: the invoice names a hard-coded tenant instead of the order's
        tenant = "acme" if event.order_id == "o-own" else "globex"
        return InvoiceIssued(event.order_id, tenant)

    async def on_invoice(event: InvoiceIssued, context: TenantContext) -> None:
        issued.append((event.order_id, context.tenant_id or "-"))

    billing.add_handler(placed)
    billing.add_handler(on_invoice)
    async with orders, billing, tracked(orders, billing, timeout=60) as session:
        with tenant_scope("acme"):
            await orders.bus.invoke(PlaceOrder("o-own"))
            await orders.bus.invoke(PlaceOrder("o-other"))
    assert issued == [("o-own", "acme")]  # the invoice for globex never reached Kafka
    (letter,) = session.dead_lettered
    assert isinstance(letter.exception, TenantIsolationError)
    assert (letter.exception.handling, letter.exception.target) == ("acme", "globex")
    assert letter.envelope is not None and letter.envelope.tenant_id == "acme"
    assert letter.message.order_id == "o-other"
