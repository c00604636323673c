"""The message store contract: one suite, run against every adapter.

An adapter's test module subclasses :class:`StoreContract` and provides the fixtures
``make_store`` (opens a store on the test database; several stores on one database play
several processes), ``user_connection`` (a driver connection of the caller's, with a table
``business(value text)``) and the hooks ``begin``/``commit``/``rollback``/``business_count``/
``set_schema_version``.

The ordering tests live in :mod:`contract_ordering`, the actor-state tests in
:mod:`contract_actors`, the helpers in :mod:`store_support`.
Times come from a :class:`Clock` the test moves forward, so leases and delays need no sleeping.
"""

from __future__ import annotations

import asyncio
import base64
import random
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from contract_actors import ActorStateContract
from contract_ordering import OrderingContract
from store_support import Clock, MakeStore, add, dead_letter, fields, record

from momentum.contracts.errors import StoreError
from momentum.runtime.store import DeadLetter, DeadLetterFilter, MessageStore, OutgoingRecord

WAKE_TIMEOUT = 10.0
HUGE_TYPE = "Poison." + base64.b64encode(random.Random(7).randbytes(6000)).decode()
"""A ``ce_type`` of 8,000 characters that do not compress: past PostgreSQL's btree limit."""


class StoreContract(OrderingContract, ActorStateContract):
    """Behaviour every :class:`MessageStore` adapter must show."""

    # Hooks implemented by each adapter's test class ------------------------------------------

    async def begin(self, connection: Any) -> None:
        raise NotImplementedError

    async def commit(self, connection: Any) -> None:
        raise NotImplementedError

    async def rollback(self, connection: Any) -> None:
        raise NotImplementedError

    async def business_count(self, connection: Any) -> int:
        raise NotImplementedError

    async def insert_business(self, connection: Any, value: str) -> None:
        raise NotImplementedError

    async def set_schema_version(self, store: Any, version: int) -> None:
        raise NotImplementedError

    async def undo_version_2(self, store: Any) -> None:
        """Turn the store's tables of schema version 2 back into what version 1 created."""
        raise NotImplementedError

    async def undo_version_3(self, store: Any) -> None:
        """Turn the store's tables back into what schema version 2 created."""
        raise NotImplementedError

    # Fixtures shared by the suite ------------------------------------------------------------

    @pytest.fixture
    def clock(self) -> Clock:
        return Clock()

    @pytest.fixture
    async def store(self, make_store: MakeStore, clock: Clock) -> AsyncIterator[Any]:
        yield await make_store(clock=clock)

    # Outbox ----------------------------------------------------------------------------------

    async def test_committed_rows_are_claimed_once_with_their_wire_record(
        self, store: MessageStore, make_store: MakeStore, clock: Clock
    ) -> None:
        ids = await add(store, record(1, key="a"), record(2), record(3, key="a"))
        assert ids == sorted(ids) and len(set(ids)) == 3

        claimed = await store.claim("", "relay-1", 10, 30)
        assert [m.id for m in claimed] == ids
        first = claimed[0]
        assert first.record == OutgoingRecord(
            message_id="m-1",
            destination="dev.shop.public.orders.v1",
            key="a",
            headers=[("ce_id", b"m-1"), ("ce_type", b"Shop.OrderPlaced"), ("bin", b"\x00\xff")],
            body=b'{"n": "1"}',
            available_at=clock.now,
        )
        assert first.owner == "relay-1" and first.attempts == 0
        assert first.lease_until == pytest.approx(clock.now + 30)
        assert claimed[1].record.key is None

        other = await make_store(clock=clock)
        assert await other.claim("", "relay-2", 10, 30) == []
        await store.complete(ids)
        clock.advance(60)  # leases would have expired: sent rows are never claimed again
        assert await other.claim("", "relay-2", 10, 30) == []
        assert (await store.stats()).backlog == 0

    async def test_rolled_back_transaction_leaves_nothing(self, store: MessageStore) -> None:
        with pytest.raises(RuntimeError, match="business rule"):
            async with store.transaction() as tx:
                await tx.add_outgoing([record(1)])
                assert await tx.record_inbox("in-1", "handler")
                raise RuntimeError("business rule")
        assert await store.claim("", "relay", 10, 30) == []
        stats = await store.stats()
        assert (stats.backlog, stats.inbox_size) == (0, 0)

    async def test_claim_filters_by_destination_prefix(self, store: MessageStore) -> None:
        await add(store, record(1), record(2, destination="local:emails"))
        local = await store.claim("local:", "relay", 10, 30)
        assert [m.record.destination for m in local] == ["local:emails"]
        kafka = await store.claim("dev.", "relay", 10, 30)
        assert [m.record.message_id for m in kafka] == ["m-1"]

    async def test_user_connection_is_enlisted(
        self, store: MessageStore, user_connection: Any
    ) -> None:
        await self.begin(user_connection)
        await self.insert_business(user_connection, "kept")
        async with store.transaction(user_connection) as tx:
            assert tx.connection is user_connection
            await tx.add_outgoing([record(1)])
            assert await tx.record_inbox("in-1", "handler")
        assert (await store.stats()).backlog == 0  # not committed yet
        await self.commit(user_connection)
        assert [m.record.message_id for m in await store.claim("", "relay", 10, 30)] == ["m-1"]

        await self.begin(user_connection)
        await self.insert_business(user_connection, "dropped")
        async with store.transaction(user_connection) as tx:
            await tx.add_outgoing([record(2)])
            assert await tx.record_inbox("in-2", "handler")
        await self.rollback(user_connection)
        assert (await store.stats()).backlog == 1  # m-1, claimed but not sent
        assert await store.claim("", "relay", 10, 30) == []
        assert await self.business_count(user_connection) == 1
        assert (await store.stats()).inbox_size == 1

    async def test_store_transaction_connection_carries_business_writes(
        self, store: MessageStore, user_connection: Any
    ) -> None:
        with pytest.raises(RuntimeError):
            async with store.transaction() as tx:
                await self.insert_business(tx.connection, "dropped")
                await tx.add_outgoing([record(1)])
                raise RuntimeError
        async with store.transaction() as tx:
            await self.insert_business(tx.connection, "kept")
            await tx.add_outgoing([record(2)])
        assert await self.business_count(user_connection) == 1
        assert [m.record.message_id for m in await store.claim("", "r", 10, 30)] == ["m-2"]

    # Inbox -----------------------------------------------------------------------------------

    async def test_inbox_detects_redelivery_per_handler(self, store: MessageStore) -> None:
        async with store.transaction() as tx:
            assert await tx.record_inbox("msg-1", "shop.handle") is True
        async with store.transaction() as tx:
            assert await tx.record_inbox("msg-1", "shop.handle") is False
            assert await tx.record_inbox("msg-1", "billing.handle") is True
        with pytest.raises(RuntimeError):
            async with store.transaction() as tx:
                assert await tx.record_inbox("msg-2", "shop.handle") is True
                raise RuntimeError
        assert await store.inbox_recorded([("msg-2", "shop.handle")]) == set()  # rolled back
        async with store.transaction() as tx:
            assert await tx.record_inbox("msg-2", "shop.handle") is True
        assert (await store.stats()).inbox_size == 3
        asked = [("msg-1", "shop.handle"), ("msg-1", "other.handle"), ("msg-2", "shop.handle")]
        assert await store.inbox_recorded(asked) == {asked[0], asked[2]}
        assert await store.inbox_recorded([]) == set()

    async def test_inbox_records_a_batch_in_one_call(self, store: MessageStore) -> None:
        async with store.transaction() as tx:
            assert await tx.record_inbox("m-1", "h") is True
        keys = [("m-1", "h"), ("m-2", "h"), ("m-2", "other"), ("m-2", "h")] + [
            (f"bulk-{n}", "h")
            for n in range(700)  # more than one SQLite statement's worth
        ]
        async with store.transaction() as tx:
            fresh = await tx.record_inboxes(keys)
        assert fresh[:4] == [False, True, True, False]  # known, new, new, repeated in the batch
        assert all(fresh[4:])
        with pytest.raises(RuntimeError):
            async with store.transaction() as tx:
                assert await tx.record_inboxes([("m-3", "h")]) == [True]
                raise RuntimeError
        assert await store.inbox_recorded([*keys, ("m-3", "h")]) == set(keys)
        assert (await store.stats()).inbox_size == 703
        async with store.transaction() as tx:
            assert await tx.record_inboxes([]) == []

    # Claims, leases, order -------------------------------------------------------------------

    # Purge, dead letters, stats --------------------------------------------------------------

    async def test_purge_deletes_sent_rows_and_old_inbox_rows(
        self, store: MessageStore, clock: Clock
    ) -> None:
        ids = await add(store, record(1), record(2), record(3))
        async with store.transaction() as tx:
            await tx.record_inbox("old", "h")
        await store.claim("", "relay", 10, 30)
        await store.complete(ids[:2])
        cutoff = clock.now + 1
        clock.advance(2)
        async with store.transaction() as tx:
            await tx.record_inbox("new", "h")
        counts = await store.purge(sent_before=cutoff, inbox_before=cutoff)
        assert (counts.outbox, counts.inbox) == (2, 1)
        stats = await store.stats()
        assert (stats.backlog, stats.inbox_size) == (1, 1)
        async with store.transaction() as tx:
            assert await tx.record_inbox("new", "h") is False

    async def test_dead_letters_list_filter_take_and_purge(
        self, store: MessageStore, clock: Clock
    ) -> None:
        t0 = clock.now
        letters = [
            dead_letter(
                1,
                message_type="Shop.OrderPlaced",
                exception_type="KeyError",
                tenant="t1",
                failed_at=t0,
            ),
            dead_letter(
                2,
                message_type="Shop.OrderPlaced",
                exception_type="ValueError",
                tenant="t2",
                failed_at=t0 + 10,
            ),
            dead_letter(
                3,
                message_type="Shop.Refund",
                exception_type="ValueError",
                tenant=None,
                failed_at=t0 + 20,
            ),
        ]
        async with store.transaction() as tx:
            ids = [await tx.add_dead_letter(letter) for letter in letters]
        listed = await store.dead_letters()
        assert [d.id for d in listed] == ids
        assert listed[0] == DeadLetter(**{**fields(letters[0]), "id": ids[0]})

        async def found(**criteria: Any) -> list[int | None]:
            return [d.id for d in await store.dead_letters(DeadLetterFilter(**criteria))]

        assert await found(message_type="Shop.OrderPlaced") == ids[:2]
        assert await found(exception_type="ValueError") == ids[1:]
        assert await found(tenant="t2") == [ids[1]]
        assert await found(since=t0 + 5) == ids[1:]
        assert await found(since=t0 + 5, until=t0 + 15) == [ids[1]]
        assert await found(exception_type="ValueError", message_type="Shop.Refund") == [ids[2]]
        assert await found(limit=2) == ids[:2]
        assert await found(ids=[ids[2], ids[0]]) == [ids[0], ids[2]]
        assert (await store.stats()).dead_letters == 3

        async with store.transaction() as tx:  # replay: take and re-send atomically
            taken = await tx.take_dead_letters([ids[0]])
            await tx.add_outgoing([d.record for d in taken])
        assert [d.id for d in taken] == [ids[0]]
        replayed = await store.claim("", "relay", 10, 30)
        assert [m.record for m in replayed] == [
            OutgoingRecord(**{**fields(letters[0].record), "available_at": clock.now})
        ]
        assert await found() == ids[1:]
        async with store.transaction() as tx:
            more = [await tx.add_dead_letter(letter) for letter in letters]
        # the oldest two of the selection (ids[1], ids[2]); the newer ValueError stays
        selection = DeadLetterFilter(exception_type="ValueError", limit=2)
        assert await store.purge_dead_letters(selection) == 2
        assert await found() == more
        assert await store.purge_dead_letters(DeadLetterFilter(tenant="t1")) == 1
        assert await store.purge_dead_letters() == 2
        assert await store.dead_letters() == []

    async def test_dead_letters_are_added_in_one_call(
        self, store: MessageStore, clock: Clock
    ) -> None:
        letters = [
            dead_letter(n, message_type="T", exception_type="E", tenant=None, failed_at=clock.now)
            for n in range(1, 302)
        ]
        async with store.transaction() as tx:
            await tx.add_dead_letters([])
            await tx.add_dead_letters(letters[:1])
            await tx.add_dead_letters(letters[1:])
        listed = await store.dead_letters()  # oldest (lowest id) first: in the given order
        assert [replace(d, id=None) for d in listed] == letters
        ids = [d.id for d in listed]
        assert ids == sorted(ids) and len(set(ids)) == len(letters)
        with pytest.raises(RuntimeError):
            async with store.transaction() as tx:
                await tx.add_dead_letters(letters[:2])
                raise RuntimeError
        assert (await store.stats()).dead_letters == len(letters)

    async def test_poison_letters_are_kept_whatever_their_bytes(
        self, store: MessageStore, clock: Clock
    ) -> None:
        base = dead_letter(1, message_type="T", exception_type="E", tenant=None, failed_at=1)
        nul = replace(
            base,
            record=replace(
                base.record,
                message_id="poison\x00id",
                key="k\x00\ufffd",  # the text of the raw key below, invalid UTF-8 replaced
                headers=[("ce_type", b"A\x00B"), ("ce_id", b"poison\x00id"), ("v", b"\xff")],
                body=b"\x00\xff{",
            ),
            message_type="A\x00B",
            exception_message="[invalid-json] bad \x00 byte",
            tenant="t\x00",
            raw_key=b"k\x00\xff",
        )
        long = replace(base, message_type=HUGE_TYPE, exception_type=HUGE_TYPE[:3000])
        async with store.transaction() as tx:
            ids = [await tx.add_dead_letter(nul), await tx.add_dead_letter(long)]
        first, second = await store.dead_letters()
        assert [first.id, second.id] == ids
        # every byte as read is kept; text fields show a NUL as U+FFFD
        assert first.raw_key == b"k\x00\xff"
        assert first.record.headers == nul.record.headers
        assert first.record.body == b"\x00\xff{"
        assert (first.record.message_id, first.record.key) == ("poison\ufffdid", "k\ufffd\ufffd")
        assert (first.message_type, first.tenant) == ("A\ufffdB", "t\ufffd")
        assert first.exception_message == "[invalid-json] bad \ufffd byte"
        assert replace(second, id=None) == long
        found = await store.dead_letters(DeadLetterFilter(message_type=HUGE_TYPE))
        assert [d.id for d in found] == [ids[1]]
        found = await store.dead_letters(DeadLetterFilter(exception_type=HUGE_TYPE[:3000]))
        assert [d.id for d in found] == [ids[1]]
        async with store.transaction() as tx:
            taken = await tx.take_dead_letters(ids)
        assert [d.raw_key for d in taken] == [b"k\x00\xff", None]

    async def test_stats(self, store: MessageStore, clock: Clock) -> None:
        empty = await store.stats()
        assert (empty.backlog, empty.oldest_pending_age_seconds, empty.dead_letters) == (0, 0, 0)
        await add(store, record(1), record(2, available_at=clock.now + 300))
        clock.advance(5)
        async with store.transaction() as tx:
            await tx.record_inbox("m", "h")
            await tx.add_dead_letter(
                dead_letter(
                    1, message_type="T", exception_type="E", tenant=None, failed_at=clock.now
                )
            )
        stats = await store.stats()
        assert (stats.backlog, stats.dead_letters, stats.inbox_size) == (2, 1, 1)
        assert stats.oldest_pending_age_seconds == pytest.approx(5)

    # Schema, wake-up -------------------------------------------------------------------------

    async def test_newer_schema_version_is_refused(self, store: Any, make_store: MakeStore) -> None:
        await self.set_schema_version(store, 999)
        with pytest.raises(StoreError, match="version 999, newer"):
            await make_store()

    async def test_dead_letters_belong_to_a_consumer_group(
        self, store: MessageStore, clock: Clock
    ) -> None:
        letters = [
            replace(
                dead_letter(n, message_type="T", exception_type="E", tenant=None, failed_at=n),
                group=group,
            )
            for n, group in ((1, "dev.a"), (2, "dev.b"), (3, None))
        ]
        async with store.transaction() as tx:
            ids = [await tx.add_dead_letter(letter) for letter in letters]
        assert [d.group for d in await store.dead_letters()] == ["dev.a", "dev.b", None]
        mine = await store.dead_letters(DeadLetterFilter(group="dev.a"))
        assert [d.id for d in mine] == [ids[0], ids[2]]  # its own, and those of no known group
        assert await store.purge_dead_letters(DeadLetterFilter(group="dev.b")) == 2
        assert [d.id for d in await store.dead_letters()] == [ids[0]]

    async def test_a_version_1_store_is_migrated(
        self, store: Any, make_store: MakeStore, clock: Clock
    ) -> None:
        old = dead_letter(1, message_type="T", exception_type="E", tenant=None, failed_at=1)
        async with store.transaction() as tx:
            await tx.add_dead_letter(old)
        await self.undo_version_4(store)
        await self.undo_version_3(store)
        await self.undo_version_2(store)
        await store.close()
        again = await make_store(clock=clock)
        async with again.transaction() as tx:
            await tx.add_dead_letter(replace(old, group="dev.a"))
        assert [d.group for d in await again.dead_letters()] == [None, "dev.a"]

    async def test_a_version_2_store_is_migrated(
        self, store: Any, make_store: MakeStore, clock: Clock
    ) -> None:
        old = dead_letter(1, message_type="T", exception_type="E", tenant=None, failed_at=1)
        async with store.transaction() as tx:
            await tx.add_dead_letter(old)
        await self.undo_version_4(store)
        await self.undo_version_3(store)
        await store.close()
        again = await make_store(clock=clock)
        poison = replace(old, message_type=HUGE_TYPE, raw_key=b"\x00\xff key")
        async with again.transaction() as tx:
            await tx.add_dead_letter(poison)
        listed = await again.dead_letters()
        assert [(d.raw_key, d.message_type) for d in listed] == [
            (None, "T"),
            (b"\x00\xff key", HUGE_TYPE),
        ]
        assert await again.dead_letters(DeadLetterFilter(message_type=HUGE_TYPE)) == listed[1:]

    async def test_reopening_keeps_the_data(self, store: Any, make_store: MakeStore) -> None:
        await add(store, record(1))
        await store.close()
        again = await make_store()
        assert len(await again.claim("", "relay", 10, 30)) == 1

    async def test_wait_for_work_wakes_on_a_commit_elsewhere(self, make_store: MakeStore) -> None:
        waiter = await make_store()
        writer = await make_store()
        assert await waiter.wait_for_work(0.05) is False
        started = time.monotonic()
        waiting = asyncio.create_task(waiter.wait_for_work(WAKE_TIMEOUT))
        await asyncio.sleep(0)
        await add(writer, record(1))
        assert await asyncio.wait_for(waiting, WAKE_TIMEOUT + 5) is True
        assert time.monotonic() - started < WAKE_TIMEOUT / 2
        assert len(await waiter.claim("", "relay", 10, 30)) == 1

    async def test_wait_for_work_returns_at_once_for_due_rows_and_respects_prefix(
        self, store: MessageStore, make_store: MakeStore
    ) -> None:
        writer = await make_store()
        await add(writer, record(1, destination="local:q"))
        other = await make_store()
        assert await other.wait_for_work(WAKE_TIMEOUT, destination_prefix="local:") is True
        assert await other.wait_for_work(0.05, destination_prefix="dev.") is False
        await other.claim("local:", "relay", 10, 30)
        assert await other.wait_for_work(0.05, destination_prefix="local:") is False

    async def test_closed_store_raises_store_error(self, make_store: MakeStore) -> None:
        store = await make_store()
        await store.close()
        with pytest.raises(StoreError, match="not open"):
            await store.claim("", "relay", 1, 30)


__all__ = ["StoreContract"]
