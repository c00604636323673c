"""The app-domain service: cashiers and invoices."""

from __future__ import annotations

from typing import Any

from app_domain.cashiers.data import CashierRepository
from app_domain.invoices.data import InvoiceRepository
from momentum import Service
from momentum.runtime.ports import Transport


def create_service(transport: Transport | None = None, **settings: Any) -> Service:
    """Build the service with its repositories registered."""
    service = Service(
        name="app-domain",
        domain="AppDomain",
        packages=["app_domain"],
        transport=transport,
        **settings,
    )
    service.register(CashierRepository, CashierRepository())
    service.register(InvoiceRepository, InvoiceRepository())
    return service
