"""LISTEN/NOTIFY wake-up: a dedicated connection that reconnects when it is lost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import psycopg
from psycopg import AsyncConnection, sql

_log = logging.getLogger("momentum.postgres")

_MAX_BACKOFF = 2.0


class NotifyListener:
    """Listens on one channel and calls ``on_notify`` for each notification.

    When the connection is lost (server restart, ``pg_terminate_backend``) it reconnects with
    a growing back-off and calls ``on_notify`` once connected again, since notifications sent
    in between were missed.
    """

    def __init__(
        self,
        conninfo: str,
        channel: str,
        on_notify: Callable[[], None],
        *,
        display_url: str,
        connect_timeout: float,
        application_name: str,
    ) -> None:
        self._conninfo = conninfo
        self._channel = channel
        self._on_notify = on_notify
        self._display_url = display_url
        self._connect_timeout = connect_timeout
        self._application_name = application_name
        self._connection: AsyncConnection[object] | None = None
        self._task: asyncio.Task[None] | None = None
        self.reconnects = 0
        """How many times the connection was re-established (diagnostics, tests)."""

    @property
    def backend_pid(self) -> int | None:
        """Server process id of the listening connection, while connected."""
        return self._connection.info.backend_pid if self._connection is not None else None

    async def start(self) -> None:
        """Connect and listen; raises the driver error when the first connection fails."""
        self._connection = await self._connect()
        self._task = asyncio.create_task(self._run(), name=f"momentum-listen-{self._channel}")

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._connection is not None:
            with contextlib.suppress(psycopg.Error):
                await self._connection.close()
            self._connection = None

    async def _connect(self) -> AsyncConnection[object]:
        connection = await AsyncConnection.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=max(1, round(self._connect_timeout)),
            application_name=self._application_name,
        )
        await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        return connection

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            connection = self._connection
            try:
                if connection is None:
                    connection = self._connection = await self._connect()
                    self.reconnects += 1
                    backoff = 0.05
                    self._on_notify()  # notifications may have been missed meanwhile
                async for _ in connection.notifies():
                    self._on_notify()
            except Exception as exc:  # keep listening whatever broke; polling covers the gap
                _log.warning(
                    "LISTEN connection to %s lost (%s); reconnecting in %.2fs",
                    self._display_url,
                    type(exc).__name__,
                    backoff,
                    exc_info=not isinstance(exc, psycopg.Error | OSError),
                )
                if connection is not None:
                    with contextlib.suppress(psycopg.Error):
                        await connection.close()
                self._connection = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
