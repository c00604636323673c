"""Stateful actors on a real store (SQLite file, PostgreSQL schema) and without one.

State is saved after each message with its inbox and outbox rows, loaded by the next
activation, restored when a handler fails; one message at a time per key; a stale writer
is refused and nothing of its stale handling escapes; lifecycle hooks, idle deactivation,
bounded activations, durable reminders.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from actor_fixtures import (
    Adjust,
    CounterActor,
    GetTotal,
    Hit,
    InvoiceSettled,
    Ledger,
    LedgerActor,
    PaymentReceived,
    SetReminder,
)

from momentum import ActorConflictError, Envelope, Service, topic_name
from momentum.runtime.ports import Destination
from momentum.runtime.records import RecordReader, encode_outgoing
from momentum.runtime.store import MessageStore
from momentum.testing import InMemoryBroker, InMemoryTransport, tracked

MakeStore = Callable[[str], MessageStore]
DOMAIN = "ActorTests"


def ledger_service(store: MessageStore | None, **options: Any) -> Service:
    settings: dict[str, Any] = {"store": store} if store is not None else {}
    if store is None:
        settings["database_url"] = "memory://"
    service = Service("ledger", DOMAIN, **settings, **options)
    service.add_actor(LedgerActor)
    return service


async def stored(store: MessageStore, key: str) -> tuple[int, Ledger, dict[str, str]]:
    row = (await store.load_actor_states(LedgerActor.actor_type, [key]))[key]
    return row.version, Ledger(**json.loads(row.state)), dict(row.reminders)


async def until(condition: Callable[[], Any], within: float = 20.0) -> None:
    """Wait until ``condition()`` (a function or a coroutine function) holds."""

    async def holds() -> bool:
        found = condition()
        return bool(await found if asyncio.iscoroutine(found) else found)

    async with asyncio.timeout(within):
        while not await holds():  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # the state of other tasks: nothing to wait on


def settled_records(*brokers: InMemoryBroker) -> list[InvoiceSettled]:
    reader = RecordReader([InvoiceSettled])
    return [
        reader.read(record).message
        for broker in brokers
        for record in broker.records
        if dict(record.headers).get("ce_type", b"").endswith(b"InvoiceSettled")
    ]


async def test_state_is_saved_with_each_message_and_loaded_by_the_next_activation(
    make_store: MakeStore,
) -> None:
    store = make_store("ledger")
    service = ledger_service(store)
    async with service:
        async with service.tracked() as log:
            for seq in range(1, 6):
                await service.bus.publish(PaymentReceived("t", "inv-1", seq, 10))
        assert len(log.messages("handled", PaymentReceived)) == 5
        version, ledger, _ = await stored(store, "inv-1")
        assert (ledger.total, ledger.count, ledger.out_of_order) == (50, 5, [])
        assert version >= 2  # created by on_activate's save, then saved with the messages
        handled = [(a.envelope.message_id_text, a.handler or "") for a in log.handled]
        assert len(await store.inbox_recorded(handled)) == 5
    again = ledger_service(make_store("ledger"))
    async with again:
        ledger = await again.actors.get(LedgerActor, "inv-1").state()
        assert (ledger.total, ledger.count) == (50, 5)
        assert (ledger.activations, ledger.deactivations) == (2, 1)  # loaded, not started over
        assert await again.bus.invoke(GetTotal("inv-1")) == 50


async def test_one_message_at_a_time_per_key_while_keys_run_in_parallel(
    make_store: MakeStore,
) -> None:
    CounterActor.running.clear()
    CounterActor.most.clear()
    service = Service("counter", DOMAIN, store=make_store("counter"))
    service.add_actor(CounterActor)
    async with service:
        a = service.actors.get(CounterActor, "a")
        b = service.actors.get(CounterActor, "b")
        hits = [a.call(Hit("a", pause=0.01)) for _ in range(10)]
        hits += [b.call(Hit("b", pause=0.01)) for _ in range(10)]
        answers = await asyncio.gather(*hits)
        assert sorted(answers[:10]) == list(range(1, 11)) == sorted(answers[10:])
        assert (await a.state()).hits == 10
        assert (await b.state()).keys == ["b"] * 10
    assert CounterActor.most == {"a": 1, "b": 1, "*": 2}


async def test_a_failing_handler_leaves_the_state_as_it_was(make_store: MakeStore) -> None:
    service = Service("counter", DOMAIN, store=make_store("counter"))
    service.add_actor(CounterActor)
    async with service:
        ref = service.actors.get(CounterActor, "k")
        assert await ref.call(Hit("k")) == 1
        with pytest.raises(RuntimeError, match="failed"):
            await ref.call(Hit("k", fail=True))  # it counted the hit, then raised
        assert (await ref.state()).hits == 1
        assert await ref.call(Hit("k")) == 2


async def test_cascaded_messages_are_published_once_with_the_state(make_store: MakeStore) -> None:
    broker = InMemoryBroker()
    settled: list[InvoiceSettled] = []

    async def on_settled(event: InvoiceSettled) -> None:
        settled.append(event)

    publisher = Service("bank", DOMAIN, transport=broker.transport(), database_url="memory://")
    publisher.add_handler(on_settled)
    service = ledger_service(make_store("ledger"), transport=broker.transport())
    async with publisher, service, tracked(publisher, service, timeout=20):
        for seq, amount in enumerate((60, 50, 5), start=1):
            await publisher.bus.publish(PaymentReceived("t", "inv-9", seq, amount))
    assert settled == [InvoiceSettled("t", "inv-9", 110)]


async def test_a_redelivered_message_is_applied_once(make_store: MakeStore) -> None:
    broker = InMemoryBroker()
    publisher = Service("bank", DOMAIN, transport=broker.transport(), database_url="memory://")
    store = make_store("ledger")
    service = ledger_service(store, transport=broker.transport())
    async with publisher, service:
        async with tracked(publisher, service, timeout=20):
            await publisher.bus.publish(PaymentReceived("t", "inv-2", 1, 30))
        async with tracked(publisher, service, timeout=20) as log:
            topic, envelope = broker.published[0]
            broker.publish(envelope, Destination(topic, "t"))  # Kafka redelivering it
        assert [a.kind for a in log if a.kind in ("duplicate", "handled")] == ["duplicate"]
        assert (await service.actors.get(LedgerActor, "inv-2").state()).total == 30
        assert (await stored(store, "inv-2"))[1].count == 1


async def test_a_stale_writer_is_refused_and_nothing_of_its_stale_handling_escapes(
    make_store: MakeStore,
) -> None:
    """Two processes of one service activate one invoice (as around a rebalance).

    A handles 60, B (on the same store) handles 50 and settles the invoice (110). A then
    handles 45 on its stale state (60 + 45 = 105: it would settle the invoice again): its
    save is refused, nothing of it is committed, and it handles the message again on the
    stored state (155, already settled: no second InvoiceSettled).
    """
    broker_a, broker_b = InMemoryBroker(), InMemoryBroker()
    bank_a = Service("bank", DOMAIN, transport=broker_a.transport(), database_url="memory://")
    bank_b = Service("bank", DOMAIN, transport=broker_b.transport(), database_url="memory://")
    store = make_store("ledger")
    a = ledger_service(store, transport=broker_a.transport())
    b = ledger_service(make_store("ledger"), transport=broker_b.transport())
    async with bank_a, bank_b, a, b:
        async with tracked(bank_a, a, timeout=20):
            await bank_a.bus.publish(PaymentReceived("t", "inv-3", 1, 60))
        async with tracked(bank_b, b, timeout=20):
            await bank_b.bus.publish(PaymentReceived("t", "inv-3", 2, 50))
        assert a.runtime.actors is not None
        refused_before = a.runtime.actors.saves.refusals
        async with tracked(bank_a, a, timeout=20) as log:
            await bank_a.bus.publish(PaymentReceived("t", "inv-3", 3, 45))
        assert a.runtime.actors.saves.refusals == refused_before + 1
        # handled twice: on the stale state (refused), then on the stored one
        assert len(log.messages("handled", PaymentReceived)) == 2
        for service in (a, b):
            await service.runtime.wait_idle()
        _, ledger, _ = await stored(store, "inv-3")
        assert (ledger.total, ledger.count, ledger.last_seq, ledger.out_of_order) == (155, 3, 3, [])
        assert (await a.actors.get(LedgerActor, "inv-3").state()).total == 155
    assert settled_records(broker_a, broker_b) == [InvoiceSettled("t", "inv-3", 110)]


async def test_a_call_on_a_stale_activation_fails_and_the_next_one_sees_the_stored_state(
    make_store: MakeStore,
) -> None:
    a = ledger_service(make_store("ledger"))
    b = ledger_service(make_store("ledger"))
    async with a, b:
        assert await a.actors.get(LedgerActor, "inv-4").call(Adjust("inv-4", 10)) == 10
        assert await b.actors.get(LedgerActor, "inv-4").call(Adjust("inv-4", 5)) == 15
        with pytest.raises(ActorConflictError) as caught:
            await a.actors.get(LedgerActor, "inv-4").call(Adjust("inv-4", 1))
        assert (caught.value.actor_type, caught.value.key) == (LedgerActor.actor_type, "inv-4")
        assert await a.actors.get(LedgerActor, "inv-4").call(Adjust("inv-4", 1)) == 16
        assert await a.bus.invoke(GetTotal("inv-4")) == 16


async def test_idle_activations_are_deactivated_with_their_state_saved(
    make_store: MakeStore,
) -> None:
    store = make_store("ledger")
    service = ledger_service(store, actors={"idle_seconds": 0.2})
    async with service:
        ref = service.actors.get(LedgerActor, "inv-5")
        await ref.call(Adjust("inv-5", 7))
        assert service.actors.active == 1
        await until(lambda: service.actors.active == 0)
        await service.runtime.wait_idle()
        _, ledger, _ = await stored(store, "inv-5")
        assert (ledger.total, ledger.activations, ledger.deactivations) == (7, 1, 1)
        assert await ref.call(Adjust("inv-5", 1)) == 8
        assert (await ref.state()).activations == 2


async def test_activations_are_bounded_and_evicted_ones_keep_their_state(
    make_store: MakeStore,
) -> None:
    service = ledger_service(make_store("ledger"), actors={"max_activations": 3})
    async with service:
        for n in range(20):
            await service.actors.get(LedgerActor, f"k{n}").call(Adjust(f"k{n}", n))
        await until(lambda: service.actors.active <= 3)
        assert service.actors.activations() == {LedgerActor.actor_type: service.actors.active}
        for n in range(20):
            assert (await service.actors.get(LedgerActor, f"k{n}").state()).total == n
        assert service.actors.active <= 4


async def test_a_reminder_set_before_a_restart_fires_after_it(make_store: MakeStore) -> None:
    store = make_store("ledger")
    first = ledger_service(store)
    async with first:
        await first.actors.get(LedgerActor, "inv-6").call(SetReminder("inv-6", "late", 1.0))
        _, ledger, reminders = await stored(store, "inv-6")
        assert list(reminders) == ["late"] and ledger.reminded == []
    # stopped before it was due; another process of the service starts
    again_store = make_store("ledger")
    again = ledger_service(again_store)
    async with again:

        async def reminded() -> bool:
            return (await stored(again_store, "inv-6"))[1].reminded == ["late"]

        await until(reminded)
        _, _, reminders = await stored(again_store, "inv-6")
        assert reminders == {}


async def test_a_replaced_reminder_fires_once_and_a_forgotten_one_never(
    make_store: MakeStore,
) -> None:
    service = ledger_service(make_store("ledger"))
    async with service:
        ref = service.actors.get(LedgerActor, "inv-7")
        await ref.call(SetReminder("inv-7", "a", 0.2))
        await ref.call(SetReminder("inv-7", "a", 0.4))  # replaces the first
        await ref.call(SetReminder("inv-7", "b", 0.2))
        await ref.call(SetReminder("inv-7", "b", None))  # forgotten
        await ref.call(SetReminder("inv-7", "d", 3600))
        await ref.call(SetReminder("inv-7", "d", None))  # its row would wait an hour
        await ref.call(SetReminder("inv-7", "c", 0.8))  # comes after all the others

        async def c_fired() -> bool:
            return "c" in (await ref.state()).reminded

        await until(c_fired)
        assert (await ref.state()).reminded == ["a", "c"]
        await service.runtime.wait_idle()
        assert service.store is not None
        assert (await service.store.stats()).backlog == 0  # the replaced ones' rows cancelled


async def test_a_periodic_reminder_comes_until_forgotten(make_store: MakeStore) -> None:
    service = ledger_service(make_store("ledger"))
    async with service:
        ref = service.actors.get(LedgerActor, "inv-8")
        await ref.call(SetReminder("inv-8", "tick", 0.05, every=0.05))

        async def three() -> bool:
            return len((await ref.state()).reminded) >= 3

        await until(three)
        await ref.call(SetReminder("inv-8", "tick", None))
        assert set((await ref.state()).reminded) == {"tick"}


async def test_without_a_store_state_lives_in_the_process() -> None:
    service = ledger_service(None)
    async with service:
        async with service.tracked():
            for seq in range(1, 4):
                await service.bus.publish(PaymentReceived("t", "inv-m", seq, 5))
        ref = service.actors.get(LedgerActor, "inv-m")
        assert (await ref.state()).total == 15
        assert await ref.call(Adjust("inv-m", 1)) == 16
        await ref.call(SetReminder("inv-m", "soon", 0.05))

        async def fired() -> bool:
            return (await ref.state()).reminded == ["soon"]

        await until(fired)


class OwningTransport(InMemoryTransport):
    """The in-memory transport, telling which partitions it owns (as Kafka's does)."""

    owned: list[tuple[str, int]]

    @property
    def assignment(self) -> list[tuple[str, int]]:
        return list(self.owned)


async def test_a_reminder_waits_for_the_owner_of_its_actors_partition(
    make_store: MakeStore,
) -> None:
    broker = InMemoryBroker()
    bank = Service("bank", DOMAIN, transport=broker.transport(), database_url="memory://")
    transport = OwningTransport(broker)
    home = (topic_name(PaymentReceived, "development"), 0)  # the broker's one partition
    transport.owned = [home]
    store = make_store("ledger")
    service = ledger_service(store, transport=transport, actors={"idle_seconds": 0.1})
    async with bank, service:
        async with tracked(bank, service, timeout=20):  # a record read from partition 0
            payment = Envelope(PaymentReceived("t", "inv-h", 1, 5), source=bank.urn)
            broker.publish_record(encode_outgoing(payment, home[0], "t"))
        await service.actors.get(LedgerActor, "inv-h").call(SetReminder("inv-h", "late", 0.3))
        transport.owned = []  # the partition went to another process
        await until(lambda: service.actors.active == 0)  # idle: deactivated here
        queues = service.runtime.durable_queues
        assert queues is not None
        await until(lambda: queues.completed >= 2)  # taken, and passed on, at least once
        assert (await stored(store, "inv-h"))[1].reminded == []
        assert service.actors.active == 0  # never activated beside the owner
        transport.owned = [home]  # this process owns it (again)

        async def fired() -> bool:
            return (await stored(store, "inv-h"))[1].reminded == ["late"]

        await until(fired)
        assert (await stored(store, "inv-h"))[1].deferrals[0] >= 1


async def test_an_actor_handler_run_is_a_process_span_in_the_message_trace() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from momentum.otel import OtelTelemetry

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    broker = InMemoryBroker()
    publisher = Service("bank", DOMAIN, transport=broker.transport(), database_url="memory://")
    service = ledger_service(
        None, transport=broker.transport(), telemetry=OtelTelemetry(tracer_provider=provider)
    )
    async with publisher, service, tracked(publisher, service, timeout=20):
        await publisher.bus.publish(PaymentReceived("t", "inv-1", 1, 60))
    spans = {s.name: s for s in exporter.get_finished_spans()}
    process = spans["process PaymentReceived"]
    receive = next(s for name, s in spans.items() if name.startswith("receive "))
    assert process.parent is not None and process.parent.span_id == receive.context.span_id
    assert dict(process.attributes or {})["momentum.handler"].endswith("on_payment")
