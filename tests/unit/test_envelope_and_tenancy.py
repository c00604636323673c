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
