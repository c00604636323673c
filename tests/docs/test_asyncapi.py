"""The AsyncAPI 3.0 document: validated by the official parser, and its content checked."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from momentum.docs import asyncapi_document

from .support import catalog_of, install_parser, parse


@pytest.fixture(scope="session")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("node is required in CI to validate the AsyncAPI document")
        pytest.skip("node is not installed: the AsyncAPI parser cannot run")
    return found


@pytest.fixture(scope="session")
def parser(node: str) -> Path:
    npm = shutil.which("npm")
    assert npm is not None, "node is installed but npm is not: install npm"
    try:
        return install_parser(npm)
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"npm install failed: {exc.stderr.decode(errors='replace')}")


def document(packages: list[str], service: str, **options: Any) -> dict[str, Any]:
    return asyncapi_document(catalog_of(packages), service=service, **options)


def errors(diagnostics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in diagnostics if d["severity"] == 0]


@pytest.mark.parametrize(
    ("packages", "service"),
    [
        (["app_domain"], "app-domain"),
        (["notifications"], "notifications"),
        (["momentum_docs_fixture"], "shop"),
    ],
)
def test_the_official_parser_accepts_the_document(
    node: str, parser: Path, tmp_path: Path, packages: list[str], service: str
) -> None:
    code, diagnostics = parse(node, parser, document(packages, service, partitions=6), tmp_path)
    assert code == 0 and errors(diagnostics) == [], diagnostics


def test_the_parser_check_fails_on_a_broken_document(
    node: str, parser: Path, tmp_path: Path
) -> None:
    broken = document(["app_domain"], "app-domain")
    del broken["info"]
    operation = next(iter(broken["operations"].values()))
    operation["channel"] = {"$ref": "#/channels/no-such-channel"}
    code, diagnostics = parse(node, parser, broken, tmp_path)
    assert code == 1 and errors(diagnostics), diagnostics


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def pointer(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    if isinstance(node, dict) and set(node) == {"$ref"}:
        return pointer(doc, node["$ref"])
    return node


def test_channels_are_topics_and_operations_what_the_service_sends() -> None:
    doc = document(["app_domain"], "app-domain", partitions=6)
    assert doc["asyncapi"] == "3.0.0"
    assert set(doc["channels"]) == {
        "appdomain.public.cashiers.v1",
        "appdomain.public.invoices.v1",
        "appdomain.public.payments.v1",
    }
    cashiers = doc["channels"]["appdomain.public.cashiers.v1"]
    assert cashiers["address"] == "{env}.appdomain.public.cashiers.v1"
    assert cashiers["parameters"]["env"]["examples"] == ["dev", "stag", "prod"]
    assert cashiers["bindings"]["kafka"] == {"partitions": 6, "bindingVersion": "0.5.0"}
    assert set(cashiers["messages"]) == {"CashierCreated", "CashierUpdated", "CashierDeleted"}
    sends = {name for name, op in doc["operations"].items() if op["action"] == "send"}
    assert sends == {
        f"send{name}"
        for name in (
            "CashierCreated",
            "CashierUpdated",
            "CashierDeleted",
            "InvoiceCreated",
            "InvoicePaid",
            "InvoiceCancelled",
            "PaymentReceived",
        )
    }
    receives = {name for name, op in doc["operations"].items() if op["action"] == "receive"}
    assert receives == {"receivePaymentReceived"}  # its invoice actor handles them
    for ref in refs(doc):  # every reference resolves
        pointer(doc, ref)


def test_receive_operations_carry_the_consumer_group() -> None:
    doc = document(["notifications"], "notifications")
    receives = {name: op for name, op in doc["operations"].items() if op["action"] == "receive"}
    assert set(receives) == {"receiveCashierCreated", "receiveCashierDeleted", "receiveInvoicePaid"}
    group = receives["receiveInvoicePaid"]["bindings"]["kafka"]["groupId"]
    assert group == {
        "type": "string",
        "enum": ["dev.notifications", "stag.notifications", "prod.notifications"],
    }
    message = pointer(doc, receives["receiveInvoicePaid"]["messages"][0]["$ref"])
    assert message["name"] == "app_domain.invoices.contracts.integration_events.InvoicePaid"
    assert doc["channels"]["appdomain.public.invoices.v1"]["messages"] == {
        "InvoicePaid": {"$ref": "#/components/messages/InvoicePaid"}
    }


def test_messages_have_cloudevents_headers_key_and_wire_payload() -> None:
    doc = document(["app_domain"], "app-domain")
    message = doc["components"]["messages"]["CashierCreated"]
    headers = message["headers"]
    assert headers["required"] == [
        "ce_specversion",
        "ce_id",
        "ce_type",
        "ce_source",
        "ce_time",
        "content-type",
    ]
    assert headers["properties"]["ce_type"]["const"] == message["name"]
    assert headers["properties"]["ce_specversion"]["const"] == "1.0"
    assert {"ce_tenantid", "ce_traceparent", "ce_correlationid"} <= set(headers["properties"])
    assert "tenantId" in message["bindings"]["kafka"]["key"]["description"]
    payload = pointer(doc, message["payload"]["$ref"])
    assert payload["required"] == ["tenantId", "cashier"]
    assert pointer(doc, payload["properties"]["cashier"]["$ref"])["title"] == "Cashier"
    example = message["examples"][0]
    assert example["headers"]["ce_source"] == "/app_domain/app-domain"
    assert set(example["payload"]) == {"tenantId", "cashier"}


def test_deprecated_events_and_colliding_names() -> None:
    doc = document(["momentum_docs_fixture"], "shop")
    audited = doc["components"]["messages"]["OrderAudited"]
    assert audited["description"].startswith("**Deprecated.** Auditors read OrderPlaced")
    assert {"name": "deprecated"} in audited["tags"]
    assert pointer(doc, audited["payload"]["$ref"])["deprecated"] is True
    internal = doc["channels"]["shop.internal.order-audits"]
    assert internal["address"] == "{env}.shop.internal.order-audits"
    orders = doc["channels"]["shop.public.orders.v1"]["messages"]
    assert set(orders) == {"OrderPlaced", "OrderSubmitted"}
    money = doc["components"]["schemas"]["Money"]
    assert money["properties"]["amount"] == {
        "type": "number",
        "format": "decimal",
        "description": "The amount, exact.",
    }
