"""The ordering part of the store contract: claims, leases, delays and concurrent relays."""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict, deque

import pytest
from store_support import Clock, MakeStore, add, dead_letter, record

from momentum.runtime.store import MessageStore


class OrderingContract:
    """Claims are disjoint and keep each stream (destination, key) in id order."""

    fair_write_lock = True
    """Whether waiting claimers get their turn; SQLite's busy handler may starve all but one
    (still correct, so the concurrent test then skips only its "everyone took part" check)."""

    async def test_concurrent_claimers_get_disjoint_rows_and_keep_per_key_order(
        self, make_store: MakeStore
    ) -> None:
        writer = await make_store()
        keys = [f"tenant-{i}" for i in range(12)]
        rng = random.Random(7)
        records = [record(n, key=rng.choice([*keys, None])) for n in range(240)]  # type: ignore[list-item]
        for start in range(0, len(records), 40):
            await add(writer, *records[start : start + 40])
        key_of = {}
        published: dict[str | None, list[int]] = defaultdict(list)
        claimed_by: dict[int, str] = {}
        total = len(records)

        stores = [await make_store() for _ in range(3)]

        async def relay(name: str, seed: int) -> None:
            store = stores[seed - 1]
            local = random.Random(seed)
            deadline = time.monotonic() + 60
            while len(claimed_by) < total:
                assert time.monotonic() < deadline, "relays did not drain the outbox"
                batch = await store.claim("", name, local.randint(1, 9), 60)
                for message in batch:
                    assert message.id not in claimed_by, f"row {message.id} claimed twice"
                    claimed_by[message.id] = name
                    key_of[message.id] = message.record.key
                    published[message.record.key].append(message.id)
                    await asyncio.sleep(0)  # let the other relays run while "publishing"
                await asyncio.sleep(0.001)  # broker latency: the file lock is free meanwhile
                if batch:
                    await store.complete([m.id for m in batch])

        await asyncio.gather(relay("relay-a", 1), relay("relay-b", 2), relay("relay-c", 3))
        assert len(claimed_by) == total
        if self.fair_write_lock:
            assert len(set(claimed_by.values())) >= 2, "the relays did not run concurrently"
        for key, ids in published.items():
            if key is not None:
                assert ids == sorted(ids), f"stream {key} published out of order"
        assert (await writer.stats()).backlog == 0

    async def test_concurrent_writers_and_relays_keep_each_stream_in_id_order(
        self, make_store: MakeStore
    ) -> None:
        writers = [await make_store() for _ in range(3)]
        relays = [await make_store() for _ in range(2)]
        per_writer = 60
        total = per_writer * len(writers)
        published: dict[str | None, list[int]] = defaultdict(list)
        written: dict[str, list[int]] = defaultdict(list)
        seen: set[int] = set()

        async def write(store: MessageStore, w: int) -> None:
            for n in range(per_writer):
                [row_id] = await add(store, record(f"{w}-{n}", key=f"k{n % 4}"))
                written[f"{w}-k{n % 4}"].append(row_id)

        async def relay(store: MessageStore, name: str) -> None:
            deadline = time.monotonic() + 60
            while len(seen) < total:
                assert time.monotonic() < deadline, "relays did not drain the outbox"
                batch = await store.claim("", name, 5, 60)
                for message in batch:
                    assert message.id not in seen, f"row {message.id} claimed twice"
                    seen.add(message.id)
                    published[message.record.key].append(message.id)
                await asyncio.sleep(0.001)
                if batch:
                    await store.complete([m.id for m in batch])

        await asyncio.gather(
            *(write(store, w) for w, store in enumerate(writers)),
            *(relay(store, f"relay-{r}") for r, store in enumerate(relays)),
        )
        for key, order in published.items():
            assert order == sorted(order), f"stream {key} published out of order"
        for stream, ids in written.items():  # a writer's own messages keep its order
            assert ids == sorted(ids), stream

    async def test_interleaved_owners_never_overtake_rows_in_flight(
        self, make_store: MakeStore
    ) -> None:
        # Deterministic schedule: three owners take turns; each batch stays in flight (leased,
        # unsent) while the next two owners claim, then is completed.
        relays = [await make_store() for _ in range(3)]
        rng = random.Random(11)
        ids = await add(relays[0], *(record(n, key=rng.choice("abcde")) for n in range(150)))
        key_of: dict[int, str | None] = {}
        published: dict[str | None, list[int]] = defaultdict(list)
        in_flight: deque[tuple[MessageStore, list[int]]] = deque()
        seen: set[int] = set()
        step = 0
        while len(seen) < len(ids) or in_flight:
            assert step < 2000, "the schedule did not drain the outbox"
            relay = relays[step % 3]
            batch = await relay.claim("", f"relay-{step % 3}", rng.randint(1, 6), 60)
            for message in batch:
                assert message.id not in seen, f"row {message.id} claimed twice"
                seen.add(message.id)
                key_of[message.id] = message.record.key
                published[message.record.key].append(message.id)
            if batch:
                in_flight.append((relay, [m.id for m in batch]))
            if len(in_flight) > 2 or (not batch and in_flight):
                owner, done = in_flight.popleft()
                await owner.complete(done)
            step += 1
        for key, order in published.items():
            assert order == sorted(order), f"stream {key} published out of order"
        assert sorted(seen) == ids

    async def test_claim_returns_a_streams_run_and_blocks_the_rest(
        self, store: MessageStore, make_store: MakeStore, clock: Clock
    ) -> None:
        ids = await add(store, record(1, key="k"), record(2, key="k"), record(3, key="j"))
        first = await store.claim("", "a", 2, 30)
        assert [m.id for m in first] == [ids[0], ids[2]]  # stream heads come first
        other = await make_store(clock=clock)
        assert await other.claim("", "b", 10, 30) == []  # row 2 waits for row 1
        await store.complete([ids[0]])
        assert [m.id for m in await other.claim("", "b", 10, 30)] == [ids[1]]
        later = await add(store, record(4, key="k"), record(5, key="k"))
        assert await store.claim("", "a", 10, 30) == []  # row 2 of k is in flight
        await other.complete([ids[1]])
        assert [m.id for m in await store.claim("", "a", 10, 30)] == later  # a run of k

    async def test_claim_fills_its_batch_with_heads_then_followers_in_id_order(
        self, store: MessageStore, make_store: MakeStore, clock: Clock
    ) -> None:
        # 3 keys interleaved, one unkeyed row, and a stream whose head another relay holds.
        held = await add(store, record("h0", key="held"))
        assert [m.id for m in await store.claim("", "other", 1, 30)] == held
        rows = [record(n, key=None if n == 4 else "abc"[n % 3]) for n in range(30)]
        ids = await add(store, *rows, record("h1", key="held"), record("h2", key="held"))
        first = await store.claim("", "relay", 12, 30)
        heads = [ids[0], ids[1], ids[2], ids[4]]  # a, b, c (ids 0-2) and the unkeyed row
        followers = [i for i in ids[3:30] if i != ids[4]][:8]
        assert [m.id for m in first] == sorted(heads + followers)
        assert await store.claim("", "relay", 100, 30) == []  # every stream is in flight
        await store.complete([m.id for m in first])
        second = await store.claim("", "relay", 100, 30)
        taken = {m.id for m in first}
        assert [m.id for m in second] == [i for i in ids[:30] if i not in taken]
        await store.complete([m.id for m in second])
        clock.advance(31)  # the held stream's lease expired: its whole run comes in order
        assert [m.id for m in await store.claim("", "relay", 100, 30)] == [*held, *ids[30:]]

    async def test_expired_lease_is_taken_over(
        self, store: MessageStore, make_store: MakeStore, clock: Clock
    ) -> None:
        ids = await add(store, record(1, key="k"), record(2, key="k"))
        assert [m.id for m in await store.claim("", "crashed", 10, 30)] == ids
        other = await make_store(clock=clock)
        assert await other.claim("", "survivor", 10, 30) == []
        clock.advance(31)
        taken = await other.claim("", "survivor", 10, 30)
        assert [m.id for m in taken] == ids and {m.owner for m in taken} == {"survivor"}
        assert await store.release(ids, owner="crashed") == 0  # stale owner changes nothing
        await store.complete(ids)  # publishing twice is allowed; it stays sent
        assert await other.claim("", "survivor", 10, 30) == []

    async def test_release_with_delay_holds_back_its_stream(
        self, store: MessageStore, clock: Clock
    ) -> None:
        ids = await add(store, record(1, key="k"), record(2, key="k"), record(3, key="j"))
        claimed = await store.claim("", "relay", 1, 30)
        assert [m.id for m in claimed] == [ids[0]]
        released = await store.release(
            [ids[0]], owner="relay", available_at=clock.now + 60, error="broker down"
        )
        assert released == 1
        assert [m.id for m in await store.claim("", "relay", 10, 30)] == [ids[2]]
        await store.complete([ids[2]])
        clock.advance(61)
        retried = await store.claim("", "relay", 10, 30)
        assert [m.id for m in retried] == ids[:2]
        assert (retried[0].attempts, retried[0].last_error) == (1, "broker down")
        assert retried[0].available_at == pytest.approx(clock.now - 1)

    async def test_release_without_delay_makes_rows_claimable_again(
        self, store: MessageStore
    ) -> None:
        ids = await add(store, record(1))
        await store.claim("", "relay", 10, 30)
        assert await store.release(ids, owner="relay", error="oops") == 1
        again = await store.claim("", "relay", 10, 30)
        assert [(m.id, m.attempts) for m in again] == [(ids[0], 1)]

    async def test_claimed_rows_are_held_while_the_block_runs_and_settled_in_it(
        self, store: MessageStore, make_store: MakeStore, clock: Clock
    ) -> None:
        ids = await add(
            store, record(1, key="k"), record(2, key="k"), record(3, key="j"), record(4)
        )
        other = await make_store(clock=clock)
        letter = dead_letter(9, message_type="T", exception_type="E", tenant=None, failed_at=1)
        async with store.claimed("", "relay", 10, 30) as claimed:
            assert [m.id for m in claimed.rows] == ids
            assert await other.claim("", "other", 10, 30) == []  # held: nothing, no follower
            await claimed.complete([ids[0], ids[3]])
            await claimed.release([ids[1]], available_at=clock.now + 60, error="broker down")
            await claimed.bury(ids[2], letter)
        assert await other.claim("", "other", 10, 30) == []  # 2 waits for its back-off
        assert [d.exception_type for d in await store.dead_letters()] == ["E"]
        clock.advance(61)
        retried = await other.claim("", "other", 10, 30)
        assert [(m.id, m.attempts, m.last_error) for m in retried] == [(ids[1], 1, "broker down")]

    async def test_claimed_rows_left_unsettled_are_claimable_again(
        self, store: MessageStore, make_store: MakeStore, clock: Clock
    ) -> None:
        ids = await add(store, record(1, key="k"), record(2, key="k"))
        async with store.claimed("", "relay", 1, 30) as claimed:
            assert [m.id for m in claimed.rows] == ids[:1]
        async with store.claimed("", "relay", 10, 30) as again:  # not settled here either
            # still leased (a leasing store) or free at once (row locks ended with the block)
            assert [m.id for m in again.rows] in ([], ids)
        clock.advance(31)  # at the latest once the lease expired
        taken = await (await make_store(clock=clock)).claim("", "other", 10, 30)
        assert [(m.id, m.attempts) for m in taken] == [(ids[0], 0), (ids[1], 0)]

    async def test_scheduled_row_waits_without_blocking_its_stream(
        self, store: MessageStore, clock: Clock
    ) -> None:
        later = await add(store, record(1, key="k", available_at=clock.now + 100))
        now = await add(store, record(2, key="k"))
        assert [m.id for m in await store.claim("", "relay", 10, 30)] == now
        assert (await store.stats()).backlog == 2
        await store.complete(now)
        clock.advance(101)
        assert [m.id for m in await store.claim("", "relay", 10, 30)] == later

    async def test_rows_leased_in_a_claim_stay_held_after_it_and_are_settled_later(
        self, store: MessageStore, make_store: MakeStore, clock: Clock
    ) -> None:
        ids = await add(store, record(1, key="k"), record(2, key="k"), record(3, key="j"))
        other = await make_store(clock=clock)
        async with store.claimed("", "relay", 1, 30) as claimed:
            assert [m.id for m in claimed.rows] == ids[:1]
            await claimed.lease(ids[:1], 10)  # still in flight when the claim ends
        # the leased row and its stream's followers are held; the other stream is free
        assert [m.id for m in await other.claim("", "other", 10, 30)] == [ids[2]]
        await other.complete([ids[2]])
        clock.advance(8)
        assert await store.extend_lease(ids, owner="relay", lease_seconds=10) == 1
        assert await store.extend_lease(ids[:1], owner="other", lease_seconds=10) == 0
        clock.advance(8)  # 16 s after the claim: the renewed lease holds
        assert await other.claim("", "other", 10, 30) == []
        assert await store.release(ids[:1], owner="relay", error="unknown topic") == 1
        retried = await other.claim("", "other", 10, 30)
        assert [(m.id, m.attempts, m.owner) for m in retried] == [
            (ids[0], 1, "other"),
            (ids[1], 0, "other"),
        ]

    async def test_a_lease_taken_in_a_claim_expires_and_renewing_a_sent_row_does_nothing(
        self, store: MessageStore, make_store: MakeStore, clock: Clock
    ) -> None:
        ids = await add(store, record(1, key="k"), record(2, key="k"))
        async with store.claimed("", "crashed", 10, 30) as claimed:
            await claimed.complete(ids[1:])  # acknowledged already
            await claimed.lease(ids[:1], 5)
        other = await make_store(clock=clock)
        assert await other.claim("", "survivor", 10, 30) == []
        clock.advance(6)  # the relay holding it died: its lease expires
        assert [m.id for m in await other.claim("", "survivor", 10, 30)] == ids[:1]
        assert await store.extend_lease(ids, owner="crashed", lease_seconds=30) == 0
        await other.complete(ids[:1])
        assert await store.extend_lease(ids, owner="survivor", lease_seconds=30) == 0
