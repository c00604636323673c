"""`momentum dlq` on the dead letters of a real store (SQLite file, PostgreSQL schema).

This module is also the CLI's target (`test_dlq:create_service`): its handlers fail until
``HEALTH["healthy"]`` is set, and the error rule dead-letters at once. Dead letters come from
a real run of the service (an inbound integration event over the in-memory broker, and a
local command); the CLI runs in this process through typer's CliRunner. Every instance of the
service in a test shares one broker (`BROKER`), as the instances of a deployed service share
their Kafka cluster: a replay only publishes, the running instances consume.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import pytest
from typer.testing import CliRunner

from momentum import Command, PartitionKey, Service, event_topic
from momentum.cli import app
from momentum.runtime.policies import ErrorRule
from momentum.testing import InMemoryBroker


@event_topic("crates", domain="CliDlq")
@dataclass(frozen=True)
class CrateShipped:
    tenant_id: str
    crate: Annotated[str, PartitionKey()]
    seq: int


@dataclass(frozen=True)
class StackCrate(Command[None]):
    crate: Annotated[str, PartitionKey()]
    seq: int


class CrateJammedError(Exception):
    pass


class ForkliftError(Exception):
    pass


HEALTH = {"healthy": False}
HANDLED: list[str] = []
BROKER = InMemoryBroker()


async def on_crate(event: CrateShipped) -> None:
    if not HEALTH["healthy"]:
        raise CrateJammedError(f"crate {event.seq} jammed")
    HANDLED.append(f"crate {event.seq}")


async def stack(command: StackCrate) -> None:
    if not HEALTH["healthy"]:
        raise ForkliftError(f"no forklift for {command.seq}")
    HANDLED.append(f"stack {command.seq}")


def create_service() -> Service:
    """The CLI's target; its store comes from MOMENTUM_DATABASE_URL (set by the fixtures)."""
    service = Service("dlq-cli", "CliDlq", transport=BROKER.transport())
    service.add_handler(on_crate)
    service.add_handler(stack)
    service.on_error(ErrorRule.on(CrateJammedError, ForkliftError).dead_letter())
    return service


TARGET = f"{__name__}:create_service"
CRATE_ERROR = f"{__name__}.CrateJammedError"
FORKLIFT_ERROR = f"{__name__}.ForkliftError"
runner = CliRunner()


def cli(*args: str, input: str | None = None) -> Any:
    return runner.invoke(app, list(args), input=input, env={"COLUMNS": "240"})


def listed(*filters: str) -> list[dict[str, Any]]:
    result = cli("dlq", "list", TARGET, "--json", *filters)
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def produce(crates: list[tuple[str, int]], stacks: int = 0) -> None:
    """Run the service once: crates (tenant, seq) come in over the broker, stacks locally."""

    async def run() -> None:
        service = create_service()
        async with service:
            async with service.tracked(), service.bus.transaction():
                for tenant, seq in crates:  # outbox -> relay -> broker, as on Kafka
                    await service.bus.publish(CrateShipped(tenant, f"crate-{seq}", seq))
            async with service.tracked():
                for seq in range(stacks):
                    await service.bus.send(StackCrate(f"crate-{seq}", seq))

    asyncio.run(run())


def handle_replayed() -> list[Any]:
    """What the replay published, handled by a running instance of the service (its records)."""
    from momentum.runtime.replay import REPLAY_GROUP_HEADER

    replayed = [
        r for r in BROKER.records if any(name == REPLAY_GROUP_HEADER for name, _ in r.headers)
    ]

    async def run() -> None:
        service = create_service()
        async with service, service.tracked():
            for record in replayed:  # as the running instance's consumer reads them
                BROKER.publish_record(record)

    asyncio.run(run())
    return replayed


@pytest.fixture(autouse=True)
def broken_handlers() -> Iterator[None]:
    global BROKER
    BROKER = InMemoryBroker()
    HEALTH["healthy"] = False
    HANDLED.clear()
    yield
    HEALTH["healthy"] = False
    HANDLED.clear()


