"""The FastAPI example: a command's Result becomes HTTP 200 or 400."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from app_domain_http import api


def test_create_and_read_a_cashier_over_http() -> None:
    tenant = uuid.uuid4()
    with TestClient(api) as client:  # runs the lifespan: the service starts and stops
        created = client.post(
            f"/tenants/{tenant}/cashiers", json={"name": "Ada", "email": "ada@example.com"}
        )
        assert created.status_code == 200, created.text
        cashier = created.json()
        assert cashier["name"] == "Ada" and uuid.UUID(cashier["cashier_id"])
        read = client.get(f"/tenants/{tenant}/cashiers/{cashier['cashier_id']}")
        assert read.status_code == 200 and read.json() == cashier
        missing = client.get(f"/tenants/{tenant}/cashiers/{uuid.uuid4()}")
        assert missing.status_code == 404


def test_validation_failures_are_http_400() -> None:
    with TestClient(api) as client:
        response = client.post(
            f"/tenants/{uuid.uuid4()}/cashiers", json={"name": "", "email": "nope"}
        )
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"name", "email"}
