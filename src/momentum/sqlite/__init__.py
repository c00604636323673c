"""SQLite adapter: the embedded message store (outbox, inbox, dead letters) on aiosqlite.

aiosqlite comes with ``momentum-messaging`` itself (the embedded default store); the ``sqlite``
extra names it explicitly: ``pip install 'momentum-messaging[sqlite]'``.
"""

from __future__ import annotations

try:
    import aiosqlite  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "momentum.sqlite needs aiosqlite: pip install 'momentum-messaging[sqlite]'"
    ) from exc

from momentum.sqlite.schema import SCHEMA_VERSION
from momentum.sqlite.store import SqliteStore, sqlite_path

__all__ = ["SCHEMA_VERSION", "SqliteStore", "sqlite_path"]