@pytest.fixture
def sqlite_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'dlq.db'}"
    monkeypatch.setenv("MOMENTUM_DATABASE_URL", url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """The service's store for one test: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_store")
        return
    url: str = request.getfixturevalue("database_url")
    monkeypatch.setenv("MOMENTUM_DATABASE_URL", url)
    monkeypatch.setenv("MOMENTUM_STORE__SCHEMA_NAME", unique_name)
    yield url
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{unique_name}" CASCADE')


def test_list_prints_a_table_and_json(store: str) -> None:
    produce([("acme", 1), ("globex", 2)], stacks=1)
    rows = listed()
    assert [(r["message_type"], r["exception_type"]) for r in rows] == [
        (f"{__name__}.CrateShipped", CRATE_ERROR),
        (f"{__name__}.CrateShipped", CRATE_ERROR),
        (f"{__name__}.StackCrate", FORKLIFT_ERROR),
    ]
    # the two crates have different keys: handled concurrently, dead-lettered in either order
    first = next(r for r in rows[:2] if r["tenant"] == "acme")
    local = rows[2]
    assert first["exception_message"] == "crate 1 jammed"
    assert first["attempts"] == 1
    assert first["handler"] == f"{__name__}.on_crate"
    assert first["origin"]["topic"] == "dev.clidlq.public.crates.v1"
    assert first["origin"]["partition"] == 0 and first["origin"]["offset"] is not None
    assert first["tenant"] == "acme" and first["key"] == "crate-1"
    assert datetime.fromisoformat(first["last_failure_at"]) > datetime.now(UTC) - timedelta(
        minutes=5
    )
    assert local["handler"] == f"{__name__}.stack" and local["tenant"] is None
    assert local["destination"] == f"local:dev.dlq-cli/{__name__}.stack"

    table = cli("dlq", "list", TARGET)
    assert table.exit_code == 0, table.output
    for text in ("CrateJammedError: crate 1 jammed", "ForkliftError", "globex", "test_dlq.stack"):
        assert text in table.stdout
    assert "dev.clidlq.public.crates.v1[0]@" in table.stdout
    assert "3 dead letter(s) of dlq-cli" in table.stdout


def test_show_prints_headers_pretty_body_and_stack(store: str) -> None:
    produce([("acme", 7)])
    [row] = listed()
    shown = cli("dlq", "show", TARGET, str(row["id"]))
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert f"dead letter #{row['id']}" in out
    assert "ce_type" in out and f"{__name__}.CrateShipped" in out
    assert '"seq": 7' in out  # pretty-printed JSON body
    assert "Traceback" in out and "CrateJammedError: crate 7 jammed" in out

    as_json = cli("dlq", "show", TARGET, str(row["id"]), "--json")
    assert as_json.exit_code == 0, as_json.output
    detail = json.loads(as_json.stdout)
    assert json.loads(detail["body"])["seq"] == 7
    assert ["ce_id", row["message_id"]] in detail["headers"]
    assert "Traceback" in detail["stack"]

    missing = cli("dlq", "show", TARGET, "999999")
    assert missing.exit_code == 1
    assert "no dead letter #999999" in missing.output


def test_show_gives_a_binary_key_as_it_was_read(store: str) -> None:
    from momentum.runtime.store import DeadLetter, OutgoingRecord

    async def write() -> None:
        service = create_service()
        async with service:
            assert service.store is not None
            async with service.store.transaction() as tx:
                await tx.add_dead_letter(
                    DeadLetter(
                        record=OutgoingRecord(
                            "p-1", "dev.clidlq.public.crates.v1", "k\ufffd", [], b"{"
                        ),
                        message_type=None,
                        exception_type="momentum.contracts.errors.InvalidJsonError",
                        exception_message="[invalid-json] not JSON",
                        stack="",
                        attempts=0,
                        first_failure_at=1.0,
                        last_failure_at=1.0,
                        origin_topic="dev.clidlq.public.crates.v1",
                        group=service.group_id,
                        raw_key=b"k\xff",
                    )
                )

    asyncio.run(write())
    [row] = listed()
    shown = cli("dlq", "show", TARGET, str(row["id"]))
    assert shown.exit_code == 0, shown.output
    assert "k\ufffd (bytes as read: 6bff)" in shown.stdout
    detail = json.loads(cli("dlq", "show", TARGET, str(row["id"]), "--json").stdout)
    assert (detail["key"], detail["key_base64"]) == ("k\ufffd", "a/8=")


def test_replay_after_the_fix_republishes_and_requeues(store: str) -> None:
    produce([("acme", 1), ("acme", 2)], stacks=1)
    assert len(listed()) == 3
    HEALTH["healthy"] = True
    result = cli("dlq", "replay", TARGET)
    assert result.exit_code == 0, result.output
    assert "replayed 3 dead letter(s) of dlq-cli" in result.stdout
    assert "2 republished" in result.stdout and "1 requeued" in result.stdout
    assert HANDLED == ["stack 0"]  # handled here; the replay consumed nothing
    assert listed() == []
    replayed = handle_replayed()
    assert len(replayed) == 2
    assert sorted(HANDLED) == ["crate 1", "crate 2", "stack 0"]


def test_purge_asks_first_and_deletes_only_the_selection(store: str) -> None:
    produce([("acme", 1), ("acme", 2)], stacks=1)
    declined = cli("dlq", "purge", TARGET, "--exception", "ForkliftError", input="n\n")
    assert declined.exit_code == 1
    assert "Delete matching 1 dead letter(s) of dlq-cli" in declined.output
    assert len(listed()) == 3

    confirmed = cli("dlq", "purge", TARGET, "--exception", "ForkliftError", input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert "purged 1 dead letter(s)" in confirmed.stdout
    assert {r["exception_type"] for r in listed()} == {CRATE_ERROR}

    forced = cli("dlq", "purge", TARGET, "--yes", "--json")
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.stdout) == {"purged": 2}
    assert listed() == []


def test_filters_select_by_type_exception_time_tenant_id_and_limit(sqlite_store: str) -> None:
    produce([("acme", 1), ("globex", 2), ("acme", 3)], stacks=2)
    rows = listed()
    assert len(rows) == 5
    crate_ids = [r["id"] for r in rows if r["exception_type"] == CRATE_ERROR]

    def ids(*filters: str) -> list[int]:
        return [r["id"] for r in listed(*filters)]

    assert ids("--type", "CrateShipped") == crate_ids
    assert ids("--type", f"{__name__}.CrateShipped") == crate_ids
    assert ids("--exception", "CrateJammedError") == crate_ids
    assert ids("--exception", CRATE_ERROR) == crate_ids
    assert ids("--exception", "JammedError") == []  # suffixes match whole dotted parts only
    assert len(ids("--exception", "ForkliftError")) == 2
    assert ids("--type", "CrateShipped", "--exception", "ForkliftError") == []
    assert ids("--exception", "CrateJammedError", "--limit", "2") == crate_ids[:2]
    assert ids("--limit", "1") == [rows[0]["id"]]
    assert [r["seq"] for r in map(_body, ids("--tenant", "globex"))] == [2]
    assert ids("--id", str(crate_ids[0]), "--id", str(crate_ids[2])) == [
        crate_ids[0],
        crate_ids[2],
    ]
    assert len(ids("--since", "1h")) == 5
    assert ids("--until", "1h") == []
    assert ids("--until", "1h30m") == []
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert ids("--since", future) == []
    assert len(ids("--until", future)) == 5
    assert len(ids("--since", "2020-01-01")) == 5  # naive: UTC

    empty = cli("dlq", "list", TARGET, "--tenant", "nobody")
    assert empty.exit_code == 0
    assert "no dead letters match" in empty.stdout


def _body(letter_id: int) -> dict[str, Any]:
    result = cli("dlq", "show", TARGET, str(letter_id), "--json")
    assert result.exit_code == 0, result.output
    body: dict[str, Any] = json.loads(json.loads(result.stdout)["body"])
    return body


def test_replay_takes_only_the_selection(sqlite_store: str) -> None:
    produce([("acme", 1)], stacks=2)
    HEALTH["healthy"] = True
    result = cli("dlq", "replay", TARGET, "--exception", "ForkliftError", "--json")
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout)
    assert outcome["matched"] == 2 and outcome["requeued"] == 2 and outcome["republished"] == 0
    assert sorted(HANDLED) == ["stack 0", "stack 1"]
    assert [r["exception_type"] for r in listed()] == [CRATE_ERROR]

    nothing = cli("dlq", "replay", TARGET, "--tenant", "nobody")
    assert nothing.exit_code == 0, nothing.output
    assert "nothing replayed" in nothing.stdout


def test_replay_of_many_letters_goes_in_batches(
    sqlite_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from momentum.cli import dlq

    monkeypatch.setattr(dlq, "REPLAY_BATCH", 2)
    produce([("acme", 1), ("acme", 2)], stacks=3)
    HEALTH["healthy"] = True
    result = cli("dlq", "replay", TARGET, "--json")
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout)
    assert (outcome["republished"], outcome["requeued"], outcome["problems"]) == (2, 3, [])
    assert sorted(HANDLED) == ["stack 0", "stack 1", "stack 2"]
    assert listed() == []
    assert len(handle_replayed()) == 2
    assert sorted(HANDLED) == ["crate 1", "crate 2", "stack 0", "stack 1", "stack 2"]


def test_replay_of_a_still_failing_handler_exits_1_and_keeps_the_letter(
    sqlite_store: str,
) -> None:
    produce([], stacks=1)
    result = cli("dlq", "replay", TARGET)
    assert result.exit_code == 1
    assert "1 requeued" in result.stdout
    assert "failed again" in result.output
    [again] = listed()
    assert again["exception_message"] == "no forklift for 0"


def test_a_replay_consumes_nothing_and_republished_letters_fail_again_where_consumed(
    sqlite_store: str,
) -> None:
    produce([("acme", 4)])
    result = cli("dlq", "replay", TARGET)
    assert result.exit_code == 0, result.output  # published; not handled here
    assert "1 republished" in result.stdout
    assert listed() == [] and HANDLED == []
    handle_replayed()  # the running instance: still broken
    [again] = listed()
    assert again["exception_message"] == "crate 4 jammed"


def test_an_unreachable_store_is_named_with_its_password_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOMENTUM_DATABASE_URL", "postgresql://postgres:s3cret@127.0.0.1:1/db")
    for command in (["dlq", "list", TARGET], ["dlq", "replay", TARGET]):
        result = cli(*command)
        assert result.exit_code == 1, result.output
        assert "postgresql://postgres:***@127.0.0.1:1/db" in result.output
        assert "s3cret" not in result.output


def test_a_missing_sqlite_file_is_an_error_and_not_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "typo.db"
    monkeypatch.setenv("MOMENTUM_DATABASE_URL", f"sqlite:///{path}")
    result = cli("dlq", "list", TARGET)
    assert result.exit_code == 1
    assert "does not exist" in result.output and "typo.db" in result.output
    assert not path.exists()


def test_a_service_without_a_store_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOMENTUM_DATABASE_URL", "memory://")
    result = cli("dlq", "list", TARGET)
    assert result.exit_code == 1
    assert "has no message store" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["dlq", "list", "no_colon_here"],
        ["dlq", "list", f"{__name__}:HEALTH"],
        ["dlq", "list", TARGET, "--since", "yesterday"],
        ["dlq", "list", TARGET, "--limit", "0"],
        ["dlq", "show", TARGET, "abc"],
    ],
)
def test_usage_errors_exit_2(args: list[str], sqlite_store: str) -> None:
    result = cli(*args)
    assert result.exit_code == 2, result.output
