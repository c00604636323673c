"""A relay process for the SQLite multi-process test: drains the outbox of one file.

Usage: ``python sqlite_relay_process.py DB_FILE LOG_FILE NAME``. Appends ``id key`` to
LOG_FILE (O_APPEND, one write per line) for every claimed row before completing it, and stops
once every row is sent (the test writes all rows first).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from momentum.sqlite import SqliteStore


async def main(db: str, log: str, name: str) -> None:
    store = SqliteStore(db)
    await store.open()
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            batch = await store.claim("", name, 5, 60)
            for message in batch:
                os.write(fd, f"{message.id} {message.record.key} {name}\n".encode())
            if batch:
                await store.complete([m.id for m in batch])
            elif (await store.stats()).backlog == 0:
                return
            else:
                await store.wait_for_work(0.05)
    finally:
        os.close(fd)
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
