"""Inbox checks of concurrent deliveries answered by one query, and looked up ahead.

Before a handler that runs outside a store transaction handles an inbound message, the
runtime asks whether that handler already committed it (a redelivery). Every check made
while a query is on its way waits for the next one, which answers them all. A transport that
knows which messages come next (a fetched Kafka batch) has them looked up *ahead*: one query
for the batch, answered before their handlers' turn.

An answer looked up ahead is used once and dropped as soon as the key commits (a later
redelivery then asks again), so it can never hide a commit made after the query read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from momentum.runtime.store import InboxKey, MessageStore

AHEAD_LIMIT = 100_000
"""Answers looked up ahead kept at most (those of records abandoned at a revoke age out)."""


class InboxLookup:
    """Batches :meth:`MessageStore.inbox_recorded` over concurrent callers.

    Args:
        store: The message store.
        max_batch: Keys per query at most.
    """

    def __init__(self, store: MessageStore, max_batch: int = 1000) -> None:
        self._store = store
        self._max_batch = max_batch
        self._asked: list[tuple[InboxKey, asyncio.Future[bool]]] = []
        self._ahead: dict[InboxKey, asyncio.Future[bool]] = {}
        self._worker: asyncio.Task[None] | None = None
        self.queries = 0
        """Queries made so far."""

    def _ask(self, key: InboxKey) -> asyncio.Future[bool]:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._asked.append((key, future))
        if self._worker is None:
            self._worker = asyncio.create_task(self._answer(), name="momentum-inbox-lookup")
        return future

    def ahead(self, keys: Sequence[InboxKey]) -> None:
        """Look ``keys`` up now; :meth:`recorded` uses the answer when their turn comes."""
        ahead = self._ahead
        for key in keys:
            if key not in ahead:
                ahead[key] = self._ask(key)
        while len(ahead) > AHEAD_LIMIT:
            ahead.pop(next(iter(ahead))).cancel()

    def forget(self, key: InboxKey) -> None:
        """``key`` committed: an answer looked up before is out of date."""
        future = self._ahead.pop(key, None)
        if future is not None:
            future.cancel()

    async def recorded(self, key: InboxKey) -> bool:
        """Whether ``key`` (message id, handler) is committed in the inbox.

        Raises:
            StoreError: The query failed (every caller batched with it gets the error).
        """
        future = self._ahead.pop(key, None)
        if future is None or future.cancelled():
            future = self._ask(key)
        return await future

    async def _answer(self) -> None:
        try:
            while self._asked:
                batch = self._asked[: self._max_batch]
                del self._asked[: len(batch)]
                batch = [(key, future) for key, future in batch if not future.done()]
                if not batch:
                    continue
                self.queries += 1
                try:
                    found = await self._store.inbox_recorded([key for key, _ in batch])
                except asyncio.CancelledError:
                    for _, future in batch:
                        future.cancel()
                    raise
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                            future.exception()  # retrieved: an unused answer ahead is no error
                    continue
                for key, future in batch:
                    if not future.done():
                        future.set_result(key in found)
        finally:
            self._worker = None
            for _, future in self._asked:  # cancelled while callers waited
                future.cancel()
            self._asked.clear()

    def close(self) -> None:
        """Drop the answers looked up ahead and stop asking."""
        for future in self._ahead.values():
            future.cancel()
        self._ahead.clear()
        if self._worker is not None:
            self._worker.cancel()
