"""A password in ``MOMENTUM_DATABASE_URL`` reaches psycopg, and is masked where it is shown."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest

from momentum import MomentumSettings, Service
from momentum.postgres import PostgresStore
from momentum.settings import StoreSettings

pytestmark = pytest.mark.postgres


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username or 'postgres'}:{password}@{parts.hostname}:{parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=netloc))


async def test_the_database_password_reaches_psycopg(
    database_url: str, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the test server trusts loopback, so any password connects: what matters is that the
    # connection was made with the real one, not with the masked text
    password = "pw-" + unique_name
    monkeypatch.setenv("MOMENTUM_DATABASE_URL", _with_password(database_url, password))
    settings = MomentumSettings(store=StoreSettings(schema_name=unique_name))
    assert password not in repr(settings) + str(settings) + settings.model_dump_json()
    store = Service("credentials", "Shop", settings=settings).store
    assert isinstance(store, PostgresStore)
    await store.open()
    try:
        async with store.transaction() as tx:
            assert tx.connection.info.password == password
    finally:
        await store.drop_schema()
        await store.close()
