"""Throughput of the message stores (a measurement, not a test).

Run: ``.venv/bin/python tests/stores/measure_throughput.py [postgres-url]``.

* inbox transactions: each transaction records an inbox row and adds one outgoing row (what a
  handler with one cascaded message does), issued by 1 task and by 8 concurrent tasks;
* relay: rows/s drained by claim(limit) + complete(ids) loops, 1 relay and 2 relays, over a
  prefilled outbox of 200 keys plus unkeyed rows.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg

from momentum.postgres import PostgresStore
from momentum.runtime.store import MessageStore, OutgoingRecord
from momentum.sqlite import SqliteStore

HEADERS = [("ce_specversion", b"1.0"), ("ce_type", b"Shop.OrderPlaced"), ("ce_id", b"x" * 36)]
BODY = b'{"orderId": "6f1c0d1e-9a57-4c1f-8d7e-1f2b3c4d5e6f", "total": "12.50"}' * 3


def outgoing(n: int, key: str | None) -> OutgoingRecord:
    return OutgoingRecord(f"m-{n}", "dev.shop.public.orders.v1", key, HEADERS, BODY)


async def inbox_transactions(store: MessageStore, total: int, tasks: int) -> float:
    counter = iter(range(total))

    async def worker() -> None:
        for n in counter:
            async with store.transaction() as tx:
                if await tx.record_inbox(f"in-{n}", "shop.handle"):
                    await tx.add_outgoing([outgoing(n, f"k{n % 200}")])

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return total / (time.perf_counter() - started)


async def drain(stores: list[MessageStore], total: int, limit: int) -> float:
    done = 0

    async def relay(store: MessageStore, name: str) -> None:
        nonlocal done
        while done < total:
            batch = await store.claim("", name, limit, 60)
            if batch:
                await store.complete([m.id for m in batch])
                done += len(batch)
            else:
                await store.wait_for_work(0.01)

    started = time.perf_counter()
    await asyncio.gather(*(relay(store, f"relay-{i}") for i, store in enumerate(stores)))
    return total / (time.perf_counter() - started)


async def prefill(store: MessageStore, total: int) -> None:
    rng = random.Random(1)
    for start in range(0, total, 500):
        async with store.transaction() as tx:
            await tx.add_outgoing(
                [
                    outgoing(n, rng.choice([*(f"k{i}" for i in range(200)), None]))
                    for n in range(start, start + 500)
                ]
            )


async def measure(
    name: str,
    make: Callable[[], Awaitable[Any]],
    reset: Callable[[], Awaitable[None]],
    analyze: Callable[[], Awaitable[None]] | None = None,
) -> None:
    for tasks in (1, 8):
        await reset()
        store = await make()
        rate = await inbox_transactions(store, 2000, tasks)
        print(f"{name}: inbox+outbox transactions, {tasks} task(s): {rate:,.0f}/s")
        await store.close()
    for relays in (1, 2):
        for limit in (100,):
            await reset()
            stores = [await make() for _ in range(relays)]
            await prefill(stores[0], 20_000)
            if analyze is not None:
                await analyze()
            rate = await drain(stores, 20_000, limit)
            print(
                f"{name}: claim+complete, {relays} relay(s), batches of {limit}: {rate:,.0f} rows/s"
            )
            for store in stores:
                await store.close()


async def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "postgresql://postgres@127.0.0.1:5432/postgres"
    with tempfile.TemporaryDirectory() as directory:
        files = iter(range(1000))
        path = Path(directory) / "bench.db"

        async def reset_sqlite() -> None:  # a fresh file each time
            nonlocal path
            path = Path(directory) / f"bench-{next(files)}.db"

        async def make_sqlite() -> SqliteStore:
            store = SqliteStore(path)
            await store.open()
            return store

        await measure("sqlite", make_sqlite, reset_sqlite)

    schema = f"bench_{random.randrange(1 << 30)}"

    async def reset_postgres() -> None:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

    async def make_postgres() -> PostgresStore:
        store = PostgresStore(url, schema=schema, max_size=10)
        await store.open()
        return store

    async def analyze_postgres() -> None:  # what autovacuum does soon after a burst
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute(f"ANALYZE {schema}.outbox")

    try:
        await measure("postgres (fresh table, no statistics)", make_postgres, reset_postgres)
        await measure("postgres", make_postgres, reset_postgres, analyze_postgres)
    finally:
        await reset_postgres()


if __name__ == "__main__":
    asyncio.run(main())
