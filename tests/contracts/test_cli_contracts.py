from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

import momentum.cli.contracts  # noqa: F401 - registers the commands on the app
from momentum.cli.app import app

runner = CliRunner()

CASHIER_EVENTS = ["CashierCreated", "CashierUpdated", "CashierDeleted"]
INVOICE_EVENTS = ["InvoiceCreated", "InvoicePaid", "InvoiceCancelled"]


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, list(args), env=env)


def test_topics_table_on_the_example_application() -> None:
    result = invoke("topics", "app_domain")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for name in CASHIER_EVENTS + INVOICE_EVENTS:
        module = "cashiers" if name.startswith("Cashier") else "invoices"
        [row] = [line for line in lines if f" {name} " in line]
        assert f"app_domain.{module}.contracts.integration_events.{name}" in row
        assert f"dev.appdomain.public.{module}.v1" in row
        assert "tenant_id" in row
    assert "Handlers" in result.stdout


@pytest.mark.parametrize(
    ("args", "env", "prefix"),
    [
        (["--env", "production"], None, "prod."),
        (["--env", "Staging"], None, "stag."),
        ([], {"MOMENTUM_ENVIRONMENT": "test"}, "test."),
        ([], {"MOMENTUM_ENVIRONMENT": "development"}, "dev."),
    ],
)
def test_topics_environment(args: list[str], env: dict[str, str] | None, prefix: str) -> None:
    result = invoke("topics", "app_domain", "--json", *args, env=env)
    assert result.exit_code == 0, result.output
    topics = {row["topic"] for row in json.loads(result.stdout) if row["topic"]}
    assert topics == {
        f"{prefix}appdomain.public.cashiers.v1",
        f"{prefix}appdomain.public.invoices.v1",
        f"{prefix}appdomain.public.payments.v1",
    }


def test_topics_json_rows() -> None:
    result = invoke("topics", "momentum_fixture_events", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["event"].split(".", 1)[1]: row for row in json.loads(result.stdout)}
    v1 = rows["orders.integration_events.v1.OrderPlaced"]
    assert v1 == {
        "event": "momentum_fixture_events.orders.integration_events.v1.OrderPlaced",
        "kind": "integration-event",
        "type_name": "momentum_fixture_events.orders.integration_events.v1.OrderPlaced",
        "topic": "dev.shop.public.orders.v1",
        "partition_key_fields": ["order_id"],
        "partition_key_method": False,
        "handlers": v1["handlers"],
    }
    assert len(v1["handlers"]) == 1
    assert v1["handlers"][0].startswith("momentum_fixture_events.orders.handlers.handle")
    assert rows["orders.integration_events.v2.OrderPlaced"]["topic"] == "dev.shop.public.orders.v2"
    assert rows["orders.integration_events.v2.OrderPlaced"]["handlers"] == []
    assert rows["catalog.integration_events.ProductRenamed"]["partition_key_fields"] == []
    assert rows["catalog.integration_events.ProductRemoved"]["partition_key_fields"] == [
        "shop_id",
        "product_id",
    ]
    domain_event = rows["catalog.domain_events.StockReserved"]
    assert (domain_event["kind"], domain_event["topic"]) == ("domain-event", None)


def test_topics_table_shows_handlers_and_keys() -> None:
    result = invoke("topics", "momentum_fixture_events")
    assert result.exit_code == 0, result.output
    assert "momentum_fixture_events.orders.handlers.handle" in result.stdout
    assert "(in-process)" in result.stdout
    assert "(message id)" in result.stdout
    assert "shop_id, product_id" in result.stdout


def test_topics_without_events() -> None:
    result = invoke("topics", "momentum_fixture_bad_domain")
    assert result.exit_code == 0, result.output
    assert "No events found in momentum_fixture_bad_domain." in result.stdout


def test_check_ok_on_the_example_application() -> None:
    result = invoke("check", "app_domain")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK: ")
    assert "no problems" in result.stdout


def test_check_ok_json() -> None:
    result = invoke("check", "app_domain", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["ok"] is True and payload["problems"] == []
    assert payload["events"] >= 6 and payload["packages"] == ["app_domain"]


def test_check_reports_problems_and_exits_1() -> None:
    result = invoke("check", "momentum_fixture_problems")
    assert result.exit_code == 1
    out = result.stdout
    assert "momentum_fixture_problems.integration_events.NoDocstring\n" in out
    assert "  error [missing-docstring] " in out
    assert "  error [duplicate-type-name] " in out
    assert "  error [not-json-serializable] " in out
    assert "22 problem(s) in 14 of 16 event(s) in momentum_fixture_problems." in out


def test_check_json_exits_1() -> None:
    result = invoke("check", "momentum_fixture_problems", "--json")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["ok"] is False
    assert len(payload["problems"]) == 22
    assert {"severity", "code", "class", "field", "message"} == set(payload["problems"][0])


@pytest.mark.parametrize("command", ["topics", "check"])
def test_unimportable_package_exits_2(command: str) -> None:
    result = invoke(command, "momentum_fixture_does_not_exist")
    assert result.exit_code == 2
    assert "momentum_fixture_does_not_exist" in result.stderr
    assert result.stderr.startswith("error: ")


@pytest.mark.parametrize("command", ["topics", "check"])
def test_packages_are_required(command: str) -> None:
    result = invoke(command)
    assert result.exit_code == 2
