"""``momentum demo``: the example application's story, narrated, on the embedded default."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from momentum.cli.app import app
from momentum.runtime.dead_letters import InMemoryDeadLetters
from momentum.runtime.tracking import ActivityLog
from momentum.testing import InMemoryBroker, tracked


class DemoFailedError(Exception):
    """A step of the demo did not do what it should."""


class Story:
    """Narrates steps and checks each expectation."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.checks = 0

    def step(self, title: str) -> None:
        """Announce a step."""
        self.console.print(f"\n[bold cyan]▶ {title}[/]")

    def say(self, text: str) -> None:
        """Narrate one line."""
        self.console.print(f"  {text}")

    def expect(self, ok: bool, what: str) -> None:
        """Check one expectation; stop the demo when it does not hold."""
        self.checks += 1
        if not ok:
            self.console.print(f"  [bold red]✗ {what}[/]")
            raise DemoFailedError(what)
        self.console.print(f"  [green]✓[/] {what}")

    def activity(self, log: ActivityLog, describe: Callable[[Any], str] = repr) -> None:
        """Show what the bus did during a step."""
        for item in log:
            if item.kind in ("invoked", "handled"):
                continue
            name = type(item.message).__name__
            extra = f" by {item.handler.rsplit('.', 2)[-2]}" if item.handler else ""
            if item.exception is not None and item.kind == "failed":
                extra += f" [red]({type(item.exception).__name__}: {item.exception})[/]"
            self.say(f"[dim]{item.kind:>9}[/] {name}{extra}")


async def run_demo(console: Console) -> int:
    """Run the story; returns the number of checks that passed."""
    try:
        import app_domain.service as app_domain_service
        import notifications.service as notifications_service
        from app_domain.cashiers.commands import CreateCashier
        from app_domain.invoices.commands import CreateInvoice, PayInvoice
        from app_domain.invoices.queries import GetInvoice
        from notifications.email import EmailService
    except ImportError as exc:
        raise DemoFailedError(
            f"the example application is not importable ({exc}); run the demo from a source "
            "checkout with `scripts/demo` (it installs momentum in development mode)"
        ) from exc

    story = Story(console)
    broker = InMemoryBroker()
    email = EmailService()
    app = app_domain_service.create_service(broker.transport())
    notify = notifications_service.create_service(broker.transport(), email=email)
    tenant = uuid.uuid4()
    story.step("Start two services on the embedded default (in-process transport, no server)")
    async with app, notify:
        for service in (app, notify):
            topics = ", ".join(s.topic for s in service.runtime.subscriptions()) or "-"
            story.say(f"{service.name} [dim]{service.urn}[/] subscribes to: {topics}")

        story.step("Invoke CreateCashier: the result comes back, CashierCreated is published")
        async with tracked(app, notify) as log:
            result = await app.bus.invoke(CreateCashier(tenant, "Ada Lovelace", "ada@example.com"))
        story.say(f"result: {result}")
        story.activity(log)
        story.expect(result.is_success, "CreateCashier succeeded")
        story.expect(
            email.sent == [("ada@example.com", "Welcome, Ada Lovelace!")],
            "notifications handled CashierCreated and sent the welcome email",
        )
        cashier = result.value

        story.step("Invoke CreateCashier with bad input: validators answer, no handler runs")
        async with tracked(app, notify) as log:
            bad = await app.bus.invoke(CreateCashier(tenant, "", "not-an-email"))
        for failure in bad.failures:
            story.say(f"[yellow]{failure.field}[/]: {failure.message}")
        story.expect(not bad.is_success and len(bad.failures) == 2, "two validation failures")
        story.expect(log.published == [], "nothing was published")

        story.step("Issue and pay an invoice: integration and domain events cascade")
        async with tracked(app, notify) as log:
            invoice = (
                await app.bus.invoke(CreateInvoice(tenant, cashier.cashier_id, Decimal(42)))
            ).value
            paid = await app.bus.invoke(PayInvoice(invoice.invoice_id, Decimal(42)))
        story.activity(log)
        stored = await app.bus.invoke(GetInvoice(invoice.invoice_id))
        story.expect(paid.is_success, "PayInvoice succeeded")
        story.expect(
            stored is not None and stored.history == ["open", "paid"],
            "the InvoiceStatusChanged domain events were handled in order (open, paid)",
        )
        story.expect(
            ("billing@tenant.example", f"Invoice {invoice.invoice_id} paid") in email.sent,
            "notifications handled InvoicePaid and sent the receipt",
        )

        story.step("A handler keeps failing: retried with backoff, then dead-lettered")
        story.say(f"[dim]notifications' error policy: {notify.error_policy}[/]")
        logging.getLogger("momentum").setLevel(logging.CRITICAL)
        async with tracked(app, notify) as log:
            other = await app.bus.invoke(CreateCashier(tenant, "Bob", "bob@bounce.example"))
        story.activity(log)
        story.expect(other.is_success, "the command itself succeeded (the failure is downstream)")
        story.expect(
            len(log.failed) == 3 and len(log.retried) == 2 and len(log.dead_lettered) == 1,
            "three attempts, two retries, one dead letter",
        )
        dead = notify.dead_letters
        assert isinstance(dead, InMemoryDeadLetters)
        [record] = dead.records()
        story.say(
            f"dead letter #{record.id}: {record.envelope.message_type.rsplit('.', 1)[-1]} for "
            f"{record.handler.rsplit('.', 1)[-1]}, {record.attempts} attempts, "
            f"{record.exception_type.rsplit('.', 1)[-1]}: {record.exception_message}"
        )

        story.step("The mail server is fixed; the dead letter is replayed")
        email.bouncing_domains.clear()
        async with tracked(app, notify) as log:
            replayed = await notify.replay_dead_letters(dead.take([record.id]))
        story.activity(log)
        story.expect(replayed == 1 and len(dead) == 0, "one dead letter replayed, none left")
        story.expect(
            ("bob@bounce.example", "Welcome, Bob!") in email.sent,
            "the welcome email to Bob went out on replay",
        )

        story.step("Final counts")
        table = Table("service", "message type", "handled", "failed", "mean")
        for service in (app, notify):
            for message_type, stats in sorted(
                service.metrics.items(), key=lambda item: item[0].__name__
            ):
                table.add_row(
                    service.name,
                    message_type.__name__,
                    str(stats.count - stats.failures),
                    str(stats.failures),
                    f"{stats.mean_seconds * 1e6:.0f} µs",
                )
        console.print(table)
        story.expect(
            sum(s.failures for s in notify.metrics.values()) == 3,
            "notifications counted the three failed attempts",
        )
    return story.checks


@app.command()
def demo() -> None:
    """Run the example application's story end to end on the embedded default."""
    console = Console()
    try:
        checks = asyncio.run(run_demo(console))
    except DemoFailedError as exc:
        console.print(f"\n[bold red]demo failed:[/] {exc}")
        raise typer.Exit(1) from None
    console.print(f"\n[bold green]demo complete:[/] all {checks} checks passed")
