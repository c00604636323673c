"""``momentum docs`` from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import momentum.cli  # noqa: F401 - registers the commands on the app
from momentum.cli.app import app

MOMENTUM = str(Path(sys.executable).with_name("momentum"))
CLEAN_ENV = {"MOMENTUM_CASING": None}


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), env=CLEAN_ENV)


# --- momentum docs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--casing", "kebab"], "--casing must be one of camel, snake, pascal"),
        (["--service", "App Domain"], "--service: Invalid service name"),
        (["--env", "pro d"], "--env 'pro d' is not an environment name"),
    ],
)
def test_docs_bad_options_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = invoke("docs", "app_domain", "-o", str(tmp_path / "out"), *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert not (tmp_path / "out").exists()


def test_docs_unimportable_package_or_file_as_output_exit_2(tmp_path: Path) -> None:
    result = invoke("docs", "momentum_fixture_does_not_exist", "-o", str(tmp_path))
    assert result.exit_code == 2 and result.stderr.startswith("error: ")
    assert "momentum_fixture_does_not_exist" in result.stderr
    target = tmp_path / "file"
    target.write_text("")
    result = invoke("docs", "app_domain", "-o", str(target))
    assert result.exit_code == 2 and "is not a folder" in result.stderr


def test_docs_rewrites_its_folder_and_removes_stale_pages(tmp_path: Path) -> None:
    out = tmp_path / "catalog"
    assert invoke("docs", "momentum_docs_fixture", "-o", str(out)).exit_code == 0
    stale = out / "events" / "momentum_docs_fixture.orders.integration_events.Gone.md"
    stale.write_text("# Gone\n")
    mine = out / "notes.md"
    mine.write_text("kept\n")
    result = invoke("docs", "momentum_docs_fixture", "-o", str(out), "--env", "qa")
    assert result.exit_code == 0, result.output
    assert not stale.exists() and mine.read_text() == "kept\n"
    page = out / "events" / "momentum_docs_fixture.orders.integration_events.OrderPlaced.md"
    assert "| qa | `qa.shop.public.orders.v1` |" in page.read_text()
    assert "3 page(s) flag problems" in result.stdout


def test_docs_keeps_files_of_a_folder_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "events").mkdir()
    foreign = tmp_path / "events" / "someone-elses.md"
    foreign.write_text("mine\n")
    assert invoke("docs", "app_domain", "-o", str(tmp_path)).exit_code == 0
    assert foreign.read_text() == "mine\n"


def test_docs_snake_casing_reaches_every_output(tmp_path: Path) -> None:
    assert invoke("docs", "app_domain", "-o", str(tmp_path), "--casing", "snake").exit_code == 0
    contracts = json.loads((tmp_path / "contracts.json").read_text())
    assert contracts["casing"] == "snake"
    assert "tenant_id" in contracts["events"][0]["schema"]["properties"]
    asyncapi = json.loads((tmp_path / "asyncapi.json").read_text())
    assert "tenant_id" in asyncapi["components"]["schemas"]["CashierCreated"]["properties"]
