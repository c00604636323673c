"""Signed CloudEvents: what signing adds to encoding a record, and verifying to decoding one.

Two benchmarks, each with its unsigned path as the baseline, measured in the same run:

- ``cloudevents-signing``: ``KafkaTransport.encode(envelope, destination)`` (what an outbox
  row, a publish and a batch write per event) without a signer, and with one signing every
  record (HMAC-SHA256 over the canonical attributes and the data, two more headers).
- ``cloudevents-verifying``: the consumer thread's ``RecordDecoder.decode(...)`` of one
  record (its origin, the CloudEvents fast path, the payload) without verification, and
  verifying a signature before decoding (signatures required).

The event is the one of ``cloudevents-encoding``: ``CashierCreated(tenant_id, Cashier(...))``
with a tenant, a correlation id and a ``traceparent``. The garbage collector is tuned as a
started Kafka transport tunes it (``KafkaConfig.gc``: the startup heap frozen, a
first-generation threshold of 10 000), since these paths only ever run inside one. Target:
at most 3 µs added per message each way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bench.cases.cloudevents_encoding import (
    CASHIER,
    CORRELATION,
    CREATED,
    MESSAGE_ID,
    SOURCE,
    TENANT,
    TRACEPARENT,
    Cashier,
    CashierCreated,
)
from bench.framework import Benchmark, Run

ADDED_NS = 3_000.0
SIGNING_KEY = b"bench-signing-key-0123456789abcdef"
OLD_KEY = b"bench-old-key-fedcba9876543210fedcba"
TOPIC = "prod.appdomain.public.cashiers.v1"

SIGNING = Benchmark(
    name="cloudevents-signing",
    title="an envelope to its Kafka record (KafkaTransport.encode), unsigned and signed",
    baseline="encode (unsigned)",
    target="signing adds at most 3 µs per message",
)
VERIFYING = Benchmark(
    name="cloudevents-verifying",
    title="a Kafka record to its envelope on the consumer thread, unverified and verified",
    baseline="decode (unverified)",
    target="verifying adds at most 3 µs per message",
)
BENCHMARKS = [SIGNING, VERIFYING]


def _envelope() -> object:
    from momentum.contracts.envelope import Envelope

    return Envelope(
        CashierCreated(TENANT, Cashier(CASHIER, "Ada", "ada@example.com")),
        message_id=MESSAGE_ID,
        tenant_id=str(TENANT),
        correlation_id=CORRELATION,
        created=CREATED,
        source=SOURCE,
        headers={"traceparent": TRACEPARENT},
    )


def _signer() -> object:
    from momentum.contracts.signing import CloudEventSigner

    return CloudEventSigner("k2", SIGNING_KEY, {"k1": OLD_KEY}, required=True)


def _transport(signed: bool) -> object:
    from momentum.kafka import KafkaConfig, KafkaTransport

    config = KafkaConfig(bootstrap_servers="127.0.0.1:9092", signer=_signer() if signed else None)
    config.gc.apply()  # what KafkaTransport.start does (once per process)
    return KafkaTransport(config)


@asynccontextmanager
async def _encoding(signed: bool) -> AsyncIterator[Run]:
    from momentum.runtime.ports import Destination

    transport = _transport(signed)
    envelope = _envelope()
    destination = Destination(TOPIC, str(TENANT))
    encode = transport.encode  # type: ignore[attr-defined]
    names = {name for name, _ in encode(envelope, destination).headers}
    assert ("ce_signature" in names) is signed and "ce_tenantid" in names

    async def run(n: int) -> None:
        for _ in range(n):
            encode(envelope, destination)

    yield run


@asynccontextmanager
async def encode_unsigned() -> AsyncIterator[Run]:
    """``KafkaTransport.encode`` without a signer."""
    async with _encoding(signed=False) as run:
        yield run


@asynccontextmanager
async def encode_signed() -> AsyncIterator[Run]:
    """``KafkaTransport.encode`` with ``KafkaConfig(signer=...)``: the record signed."""
    async with _encoding(signed=True) as run:
        yield run


@asynccontextmanager
async def _decoding(verified: bool) -> AsyncIterator[Run]:
    from momentum.kafka.codec import RecordDecoder
    from momentum.runtime.ports import Destination

    signer = _signer()
    record = _transport(signed=True).encode(_envelope(), Destination(TOPIC, None))  # type: ignore[attr-defined]
    value, headers = record.body, list(record.headers)
    key = record.key.encode()
    decoder = RecordDecoder(
        [CashierCreated],
        verify=signer.verify if verified else None,  # type: ignore[attr-defined]
    )
    decode = decoder.decode
    envelope = decode(value, headers, TOPIC, 0, 0, key)
    assert envelope is not None and envelope.tenant_id == str(TENANT) and not decoder.poison

    async def run(n: int) -> None:
        for offset in range(n):
            decode(value, headers, TOPIC, 0, offset, key)

    yield run


@asynccontextmanager
async def decode_unverified() -> AsyncIterator[Run]:
    """``RecordDecoder.decode`` of a (signed) record, not verifying it."""
    async with _decoding(verified=False) as run:
        yield run


@asynccontextmanager
async def decode_verified() -> AsyncIterator[Run]:
    """``RecordDecoder.decode`` verifying the record's signature first (required)."""
    async with _decoding(verified=True) as run:
        yield run


SIGNING.add(
    "encode (unsigned)",
    encode_unsigned,
    note="`KafkaTransport.encode`: the JSON payload and the ce_* headers (tenant, "
    "correlation, traceparent), as an outbox row or a publish writes them.",
)
SIGNING.add(
    "encode + sign",
    encode_signed,
    max_added_ns=ADDED_NS,
    note="the same with `KafkaConfig(signer=CloudEventSigner(...))`: HMAC-SHA256 of the "
    "canonical attributes and the data, `ce_signature` and `ce_signaturekeyid` added.",
)
VERIFYING.add(
    "decode (unverified)",
    decode_unverified,
    note="`RecordDecoder.decode` on the consumer thread: origin, CloudEvents fast path, "
    "payload (the record is signed; the signature is not checked).",
)
VERIFYING.add(
    "verify + decode",
    decode_verified,
    max_added_ns=ADDED_NS,
    note="the same with the signature verified first (key rotation: two verification keys, "
    "signatures required).",
)
