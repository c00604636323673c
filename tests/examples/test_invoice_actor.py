"""The example application's invoice actor: payments add up, the last one pays the invoice."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from app_domain.cashiers.commands import CreateCashier
from app_domain.invoices import actor as invoice_actor
from app_domain.invoices.actor import GetInvoiceAccount, InvoiceActor
from app_domain.invoices.commands import CreateInvoice, PayInvoice
from app_domain.invoices.contracts.integration_events import InvoicePaid
from app_domain.invoices.queries import GetInvoice
from app_domain.service import create_service
from momentum import Service


async def invoice_of(service: Service, amount: int) -> uuid.UUID:
    tenant = uuid.uuid4()
    cashier = await service.bus.invoke(CreateCashier(tenant, "Ada", "ada@example.com"))
    created = await service.bus.invoke(CreateInvoice(tenant, cashier.value.cashier_id, amount))
    invoice_id: uuid.UUID = created.value.invoice_id
    return invoice_id


async def test_partial_payments_add_up_and_the_last_one_publishes_invoice_paid(
    tmp_path: Path,
) -> None:
    service = create_service(database_url=f"sqlite:///{tmp_path}/app.db")
    async with service:
        async with service.tracked() as log:
            invoice = await invoice_of(service, 100)
            assert (await service.bus.invoke(PayInvoice(invoice, Decimal(60)))).is_success
        account = await service.bus.invoke(GetInvoiceAccount(invoice))
        assert (account.status, account.paid, len(account.payments)) == ("open", 60, 1)
        assert log.messages("published", InvoicePaid) == []
        ref = service.actors.get(InvoiceActor, invoice)
        async with service.tracked() as log:
            await service.bus.invoke(PayInvoice(invoice, Decimal(40)))
        [paid] = log.messages("published", InvoicePaid)
        assert (paid.invoice_id, paid.amount_paid) == (invoice, 100)
        assert (await ref.state()).status == "paid"
        row = await service.bus.invoke(GetInvoice(invoice))
        assert row is not None and (row.status, row.history) == ("paid", ["open", "paid"])
        refused = await service.bus.invoke(PayInvoice(invoice, Decimal(1)))
        assert refused.failures[0].field == "invoice_id"
        assert service.store is not None
        assert (await service.store.stats()).backlog == 0  # the balance reminder was cancelled


async def test_an_unpaid_balance_makes_the_invoice_overdue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(invoice_actor, "BALANCE_REMINDER", timedelta(seconds=0.2))
    service = create_service(database_url=f"sqlite:///{tmp_path}/app.db")
    async with service:
        invoice = await invoice_of(service, 100)
        await service.bus.invoke(PayInvoice(invoice, Decimal(30)))
        async with asyncio.timeout(20):
            while (await service.bus.invoke(GetInvoiceAccount(invoice))).status != "overdue":  # noqa: ASYNC110
                await asyncio.sleep(0.02)  # the reminder is due in 0.2 s
        await service.runtime.wait_idle()
        row = await service.bus.invoke(GetInvoice(invoice))
        assert row is not None and row.history == ["open", "overdue"]
        async with service.tracked() as log:
            await service.bus.invoke(PayInvoice(invoice, Decimal(70)))  # overdue: still payable
        assert [e.amount_paid for e in log.messages("published", InvoicePaid)] == [100]
