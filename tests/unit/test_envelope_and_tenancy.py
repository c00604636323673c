"""Envelope identity, lineage and the tenant rules."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC

from momentum import Envelope, TenantContext, tenant_scope
from momentum.contracts.tenancy import current_tenant, tenant_of


@dataclass(frozen=True)
class Msg:
    tenant_id: uuid.UUID | None = None


def test_message_id_is_lazy_stable_and_overridable() -> None:
    env = Envelope(Msg())
    assert not env.has_message_id
    first = env.message_id
    assert env.has_message_id and env.message_id == first
    given = uuid.uuid4()
    assert Envelope(Msg(), message_id=given).message_id == given


def test_child_carries_correlation_tenant_and_causation() -> None:
    parent = Envelope(Msg(), tenant_id="t1", source="/d/s")
    child = parent.child(Msg())
    assert child.causation_id == str(parent.message_id)
    assert child.correlation_id == str(parent.message_id)  # the root starts the correlation
    grandchild = child.child(Msg())
    assert grandchild.correlation_id == child.correlation_id
    assert grandchild.causation_id == str(child.message_id)
    assert (child.tenant_id, child.source) == ("t1", "/d/s")


def test_timestamp_is_aware_utc() -> None:
    env = Envelope(Msg(), created=0.0)
    assert env.timestamp.tzinfo is UTC and env.timestamp.year == 1970


def test_tenant_rules() -> None:
    tid = uuid.uuid4()
    assert tenant_of(Msg(tid)) == str(tid)
    assert tenant_of(Msg()) is None
    with tenant_scope("scoped"):
        assert current_tenant() == "scoped"
        assert tenant_of(Msg(tid)) == "scoped"
        with tenant_scope(None):
            assert tenant_of(Msg(tid)) == str(tid)
    assert current_tenant() is None
    assert TenantContext("x").tenant_id == "x"


def test_new_message_ids_are_random_version_4_uuids_in_canonical_text() -> None:
    from momentum.contracts.envelope import ID_BLOCK, _id_block, new_message_id_text

    block = _id_block()
    texts = block + [new_message_id_text() for _ in range(3 * ID_BLOCK)]
    assert len(set(texts)) == len(texts)
    for text in texts:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_message_id_text_and_uuid_agree_whichever_is_read_first() -> None:
    text_first = Envelope(Msg())
    text = text_first.message_id_text
    assert text_first.has_message_id and str(text_first.message_id) == text
    uuid_first = Envelope(Msg())
    assert uuid_first.message_id_text == str(uuid_first.message_id)
    given = uuid.uuid4()
    assert Envelope(Msg(), message_id=given).message_id_text == str(given)
    retried = text_first.for_attempt(2)
    assert retried.message_id_text == text and retried.message_id == text_first.message_id


def test_the_fast_constructors_build_what_the_constructor_builds() -> None:
    from momentum.contracts.envelope import (
        Origin,
        inbound_envelope,
        new_origin,
        outgoing_envelope,
    )

    assert new_origin("kafka", "t", 2, 41) == Origin("kafka", "t", 2, 41)
    out = outgoing_envelope(Msg(), "t1", "/d/s", 12.5)
    plain = Envelope(Msg(), tenant_id="t1", source="/d/s", created=12.5)
    given = uuid.uuid4()
    origin = Origin("kafka", "t", 1, 5)
    read = inbound_envelope(Msg(), given, "c", "k", "t1", {"x": "y"}, 2.5, 3, "/d/s", origin)
    full = Envelope(
        Msg(),
        message_id=given,
        correlation_id="c",
        causation_id="k",
        tenant_id="t1",
        headers={"x": "y"},
        created=2.5,
        attempts=3,
        source="/d/s",
        origin=origin,
    )
    for made, expected in ((out, plain), (read, full)):
        for name in Envelope.__slots__:
            if name not in ("_message_id", "_id_text"):
                assert getattr(made, name) == getattr(expected, name), name
    assert read.message_id == given and not out.has_message_id


def test_tenant_of_formats_uuid_tenants_once() -> None:
    tenant = uuid.uuid4()
    assert tenant_of(Msg(tenant)) == str(tenant)
    assert tenant_of(Msg(uuid.UUID(str(tenant)))) == str(tenant)  # an equal, other object
