"""The `momentum demo` story and `momentum describe` run through the real CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from momentum.cli import app

runner = CliRunner()


def test_demo_runs_every_step_and_exits_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert "demo complete: all 20 checks passed" in result.output
    assert "✗" not in result.output
    out = result.output
    for step in (
        "outbox backlog after the commit: 1",
        "outbox backlog once relayed: 0",
        "duplicate CashierCreated",
        "the dead letter is a row in notifications' store",
        "republished: 1, requeued: 0",
        "every outbox row was relayed",
        "the invoice's actor counted the first payment; the invoice is still open",
        "InvoicePaid came from the actor: the receipt was sent",
    ):
        assert step in out
    assert list(tmp_path.iterdir()) == []  # the stores lived in a temporary directory


def test_demo_runs_on_the_store_database_url_names(tmp_path: Path) -> None:
    store = tmp_path / "stores" / "demo.db"
    result = runner.invoke(app, ["demo", "--database-url", f"sqlite:///{store}"])
    assert result.exit_code == 0, result.output
    assert "demo complete: all 20 checks passed" in result.output
    assert store.exists()  # both services share the file, as two services of one process do


def test_demo_refuses_to_run_without_a_store() -> None:
    result = runner.invoke(app, ["demo", "--database-url", "memory://"])
    assert result.exit_code == 2
    assert "needs a message store" in result.output


def test_describe_lists_decisions_as_json() -> None:
    result = runner.invoke(app, ["describe", "app_domain", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    create = rows["app_domain.cashiers.commands.handle"]
    assert create["accepted"] and "CreateCashier" in create["reason"]
    validator = rows["app_domain.cashiers.commands.UpdateCashierValidator.validate"]
    assert validator["role"] == "validator" and validator["accepted"]


def test_describe_reports_import_errors_with_exit_code_2() -> None:
    result = runner.invoke(app, ["describe", "no_such_package_for_momentum"])
    assert result.exit_code == 2
    assert "no_such_package_for_momentum" in result.output


def test_demo_needs_nothing_beyond_the_cli_extra(tmp_path: Path) -> None:
    """`scripts/demo` installs only the cli extra: dev-only packages must not be needed."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "for name in ('fastapi', 'starlette', 'httpx', 'psycopg', 'confluent_kafka', 'pytest'):\n"
        "    sys.modules[name] = None  # import fails as if not installed\n"
        "from momentum.cli import main\n"
        "sys.argv = ['momentum', 'demo']\n"
        "main()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MOMENTUM_DATABASE_URL"}  # the default
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "demo complete" in done.stdout
    assert not (tmp_path / "momentum.db").exists()


def test_demo_runs_on_kafka_and_postgresql_with_two_processes(
    kafka_bootstrap: str, database_url: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("momentum")),
            "demo",
            "--kafka",
            kafka_bootstrap,
            "--database-url",
            database_url,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "demo complete: all 6 checks passed" in done.stdout
    assert "Bob was welcomed" in done.stdout
    assert list(tmp_path.iterdir()) == []  # nothing left behind
    found = re.search(r"environment '(\w+)'", done.stdout)
    assert found is not None, done.stdout
    from confluent_kafka.admin import AdminClient

    topics = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=30).topics
    assert [t for t in topics if t.startswith(f"{found.group(1)}.")] == []  # topics removed


def test_demo_on_kafka_needs_postgresql() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("momentum")), "demo", "--kafka", "127.0.0.1:9092"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--database-url postgresql://" in done.stdout + done.stderr
