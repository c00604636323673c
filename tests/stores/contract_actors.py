"""The actor-state part of the store contract: optimistic saves, loads, the migration."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from store_support import Clock, MakeStore, add, record

from momentum.contracts.errors import StoreError
from momentum.runtime.actor_states import ActorStateWrite
from momentum.runtime.store import MessageStore

INVOICE = "shop.InvoiceActor"


def write(key: str, expected: int, state: str, **reminders: str) -> ActorStateWrite:
    return ActorStateWrite(INVOICE, key, expected, state.encode(), reminders)


async def save(store: MessageStore, *writes: ActorStateWrite) -> list[bool]:
    async with store.transaction() as tx:
        return await tx.save_actor_states(writes)


async def states(store: MessageStore, *keys: str) -> dict[str, tuple[int, bytes, dict[str, str]]]:
    found = await store.load_actor_states(INVOICE, keys)
    return {key: (s.version, s.state, dict(s.reminders)) for key, s in found.items()}


class ActorStateContract:
    """Actor states are saved only over the version their writer read."""

    async def undo_version_4(self, store: Any) -> None:
        """Turn the store's tables back into what schema version 3 created."""
        raise NotImplementedError

    async def test_a_new_actor_is_created_at_version_1_and_loaded_back(
        self, store: MessageStore, clock: Clock
    ) -> None:
        assert await store.load_actor_states(INVOICE, ["a"]) == {}
        assert await save(store, write("a", 0, '{"paid": 1}', overdue="m-7")) == [True]
        [loaded] = (await store.load_actor_states(INVOICE, ["a", "missing"])).values()
        assert (loaded.actor_type, loaded.key, loaded.version) == (INVOICE, "a", 1)
        assert (loaded.state, dict(loaded.reminders)) == (b'{"paid": 1}', {"overdue": "m-7"})
        assert loaded.updated_at == pytest.approx(clock.now, abs=0.001)

    async def test_a_save_over_the_version_read_advances_it_and_a_stale_one_changes_nothing(
        self, store: MessageStore, clock: Clock
    ) -> None:
        await save(store, write("a", 0, "v1", r="x"))
        clock.advance(5)
        assert await save(store, write("a", 1, "v2")) == [True]
        assert await states(store, "a") == {"a": (2, b"v2", {})}
        assert await save(store, write("a", 1, "stale")) == [False]  # another writer was first
        assert await save(store, write("a", 0, "stale")) == [False]  # it exists already
        assert await states(store, "a") == {"a": (2, b"v2", {})}
        assert (await store.load_actor_states(INVOICE, ["a"]))["a"].updated_at == pytest.approx(
            clock.now, abs=0.001
        )

    async def test_each_write_of_a_batch_gets_its_own_answer(self, store: MessageStore) -> None:
        await save(store, write("a", 0, "a1"), write("b", 0, "b1"))
        answers = await save(
            store,
            write("a", 1, "a2"),
            write("b", 7, "b-stale"),
            write("c", 0, "c1"),
            write("b2", 0, "new"),
        )
        assert answers == [True, False, True, True]
        assert await states(store, "a", "b", "c", "b2") == {
            "a": (2, b"a2", {}),
            "b": (1, b"b1", {}),
            "c": (1, b"c1", {}),
            "b2": (1, b"new", {}),
        }

    async def test_actor_types_and_keys_are_separate(self, store: MessageStore) -> None:
        async with store.transaction() as tx:
            await tx.save_actor_states(
                [write("k", 0, "invoice"), ActorStateWrite("shop.CartActor", "k", 0, b"cart")]
            )
        assert (await store.load_actor_states("shop.CartActor", ["k"]))["k"].state == b"cart"
        assert await states(store, "k", "K") == {"k": (1, b"invoice", {})}

    async def test_state_inbox_and_outbox_roll_back_together(self, store: MessageStore) -> None:
        with pytest.raises(RuntimeError):
            async with store.transaction() as tx:
                assert await tx.record_inboxes([("m-1", "h")]) == [True]
                await tx.add_outgoing([record(1, key="a")])
                assert await tx.save_actor_states([write("a", 0, "v1")]) == [True]
                raise RuntimeError("the handler's batch failed")
        assert await states(store, "a") == {}
        assert await store.inbox_recorded([("m-1", "h")]) == set()
        assert (await store.stats()).backlog == 0

    async def test_of_two_writers_that_read_one_version_only_the_first_commits(
        self, make_store: MakeStore, clock: Clock
    ) -> None:
        first, second = await make_store(clock=clock), await make_store(clock=clock)
        await save(first, write("a", 0, "v1"))
        holding = asyncio.Event()
        release = asyncio.Event()

        async def slow_writer() -> list[bool]:
            async with first.transaction() as tx:
                saved = await tx.save_actor_states([write("a", 1, "first")])
                holding.set()
                await release.wait()
                return saved

        task = asyncio.create_task(slow_writer())
        await holding.wait()
        # the second writer read version 1 too; it waits for the first one's transaction
        racing = asyncio.create_task(save(second, write("a", 1, "second")))
        await asyncio.sleep(0.2)
        assert not racing.done()
        release.set()
        assert await task == [True]
        assert await racing == [False]
        assert await states(second, "a") == {"a": (2, b"first", {})}

    async def test_loading_many_keys_takes_one_call(self, store: MessageStore) -> None:
        keys = [f"k{n}" for n in range(1500)]
        async with store.transaction() as tx:
            await tx.save_actor_states([write(k, 0, k) for k in keys])
        found = await store.load_actor_states(INVOICE, keys)
        assert len(found) == 1500 and found["k1499"].state == b"k1499"

    async def test_cancelled_scheduled_rows_are_done_and_never_claimed(
        self, store: MessageStore, clock: Clock
    ) -> None:
        later = clock.now + 60
        await add(
            store,
            record(1, destination="local:g/r", key="a", available_at=later),
            record(2, destination="local:g/r", key="a", available_at=later),
            record(3, destination="local:g/other", key="a", available_at=later),
        )
        async with store.transaction() as tx:
            assert await tx.cancel_outgoing("local:g/r", ["m-1", "m-3", "m-9"]) == 1
        assert (await store.stats()).backlog == 2
        clock.advance(61)
        claimed = await store.claim("local:", "queue", 10, 30)
        assert sorted(m.record.message_id for m in claimed) == ["m-2", "m-3"]
        async with store.transaction() as tx:  # cancelling twice changes nothing
            assert await tx.cancel_outgoing("local:g/r", ["m-1"]) == 0

    async def test_a_version_3_store_gets_the_actor_states(
        self, store: Any, make_store: MakeStore, clock: Clock
    ) -> None:
        await self.undo_version_4(store)
        await store.close()
        again = await make_store(clock=clock)
        assert await save(again, write("a", 0, "v1")) == [True]
        assert await states(again, "a") == {"a": (1, b"v1", {})}

    async def test_a_closed_store_refuses_to_load(self, make_store: MakeStore) -> None:
        store = await make_store()
        await store.close()
        with pytest.raises(StoreError, match="not open"):
            await store.load_actor_states(INVOICE, ["a"])


__all__ = ["ActorStateContract"]
