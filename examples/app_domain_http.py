"""An HTTP API in front of app-domain: FastAPI endpoints that invoke commands and queries.

Run it with ``uvicorn app_domain_http:api`` (uvicorn is not a dependency of momentum). A
``Result`` maps to HTTP 200 with the value, or 400 with the validation failures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any
from uuid import UUID

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app_domain.cashiers.commands import CreateCashier
from app_domain.cashiers.queries import GetCashier
from app_domain.service import create_service
from momentum import Result

service = create_service()


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    """Run the service for as long as the API runs."""
    async with service:
        yield


api = FastAPI(title="app-domain", lifespan=lifespan)


class NewCashier(BaseModel):
    """Body of ``POST /tenants/{tenant_id}/cashiers``."""

    name: str
    email: str


def respond(result: Result[Any]) -> JSONResponse:
    """HTTP 200 with the value of a successful result, 400 with the failures otherwise."""
    if result.is_success:
        return JSONResponse(status_code=200, content=_json(asdict(result.value)))
    failures = [{"field": f.field, "message": f.message} for f in result.failures]
    return JSONResponse(status_code=400, content={"errors": failures})


def _json(row: dict[str, Any]) -> dict[str, Any]:
    return {key: str(value) if isinstance(value, UUID) else value for key, value in row.items()}


@api.post("/tenants/{tenant_id}/cashiers")
async def create_cashier(tenant_id: UUID, body: NewCashier) -> JSONResponse:
    """Create a cashier: 200 with the cashier, 400 with validation failures."""
    return respond(await service.bus.invoke(CreateCashier(tenant_id, body.name, body.email)))


@api.get("/tenants/{tenant_id}/cashiers/{cashier_id}")
async def get_cashier(tenant_id: UUID, cashier_id: UUID) -> dict[str, Any]:
    """Read a cashier: 200, or 404 when there is none."""
    cashier = await service.bus.invoke(GetCashier(tenant_id, cashier_id))
    if cashier is None:
        raise HTTPException(status_code=404, detail="no such cashier")
    return _json(asdict(cashier))
