"""Signed CloudEvents on the shared broker: what a signing service writes (publish, publish_many,
the outbox relay, a scheduled row) is signed and passes a service that requires signatures; a
tampered payload, an unknown key id and an unsigned record each become a dead letter (store
and ``.dlq``) with their reason and never reach a handler."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pytest
from confluent_kafka import Producer
from kafka_support import committed_offsets, read_records, wait_for

from momentum import Envelope, PartitionKey, Service, event_topic, topic_name
from momentum.contracts.cloudevents import encode
from momentum.contracts.signing import CloudEventSigner
from momentum.kafka import KafkaConfig, KafkaTransport, dead_letter_topic
from momentum.sqlite import SqliteStore
from momentum.testing import tracked

pytestmark = pytest.mark.kafka

DOMAIN = "KafkaTests"
OLD_KEY = b"old-0123456789abcdef0123456789abcdef"
NEW_KEY = b"new-fedcba9876543210fedcba9876543210"
FOREIGN_SOURCE = "/kafka_tests/somewhere"


@event_topic("signed-orders", domain=DOMAIN)
@dataclass(frozen=True)
class OrderPlaced:
    order_id: Annotated[str, PartitionKey()]
    amount: int


def raw_record(order_id: str, amount: int, signer: CloudEventSigner | None) -> tuple[bytes, list]:
    value, headers = encode(
        Envelope(OrderPlaced(order_id, amount), source=FOREIGN_SOURCE, tenant_id="acme")
    )
    headers = list(headers)
    if signer is not None:
        signer.sign(value, headers)
    return value, headers


async def test_signed_records_pass_and_tampered_unknown_key_and_unsigned_ones_are_dead_letters(
    make_config: Callable[..., KafkaConfig],
    environment: str,
    kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    rotating = CloudEventSigner("k2", NEW_KEY, {"k1": OLD_KEY})  # signs with the new key
    shop = Service(
        "shop",
        DOMAIN,
        transport=KafkaTransport(make_config(signer=rotating)),
        store=SqliteStore(f"sqlite:///{tmp_path / 'shop.db'}"),
        environment=environment,
    )
    verifying = CloudEventSigner(verification_keys={"k1": OLD_KEY, "k2": NEW_KEY}, required=True)
    billing_store = SqliteStore(f"sqlite:///{tmp_path / 'billing.db'}")
    billing = Service(
        "billing",
        DOMAIN,
        transport=KafkaTransport(make_config(signer=verifying)),
        store=billing_store,
        environment=environment,
    )
    handled: list[str] = []

    async def placed(event: OrderPlaced) -> None:
        handled.append(event.order_id)

    billing.add_handler(placed)
    topic = topic_name(OrderPlaced, environment)
    raw = Producer({"bootstrap.servers": kafka_bootstrap})
    async with shop, billing:
        async with tracked(shop, billing, timeout=60):
            await shop.bus.publish(OrderPlaced("published", 1))
            await shop.bus.publish_many([OrderPlaced("many-1", 2), OrderPlaced("many-2", 3)])
            async with shop.bus.transaction():
                await shop.bus.publish(OrderPlaced("outbox", 4))
            await shop.bus.schedule(OrderPlaced("scheduled", 5), delay=0)
            value, headers = raw_record("tampered", 6, CloudEventSigner("k1", OLD_KEY))
            tampered = json.dumps({**json.loads(value), "amount": 6000}).encode()
            raw.produce(topic, tampered, b"tampered", headers=headers)
            value, headers = raw_record("retired-key", 7, CloudEventSigner("k0", b"r" * 32))
            raw.produce(topic, value, b"retired-key", headers=headers)
            value, headers = raw_record("unsigned", 8, None)
            raw.produce(topic, value, b"unsigned", headers=headers)
            value, headers = raw_record("old-key", 9, CloudEventSigner("k1", OLD_KEY))
            raw.produce(topic, value, b"old-key", headers=headers)
            assert raw.flush(30) == 0
        deadline = time.monotonic() + 30
        while len(found := await billing_store.dead_letters()) < 3:  # kept in batches
            assert time.monotonic() < deadline, f"3 dead letters expected, found {found}"
            await asyncio.sleep(0.05)  # the store's poll interval, not a wait for an outcome
        group = billing.group_id
        await wait_for(
            lambda: sum(max(o, 0) for o in committed_offsets(kafka_bootstrap, group, topic)) == 9,
            "every record (the rejected ones too) to be committed",
        )
    assert sorted(handled) == ["many-1", "many-2", "old-key", "outbox", "published", "scheduled"]
    reasons = {letter.record.key: letter.exception_message.split("]")[0] + "]" for letter in found}
    assert reasons == {
        "tampered": "[invalid-signature]",
        "retired-key": "[unknown-signing-key]",
        "unsigned": "[missing-signature]",
    }
    assert all(letter.tenant == "acme" for letter in found)
    assert sorted(letter.exception_type.rsplit(".", 1)[1] for letter in found) == [
        "MissingSignatureError",
        "SignatureError",
        "UnknownSigningKeyError",
    ]
    copies = await asyncio.to_thread(read_records, kafka_bootstrap, dead_letter_topic(topic), 3)
    assert sorted(dict(c.headers())["momentum-dlq-reason"] for c in copies) == [
        b"invalid-signature",
        b"missing-signature",
        b"unknown-signing-key",
    ]
    written = await asyncio.to_thread(read_records, kafka_bootstrap, topic, 9)
    by_key = {r.key(): dict(r.headers()) for r in written}
    for key in (b"published", b"many-1", b"many-2", b"outbox", b"scheduled"):
        assert by_key[key]["ce_signaturekeyid"] == b"k2" and len(by_key[key]["ce_signature"]) == 64
