"""`KafkaTransport` as a `RecordTransport`: `encode` + `publish_records` against the broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import pytest
from kafka_support import group_members, read_records, records_in, wait_for
from momentum_kafka_events import AuditNoted, OrderPlaced

from momentum import Envelope, Service, tenant_scope, topic_name
from momentum.contracts import cloudevents
from momentum.contracts.cloudevents import encode
from momentum.contracts.envelope import Origin
from momentum.contracts.errors import TransportError
from momentum.contracts.message_types import MessageTypeRegistry
from momentum.kafka import KafkaConfig, KafkaTransport, TopicProvisioning
from momentum.runtime.ports import Destination, RecordTransport
from momentum.runtime.store import OutgoingRecord
from momentum.testing import tracked

pytestmark = pytest.mark.kafka

SOURCE = "/shop/shop"


async def _no_receiver(_envelope: Envelope) -> None:
    raise AssertionError("the publishing transport subscribes to nothing")


@asynccontextmanager
async def publisher(config: KafkaConfig) -> AsyncIterator[KafkaTransport]:
    """A started transport that only publishes (no subscriptions, so no consumer)."""
    transport = KafkaTransport(config)
    await transport.start("records-publisher", [], _no_receiver)
    try:
        yield transport
    finally:
        await transport.stop()


def reader(config: KafkaConfig, environment: str, seen: list[tuple[object, Envelope]]) -> Service:
    """Another service handling `OrderPlaced` and `AuditNoted` from Kafka into `seen`."""

    async def placed(event: OrderPlaced, envelope: Envelope) -> None:
        seen.append((event, envelope))

    async def noted(event: AuditNoted, envelope: Envelope) -> None:
        seen.append((event, envelope))

    service = Service(
        "billing", "Billing", transport=KafkaTransport(config), environment=environment
    )
    service.add_handler(placed)
    service.add_handler(noted)
    return service


def order_records(
    transport: KafkaTransport, topic: str, customer: str, count: int
) -> list[OutgoingRecord]:
    """`OrderPlaced(customer, 0..count-1)` encoded for `topic`, keyed by the customer."""
    return [
        transport.encode(
            Envelope(OrderPlaced(customer, seq), source=SOURCE), Destination(topic, customer)
        )
        for seq in range(count)
    ]


def test_the_kafka_transport_is_a_record_transport(make_config: Callable[..., KafkaConfig]) -> None:
    assert isinstance(KafkaTransport(make_config()), RecordTransport)


def test_encode_writes_what_publish_writes(make_config: Callable[..., KafkaConfig]) -> None:
    transport = KafkaTransport(make_config())
    keyed = Envelope(OrderPlaced("ada", 1), source=SOURCE, tenant_id="t1")
    record = transport.encode(keyed, Destination("dev.shop.public.orders.v1", "ada"))
    value, headers = encode(keyed)
    assert record == OutgoingRecord(
        str(keyed.message_id), "dev.shop.public.orders.v1", "ada", headers, value
    )
    assert dict(record.headers)["ce_id"] == str(keyed.message_id).encode()

    unkeyed = Envelope(AuditNoted("n"), source=SOURCE)
    record = transport.encode(unkeyed, Destination("dev.audit.public.audits.v1", None))
    assert record.key == record.message_id == str(unkeyed.message_id)  # keyed by message id


async def test_publish_records_before_start_fails_and_nothing_is_nothing(
    make_config: Callable[..., KafkaConfig],
) -> None:
    transport = KafkaTransport(make_config())
    record = transport.encode(
        Envelope(AuditNoted("n"), source=SOURCE), Destination("dev.x.public.y.v1", None)
    )
    with pytest.raises(TransportError, match="not started"):
        await transport.publish_records([record])
    async with publisher(make_config()) as started:
        assert await started.publish_records([]) == []


async def test_encoded_records_reach_a_consumer_of_another_service(
    make_config: Callable[..., KafkaConfig], environment: str
) -> None:
    orders = topic_name(OrderPlaced, environment)
    audits = topic_name(AuditNoted, environment)
    envelopes = [
        Envelope(OrderPlaced("ada", 0), source=SOURCE, correlation_id="c-1", tenant_id="t1"),
        Envelope(AuditNoted("no key"), source=SOURCE),
        Envelope(OrderPlaced("bob", 1), source=SOURCE, headers={"traceparent": "00-ab-cd-01"}),
    ]
    seen: list[tuple[object, Envelope]] = []
    billing = reader(make_config(), environment, seen)
    async with billing, publisher(make_config()) as transport, tracked(billing, timeout=60):
        records = [
            transport.encode(envelopes[0], Destination(orders, "ada")),
            transport.encode(envelopes[1], Destination(audits, None)),  # provisioned on the fly
            transport.encode(envelopes[2], Destination(orders, "bob")),
        ]
        assert await transport.publish_records(records) == [None, None, None]
    received = {envelope.message_id: (event, envelope) for event, envelope in seen}
    assert len(seen) == 3 and set(received) == {e.message_id for e in envelopes}
    for sent in envelopes:
        event, envelope = received[sent.message_id]
        assert event == sent.message
        assert envelope.source == SOURCE
        assert envelope.created == pytest.approx(sent.created, abs=1e-6)
        assert envelope.origin is not None and envelope.origin.transport == "kafka"
    assert received[envelopes[0].message_id][1].correlation_id == "c-1"
    assert received[envelopes[0].message_id][1].tenant_id == "t1"
    assert received[envelopes[2].message_id][1].headers["traceparent"] == "00-ab-cd-01"


async def test_many_records_of_one_key_arrive_in_order_through_a_full_queue(
    make_config: Callable[..., KafkaConfig], environment: str
) -> None:
    # A local queue of 50 records: producing 600 hits BufferError (queue full) repeatedly,
    # and publish_records waits for deliveries instead of failing.
    config = make_config(producer={"queue.buffering.max.messages": 50})
    orders = topic_name(OrderPlaced, environment)
    seen: list[tuple[object, Envelope]] = []
    billing = reader(make_config(), environment, seen)
    count = 600
    async with billing, publisher(config) as transport, tracked(billing, timeout=90):
        records = order_records(transport, orders, "ada", count)
        records += order_records(transport, orders, "bob", count // 3)
        results = await transport.publish_records(records)
        assert results == [None] * len(records)
    by_key: dict[str, list[int]] = {}
    partitions: dict[str, set[int | None]] = {}
    for event, envelope in seen:
        assert isinstance(event, OrderPlaced) and envelope.origin is not None
        by_key.setdefault(event.customer, []).append(event.seq)
        partitions.setdefault(event.customer, set()).add(envelope.origin.partition)
    assert by_key == {"ada": list(range(count)), "bob": list(range(count // 3))}
    assert all(len(p) == 1 for p in partitions.values())


async def test_concurrent_batches_and_publishes_each_get_their_own_outcomes(
    make_config: Callable[..., KafkaConfig], environment: str
) -> None:
    orders = topic_name(OrderPlaced, environment)
    seen: list[tuple[object, Envelope]] = []
    billing = reader(make_config(), environment, seen)
    async with billing, publisher(make_config()) as transport, tracked(billing, timeout=60):

        def batch(customer: str) -> list[OutgoingRecord]:
            return order_records(transport, orders, customer, 50)

        single = Envelope(OrderPlaced("solo", 0), source=SOURCE)
        results = await asyncio.gather(
            transport.publish_records(batch("ada")),
            transport.publish_records(batch("bob")),
            transport.publish(single, Destination(orders, "solo")),
            transport.publish_records(batch("cyd")),
        )
        assert results == [[None] * 50, [None] * 50, None, [None] * 50]
        await transport.wait_idle()
    assert len(seen) == 151


async def test_a_record_too_large_fails_alone_and_names_its_topic(
    make_config: Callable[..., KafkaConfig], environment: str
) -> None:
    config = make_config(producer={"message.max.bytes": 2000})
    audits = topic_name(AuditNoted, environment)
    seen: list[tuple[object, Envelope]] = []
    billing = reader(make_config(), environment, seen)
    async with billing, publisher(config) as transport, tracked(billing, timeout=60):
        records = [
            transport.encode(Envelope(AuditNoted(note), source=SOURCE), Destination(audits, "k"))
            for note in ("first", "x" * 5000, "third")
        ]
        results = await transport.publish_records(records)
    assert results[0] is None and results[2] is None
    error = results[1]
    assert isinstance(error, TransportError)
    assert audits in str(error) and "MSG_SIZE_TOO_LARGE" in str(error)
    assert sorted(e.note for e, _ in seen if isinstance(e, AuditNoted)) == ["first", "third"]
    assert len(seen) == 2


async def test_a_delivery_failure_is_reported_for_its_record_only(
    make_config: Callable[..., KafkaConfig], environment: str
) -> None:
    # No provisioning for the publisher: a record for a topic that does not exist fails in
    # its delivery report (not when produced), the others are delivered.
    config = make_config(
        provisioning=TopicProvisioning(enabled=False),
        producer={"topic.metadata.propagation.max.ms": 10},
    )
    audits = topic_name(AuditNoted, environment)
    missing = f"{environment}.kafkatests.public.missing.v1"
    seen: list[tuple[object, Envelope]] = []
    billing = reader(make_config(), environment, seen)  # provisions its topics
    async with billing, publisher(config) as transport, tracked(billing, timeout=60):
        records = [
            transport.encode(Envelope(AuditNoted(note), source=SOURCE), Destination(topic, None))
            for note, topic in (("first", audits), ("lost", missing), ("third", audits))
        ]
        results = await transport.publish_records(records)
    assert results[0] is None and results[2] is None
    error = results[1]
    assert isinstance(error, TransportError)
    assert missing in str(error) and "UNKNOWN_TOPIC" in str(error)
    assert sorted(e.note for e, _ in seen if isinstance(e, AuditNoted)) == ["first", "third"]


# --- decoding: records as momentum writes them take a fast path with the same outcome ---------

_REGISTRY = MessageTypeRegistry([OrderPlaced, AuditNoted])
_ORIGIN = Origin("kafka", "t", 2, 41)
_TIME = b"2024-05-01T12:00:00.250000Z"


def _written(**changes: bytes | str | None) -> list[tuple[str, Any]]:
    """The headers of an `OrderPlaced` record as momentum writes them, with `changes`.

    A change to `None` removes the header; a header not written by momentum is appended.
    """
    envelope = Envelope(OrderPlaced("ada", 1), source=SOURCE)
    _, headers = encode(envelope)
    pairs: list[tuple[str, Any]] = [(n, changes.pop(n, v)) for n, v in headers]
    pairs += list(changes.items())
    return [(n, v) for n, v in pairs if v is not None or n == "x-null"]


def _outcome(value: Any, headers: Any) -> tuple[Any, ...]:
    try:
        envelope = cloudevents.decode(value, headers, _REGISTRY, origin=_ORIGIN)
    except Exception as exc:
        return (type(exc), str(exc), getattr(exc, "reason", None))
    timed = any(n == "ce_time" and v is not None for n, v in headers)
    created: Any = envelope.created
    if not timed:  # no time: created is "now"
        created = "now" if abs(created - time.time()) < 60 else created
    return (
        envelope.message,
        envelope.message_id,
        envelope.correlation_id,
        envelope.causation_id,
        envelope.tenant_id,
        list(envelope.headers.items()),
        created,
        envelope.attempts,
        envelope.source,
        envelope.origin,
    )


PAYLOAD = b'{"customer":"ada","seq":1}'
CASES: dict[str, tuple[bytes, list[tuple[str, Any]]]] = {
    "as written": (PAYLOAD, _written()),
    "all extensions": (
        PAYLOAD,
        _written(
            ce_tenantid=b"t-1",
            ce_correlationid=b"c-1",
            ce_causationid=b"",
            ce_attempts=b"3",
            ce_tracestate=b"k=v",
            ce_traceparent=b"00-ab-cd-01",
        ),
    ),
    "no time": (PAYLOAD, _written(ce_time=None)),
    "no time, a trace": (PAYLOAD, _written(ce_time=None, ce_traceparent=b"00-ab-cd-01")),
    "no content type, a trace": (
        PAYLOAD,
        _written(**{"content-type": None, "ce_tracestate": b"k=v"}),
    ),
    "no content type": (PAYLOAD, _written(**{"content-type": None})),
    "time without fraction": (PAYLOAD, _written(ce_time=b"2024-05-01T12:00:00Z")),
    "time with offset": (PAYLOAD, _written(ce_time=b"2024-05-01T12:00:00.250000+02:00")),
    "time before 1970": (PAYLOAD, _written(ce_time=b"1969-12-31T23:59:59.999999Z")),
    "time month 13": (PAYLOAD, _written(ce_time=b"2024-13-01T12:00:00.250000Z")),
    "time not a time": (PAYLOAD, _written(ce_time=b"yesterday, I think, at noon")),
    "time lower-case z": (PAYLOAD, _written(ce_time=_TIME.lower())),
    "time not utf-8": (PAYLOAD, _written(ce_time=b"\xff" * 27)),
    "time digits with sign": (PAYLOAD, _written(ce_time=b"2024-05-01T12:00:00.+12345Z")),
    "id not a uuid": (PAYLOAD, _written(ce_id=b"order-1")),
    "id upper case": (PAYLOAD, _written(ce_id=b"0A1B2C3D-4E5F-4A6B-8C7D-8E9F0A1B2C3D")),
    "id without hyphens": (PAYLOAD, _written(ce_id=b"0a1b2c3d4e5f4a6b8c7d8e9f0a1b2c3d")),
    "id in braces": (PAYLOAD, _written(ce_id=b"{0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d}")),
    "id urn": (PAYLOAD, _written(ce_id=b"urn:uuid:0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d")),
    "id empty": (PAYLOAD, _written(ce_id=b"")),
    "attempts zero": (PAYLOAD, _written(ce_attempts=b"0")),
    "attempts text": (PAYLOAD, _written(ce_attempts=b"two")),
    "attempts and bad time": (PAYLOAD, _written(ce_attempts=b"x", ce_time=b"nope")),
    "unknown type": (PAYLOAD, _written(ce_type=b"Other.Type")),
    "unknown type, bad time": (PAYLOAD, _written(ce_type=b"Other.Type", ce_time=b"\xff")),
    "spec 0.3": (PAYLOAD, _written(ce_specversion=b"0.3")),
    "str values": (PAYLOAD, [(n, v.decode()) for n, v in _written()]),
    "a null header": (PAYLOAD, _written(**{"x-null": None})),
    "a null tenant": (PAYLOAD, [*_written(), ("ce_tenantid", None)]),
    "a tenant, then null": (PAYLOAD, [*_written(ce_tenantid=b"t"), ("ce_tenantid", None)]),
    "a null, then a tenant": (PAYLOAD, [("ce_tenantid", None), *_written(ce_tenantid=b"t")]),
    "a plain header": (PAYLOAD, _written(**{"x-request": b"r-1"})),
    "an unknown attribute": (PAYLOAD, _written(ce_subject=b"s")),
    "upper-case name": (PAYLOAD, [("CE_TENANTID", b"T"), *_written()]),
    "charset": (PAYLOAD, _written(**{"content-type": b"application/json; charset=utf-8"})),
    "not json content": (PAYLOAD, _written(**{"content-type": b"text/plain"})),
    "duplicate id": (PAYLOAD, [*_written(), ("ce_id", b"order-2")]),
    "invalid json": (b'{"customer":', _written()),
    "schema mismatch": (b'{"customer":"ada","seq":"x"}', _written()),
    "snake and camel keys": (b'{"Customer":"bob","SEQ":2}', _written()),
    "source not utf-8": (PAYLOAD, _written(ce_source=b"\xc3")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_record_decodes_as_the_general_path_decodes_it(case: str) -> None:
    value, headers = CASES[case]
    general = _outcome(value, tuple(headers))  # not a list: the general path
    assert _outcome(value, headers) == general


def test_the_fast_path_takes_what_momentum_writes() -> None:
    value, headers = CASES["all extensions"]
    envelope = cloudevents._decode_common(value, headers, _REGISTRY, _ORIGIN)
    assert envelope is not None
    assert envelope.headers == {"tracestate": "k=v", "traceparent": "00-ab-cd-01"}
    assert envelope.created == datetime.fromisoformat(dict(headers)["ce_time"].decode()).timestamp()
    for case in ("a plain header", "str values", "no time", "time with offset", "charset"):
        value, headers = CASES[case]
        taken = cloudevents._decode_common(value, headers, _REGISTRY, _ORIGIN) is not None
        assert taken == (case in ("no time", "time with offset")), case


async def test_bus_publish_many_sends_one_batch_in_key_order(
    make_config: Callable[..., KafkaConfig], environment: str
) -> None:
    seen: list[tuple[object, Envelope]] = []
    config = make_config()
    shop = Service("shop", "Shop", transport=KafkaTransport(config), environment=environment)
    billing = reader(config, environment, seen)
    async with shop, billing, tracked(shop, billing, timeout=60) as log:
        events = [OrderPlaced(f"c{c}", seq) for seq in range(100) for c in range(3)]
        await shop.bus.publish_many([*events, AuditNoted("batch")])
    placed = [(e.customer, e.seq) for e, _ in seen if isinstance(e, OrderPlaced)]
    for c in range(3):
        assert [s for customer, s in placed if customer == f"c{c}"] == list(range(100))
    assert [e.note for e, _ in seen if isinstance(e, AuditNoted)] == ["batch"]
    assert len(log.published) == 301


async def test_bus_publish_many_raises_the_first_failure_after_sending_the_rest(
    make_config: Callable[..., KafkaConfig], environment: str
) -> None:
    config = make_config(producer={"message.max.bytes": 2000})
    shop = Service("shop", "Shop", transport=KafkaTransport(config), environment=environment)
    async with shop:
        with pytest.raises(TransportError, match="orders"):
            await shop.bus.publish_many(
                [OrderPlaced("a", 1), OrderPlaced("x" * 5000, 2), OrderPlaced("a", 3)]
            )
        topic = topic_name(OrderPlaced, environment)
        assert shop.transport is not None
        await shop.transport.wait_idle()
    # the two records that fit were delivered (counted with retries while a new topic's
    # partition leaders settle)
    assert records_in(config.bootstrap_servers, topic) == 2


async def test_bus_publish_many_waits_for_queue_space_and_stays_in_key_order(
    make_config: Callable[..., KafkaConfig], environment: str
) -> None:
    # No tracker: the root bus hands the new messages over without envelopes (add_new).
    seen: list[tuple[object, Envelope]] = []
    config = make_config(producer={"queue.buffering.max.messages": 10})
    shop = Service("shop", "Shop", transport=KafkaTransport(config), environment=environment)
    billing = reader(config, environment, seen)
    async with shop, billing:
        await shop.bus.publish_many(OrderPlaced(f"c{seq % 2}", seq) for seq in range(200))
        await wait_for(lambda: len(seen) == 200, "200 records handled", 60)
    placed = [(e.customer, e.seq) for e, _ in seen if isinstance(e, OrderPlaced)]
    for c in range(2):
        assert [s for customer, s in placed if customer == f"c{c}"] == list(range(c, 200, 2))


async def test_root_bus_publish_many_writes_what_publish_writes(
    make_config: Callable[..., KafkaConfig], environment: str
) -> None:
    seen: list[tuple[object, Envelope]] = []
    config = make_config()
    shop = Service("shop", "Shop", transport=KafkaTransport(config), environment=environment)
    billing = reader(config, environment, seen)
    async with shop, billing:
        with tenant_scope("t-7"):
            await shop.bus.publish(OrderPlaced("ada", 0))  # the single publish, to compare
            await shop.bus.publish_many(
                [OrderPlaced("ada", 1), AuditNoted("batch"), OrderPlaced("bob", 2)]
            )
        await wait_for(lambda: len(seen) == 4, "4 records handled")
    by_seq = {e.seq: envelope for e, envelope in seen if isinstance(e, OrderPlaced)}
    (audit,) = [envelope for e, envelope in seen if isinstance(e, AuditNoted)]
    single, batch = by_seq[0], [by_seq[1], audit, by_seq[2]]
    assert {envelope.source for envelope in batch} == {single.source} == {"/shop/shop"}
    assert {envelope.tenant_id for envelope in [single, *batch]} == {"t-7"}
    assert len({envelope.message_id for envelope in [single, *batch]}) == 4
    assert len({envelope.created for envelope in batch}) == 1  # one call, one time
    assert single.created <= batch[0].created <= time.time()
    for envelope in [single, *batch]:
        assert envelope.correlation_id is None and envelope.causation_id is None
        assert envelope.attempts == 1 and envelope.message_id.version == 4
    # as records: the same headers in the same order as the single publish, keyed alike
    bootstrap = config.bootstrap_servers
    orders = await asyncio.to_thread(
        read_records, bootstrap, topic_name(OrderPlaced, environment), 3
    )
    (audit_record,) = await asyncio.to_thread(
        read_records, bootstrap, topic_name(AuditNoted, environment), 1
    )
    assert audit_record.key() == str(audit.message_id).encode()  # keyless: the message id
    by_id = {dict(r.headers())["ce_id"].decode(): r for r in orders}
    first, *rest = [by_id[str(envelope.message_id)] for envelope in (single, by_seq[1], by_seq[2])]
    assert [r.key() for r in (first, *rest)] == [b"ada", b"ada", b"bob"]
    constant = ("ce_specversion", "ce_type", "ce_source", "content-type", "ce_tenantid")
    for record in [*rest, audit_record]:
        assert [name for name, _ in record.headers()] == [name for name, _ in first.headers()]
    for record in rest:
        headers, expected = dict(record.headers()), dict(first.headers())
        assert {name: headers[name] for name in constant} == {
            name: expected[name] for name in constant
        }


async def test_a_service_started_without_subscribing_publishes_and_joins_no_group(
    make_config: Callable[..., KafkaConfig], environment: str
) -> None:
    # What `momentum dlq replay` runs: no consumer joins the group of the running instances.
    seen: list[tuple[object, Envelope]] = []
    config = make_config()
    quiet = reader(config, environment, seen)
    heard: list[int] = []

    async def placed(event: OrderPlaced) -> None:
        heard.append(event.seq)

    listening = Service("audit", "Audit", transport=KafkaTransport(config), environment=environment)
    listening.add_handler(placed)
    await quiet.start(subscribe=False)
    try:
        async with listening:
            await quiet.bus.publish(OrderPlaced("ada", 1))  # acknowledged: published
            await wait_for(lambda: heard == [1], "the event, at the subscribed service")
            assert group_members(config.bootstrap_servers, listening.group_id) == 1
            assert group_members(config.bootstrap_servers, quiet.group_id) == 0
    finally:
        await quiet.stop()
    assert seen == []
