"""Helpers of the store contract suite: a settable clock, sample records, waiting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from momentum.runtime.store import DeadLetter, MessageStore, OutgoingRecord

MakeStore = Callable[..., Awaitable[Any]]
"""Opens one more store on the test database: ``await make_store(clock=None)``."""


class Clock:
    """A settable clock, starting at the real time in whole seconds (exact in every store)."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def record(
    n: int | str,
    *,
    key: str | None = None,
    destination: str = "dev.shop.public.orders.v1",
    available_at: float | None = None,
) -> OutgoingRecord:
    return OutgoingRecord(
        message_id=f"m-{n}",
        destination=destination,
        key=key,
        headers=[
            ("ce_id", f"m-{n}".encode()),
            ("ce_type", b"Shop.OrderPlaced"),
            ("bin", b"\x00\xff"),
        ],
        body=f'{{"n": "{n}"}}'.encode(),
        available_at=available_at,
    )


def dead_letter(
    n: int, *, message_type: str, exception_type: str, tenant: str | None, failed_at: float
) -> DeadLetter:
    return DeadLetter(
        record=record(n, key=f"k{n}"),
        message_type=message_type,
        exception_type=exception_type,
        exception_message=f"failure {n}",
        stack="Traceback (most recent call last):\n  ...",
        attempts=3,
        first_failure_at=failed_at - 10,
        last_failure_at=failed_at,
        origin_topic="dev.shop.public.orders.v1",
        origin_partition=2,
        origin_offset=40 + n,
        handler="shop.orders.handle",
        tenant=tenant,
    )


async def add(store: MessageStore, *records: OutgoingRecord) -> list[int]:
    async with store.transaction() as tx:
        return await tx.add_outgoing(records)


async def wait_until(predicate: Callable[[], bool], within: float = 10.0) -> None:
    """Poll ``predicate`` until it holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def fields(value: Any) -> dict[str, Any]:
    return {name: getattr(value, name) for name in value.__slots__}


__all__ = ["Clock", "MakeStore", "add", "dead_letter", "fields", "record", "wait_until"]
