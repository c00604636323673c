"""SQLite adapter: the embedded message store (outbox, inbox, dead letters) on aiosqlite.

Install with ``pip install 'momentum[sqlite]'``.
"""

from __future__ import annotations

try:
    import aiosqlite  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "momentum.sqlite needs aiosqlite; install it with `pip install 'momentum[sqlite]'`"
    ) from exc

from momentum.sqlite.schema import SCHEMA_VERSION
from momentum.sqlite.store import SqliteStore, sqlite_path

__all__ = ["SCHEMA_VERSION", "SqliteStore", "sqlite_path"]
