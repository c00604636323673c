"""PostgreSQL adapter: the message store (outbox, inbox, dead letters) on psycopg 3.

Install with ``pip install 'momentum-messaging[postgres]'``.
"""

from __future__ import annotations

try:
    import psycopg  # noqa: F401
    import psycopg_pool  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "momentum.postgres needs psycopg 3 and psycopg-pool: "
        "pip install 'momentum-messaging[postgres]'"
    ) from exc

from momentum.postgres.schema import SCHEMA_VERSION
from momentum.postgres.store import PostgresStore

__all__ = ["SCHEMA_VERSION", "PostgresStore"]
