"""`momentum outbox status` reads a real store's counts (SQLite file, PostgreSQL schema).

This module is the CLI's target (`test_outbox:create_service`); the store comes from
MOMENTUM_DATABASE_URL (and MOMENTUM_STORE__SCHEMA_NAME on PostgreSQL), set per test.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from momentum import Service
from momentum.cli import app
from momentum.runtime.store import DeadLetter, OutgoingRecord

TARGET = f"{__name__}:create_service"
runner = CliRunner()


def create_service() -> Service:
    return Service("outbox-cli", "CliOutbox")


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'outbox.db'}"
        monkeypatch.setenv("MOMENTUM_DATABASE_URL", url)
        yield url
        return
    url = request.getfixturevalue("database_url")
    monkeypatch.setenv("MOMENTUM_DATABASE_URL", url)
    monkeypatch.setenv("MOMENTUM_STORE__SCHEMA_NAME", unique_name)
    yield url
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{unique_name}" CASCADE')


def fill(pending: int, dead: int, handled: int) -> None:
    """Write unsent outbox rows, dead letters and inbox rows as a running service would."""

    async def run() -> None:
        store = create_service().store
        assert store is not None
        await store.open()
        try:
            topic = "dev.clioutbox.public.things.v1"
            records = [OutgoingRecord(f"m-{n}", topic, "k", [], b"{}") for n in range(pending)]
            now = time.time()
            async with store.transaction() as tx:
                await tx.add_outgoing(records)
                for n in range(handled):
                    await tx.record_inbox(f"m-{n}", "things.handle")
                for _ in range(dead):
                    await tx.add_dead_letter(
                        DeadLetter(records[0], "Thing", "app.Boom", "boom", "", 3, now, now)
                    )
        finally:
            await store.close()

    asyncio.run(run())


def test_status_reports_backlog_age_dead_letters_and_inbox(store: str) -> None:
    fill(pending=2, dead=1, handled=3)
    result = cli("outbox", "status", TARGET, "--json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert stats["service"] == "outbox-cli"
    assert (stats["backlog"], stats["dead_letters"], stats["inbox_size"]) == (2, 1, 3)
    assert 0 <= stats["oldest_pending_age_seconds"] < 600
    assert "outbox.db" in stats["store"] or "(schema t_test_status" in stats["store"]

    text = cli("outbox", "status", TARGET)
    assert text.exit_code == 0, text.output
    assert "outbox-cli" in text.stdout
    assert "2 unsent" in text.stdout and "3 handled" in text.stdout


def test_status_of_an_empty_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOMENTUM_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    fill(pending=0, dead=0, handled=0)
    result = cli("outbox", "status", TARGET, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) | {"store": ""} == {
        "service": "outbox-cli",
        "store": "",
        "backlog": 0,
        "oldest_pending_age_seconds": 0.0,
        "dead_letters": 0,
        "inbox_size": 0,
    }


def test_status_names_an_unreachable_store_with_its_password_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOMENTUM_DATABASE_URL", "postgresql://ops:hunter2@127.0.0.1:1/db")
    result = cli("outbox", "status", TARGET)
    assert result.exit_code == 1
    assert "postgresql://ops:***@127.0.0.1:1/db" in result.output
    assert "hunter2" not in result.output
