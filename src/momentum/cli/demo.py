"""``momentum demo``: the example application's story, narrated, on the embedded default.

Two services (app-domain, notifications) on the in-process broker, each with its message
store: by default a SQLite file per service in a temporary directory (nothing is left in the
working directory), or the store ``--database-url`` names. The story covers invoke, validation,
cascading events, the transactional outbox and its relay, the inbox skipping a redelivery, a
dead letter kept in the store and replayed, and final counts. It exits 0 only when every
check held.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import tempfile
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from momentum.cli.app import app
from momentum.cli.errors import settings_problems_reported
from momentum.contracts.errors import MomentumError
from momentum.runtime.relay import OutboxRelay
from momentum.runtime.store import DeadLetter, DeadLetterFilter, mask_url
from momentum.runtime.tracking import ActivityLog
from momentum.service import Service
from momentum.settings import IN_MEMORY_DATABASE
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


EXAMPLE_MODULES = (
    "app_domain.service",
    "app_domain.cashiers.commands",
    "app_domain.invoices.commands",
    "app_domain.invoices.queries",
    "notifications.service",
    "notifications.email",
)
"""The example application the story runs (from a source checkout)."""


async def run_demo(console: Console, database_url: str | None = None) -> int:
    """Run the story; returns the number of checks that passed.

    Args:
        console: Where the story is told.
        database_url: The services' message store; by default a SQLite file per service in a
            temporary directory (removed afterwards).
    """
    try:
        for module in EXAMPLE_MODULES:
            importlib.import_module(module)
    except ImportError as exc:
        raise DemoFailedError(
            f"the example application is not importable ({exc}); run the demo from a source "
            "checkout with `scripts/demo` (it installs momentum in development mode)"
        ) from exc
    if database_url is not None:
        return await _story(console, lambda service: database_url)
    with tempfile.TemporaryDirectory(prefix="momentum-demo-") as directory:
        return await _story(console, lambda service: f"sqlite:///{Path(directory, service)}.db")


def _store_label(service: Service) -> str:
    store = service.store
    path = getattr(store, "path", None)
    if isinstance(path, str):
        return f"SQLite {Path(path).name}"
    schema = getattr(store, "schema", None)
    if isinstance(schema, str):
        return f"PostgreSQL schema {schema}"
    return mask_url(service.settings.database_url)


def _relays(*services: Service) -> list[OutboxRelay]:
    relays = [s.runtime.relay for s in services]
    found = [r for r in relays if r is not None]
    if len(found) != len(relays):
        raise DemoFailedError("a service runs without its outbox relay")
    return found


async def _story(console: Console, database_url: Callable[[str], str]) -> int:
    import app_domain.service as app_domain_service
    import notifications.service as notifications_service
    from app_domain.cashiers.commands import CreateCashier
    from app_domain.invoices.commands import CreateInvoice, PayInvoice
    from app_domain.invoices.queries import GetInvoice
    from notifications.email import EmailService

    story = Story(console)
    broker = InMemoryBroker()
    email = EmailService()
    app = app_domain_service.create_service(
        broker.transport(), database_url=database_url("app-domain")
    )
    notify = notifications_service.create_service(
        broker.transport(), email=email, database_url=database_url("notifications")
    )
    if app.store is None or notify.store is None:
        raise DemoFailedError("the demo needs a message store (not memory://)")
    tenant = uuid.uuid4()
    this_run = DeadLetterFilter(tenant=str(tenant))
    story.step("Start two services on the embedded default (in-process transport, no server)")
    async with app, notify:
        for service in (app, notify):
            topics = ", ".join(s.topic for s in service.runtime.subscriptions()) or "-"
            story.say(f"{service.name} [dim]{service.urn}[/] subscribes to: {topics}")
            story.say(f"  [dim]outbox, inbox and dead letters in {_store_label(service)}[/]")

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

        await _actor_step(story, app, email, tenant, cashier.cashier_id)

        story.step("In a store transaction, CashierCreated is an outbox row until the relay runs")
        story.say(
            "[dim]the outbox relays are held, as if the process had crashed right after the "
            "commit[/]"
        )
        broker.records.clear()  # what the relays published so far
        relays = _relays(app, notify)
        for relay in relays:
            await relay.stop()
        grace = ("grace@example.com", "Welcome, Grace Hopper!")
        async with tracked(app, notify) as log, app.bus.transaction():
            hired = await app.bus.invoke(CreateCashier(tenant, "Grace Hopper", "grace@example.com"))
        story.activity(log)
        held = await app.store.stats()
        story.say(f"{app.name} outbox backlog after the commit: [bold]{held.backlog}[/]")
        story.expect(
            hired.is_success and held.backlog >= 1 and grace not in email.sent,
            "the event was committed with the unit of work and waits in the outbox",
        )
        async with tracked(app, notify) as log:
            for relay in relays:
                relay.start()
        story.activity(log)
        drained = await app.store.stats()
        story.say(f"{app.name} outbox backlog once relayed: [bold]{drained.backlog}[/]")
        story.expect(
            drained.backlog == 0 and grace in email.sent and len(broker.records) == 1,
            "the relay published it (backlog 0) and notifications welcomed Grace",
        )

        story.step("The broker delivers that record again: the inbox acknowledges the duplicate")
        sent = len(email.sent)
        async with tracked(app, notify) as log:
            broker.publish_record(broker.records[0])  # at-least-once: Kafka redelivering
        story.activity(log)
        story.expect(
            any(a.kind == "duplicate" for a in log) and len(email.sent) == sent,
            "notifications' inbox knew the message id: acknowledged without running the handler",
        )

        story.step("A handler keeps failing: retried with backoff, then dead-lettered")
        story.say(f"[dim]notifications' error policy: {notify.error_policy}[/]")
        quiet = logging.getLogger("momentum")
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)  # the story narrates the failures itself
        try:
            async with tracked(app, notify) as log:
                other = await app.bus.invoke(CreateCashier(tenant, "Bob", "bob@bounce.example"))
        finally:
            quiet.setLevel(level)  # the embedding process's logging as it was
        story.activity(log)
        story.expect(other.is_success, "the command itself succeeded (the failure is downstream)")
        story.expect(
            len(log.failed) == 3 and len(log.retried) == 2 and len(log.dead_lettered) == 1,
            "three attempts, two retries, one dead letter",
        )
        letters = await notify.store.dead_letters(this_run)
        console.print(_letters_table(letters))
        story.expect(
            len(letters) == 1 and letters[0].exception_type.endswith("EmailBouncedError"),
            f"the dead letter is a row in {notify.name}' store (it survives a restart; "
            "`momentum dlq` lists, shows, replays and purges them)",
        )

        story.step("The mail server is fixed; the dead letter is replayed through the outbox")
        email.bouncing_domains.clear()
        async with tracked(app, notify) as log:
            outcome = await notify.replay_stored_dead_letters(
                DeadLetterFilter(ids=[x.id for x in letters if x.id is not None])
            )
        story.activity(log)
        left = await notify.store.dead_letters(this_run)
        story.say(f"republished: {outcome.republished}, requeued: {outcome.requeued}")
        story.expect(outcome.total == 1 and left == [], "one dead letter replayed, none left")
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
        stores = Table("service", "store", "outbox backlog", "dead letters", "inbox size")
        backlogs = []
        for service in (app, notify):
            assert service.store is not None
            counts = await service.store.stats()
            backlogs.append(counts.backlog)
            stores.add_row(
                service.name,
                _store_label(service),
                str(counts.backlog),
                str(counts.dead_letters),
                str(counts.inbox_size),
            )
        console.print(stores)
        story.expect(backlogs == [0, 0], "every outbox row was relayed")
    return story.checks


async def _actor_step(
    story: Story, app: Service, email: Any, tenant: uuid.UUID, cashier_id: uuid.UUID
) -> None:
    """An invoice paid in two parts: its actor adds them up and publishes ``InvoicePaid``."""
    from app_domain.invoices.actor import GetInvoiceAccount, InvoiceActor
    from app_domain.invoices.commands import CreateInvoice, PayInvoice

    story.step("Pay an invoice in two parts: its actor adds them up, then publishes InvoicePaid")
    async with tracked(app) as log:
        invoice = (await app.bus.invoke(CreateInvoice(tenant, cashier_id, Decimal(100)))).value
        first = await app.bus.invoke(PayInvoice(invoice.invoice_id, Decimal(60)))
    story.activity(log)
    account = await app.bus.invoke(GetInvoiceAccount(invoice.invoice_id))
    story.say(f"InvoiceActor {invoice.invoice_id}: {account.status}, {account.paid} of 100 paid")
    receipt = ("billing@tenant.example", f"Invoice {invoice.invoice_id} paid")
    story.expect(
        first.is_success and account.status == "open" and account.paid == 60,
        "the invoice's actor counted the first payment; the invoice is still open",
    )
    async with tracked(app) as log:
        await app.bus.invoke(PayInvoice(invoice.invoice_id, Decimal(40)))
    story.activity(log)
    account = await app.bus.invoke(GetInvoiceAccount(invoice.invoice_id))
    assert app.store is not None
    rows = await app.store.load_actor_states(InvoiceActor.actor_type, [str(invoice.invoice_id)])
    row = rows.get(str(invoice.invoice_id))
    if row is not None:
        story.say(f"[dim]its state is a row of {_store_label(app)}: version {row.version}[/]")
    story.expect(
        account.status == "paid" and account.paid == 100 and row is not None,
        "the second payment completed it: paid, the state saved with each payment's inbox row",
    )
    story.expect(receipt in email.sent, "InvoicePaid came from the actor: the receipt was sent")


def _letters_table(letters: list[DeadLetter]) -> Table:
    table = Table("id", "type", "handler", "attempts", "exception")
    for letter in letters:
        table.add_row(
            str(letter.id),
            (letter.message_type or "-").rsplit(".", 1)[-1],
            ".".join((letter.handler or "-").rsplit(".", 2)[-2:]),
            str(letter.attempts),
            f"{letter.exception_type.rsplit('.', 1)[-1]}: {letter.exception_message}",
        )
    return table


@app.command()
def demo(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="Message store of both services (sqlite:///path: one shared file; "
            "postgresql://...: a schema each). Default: a SQLite file per service in a "
            "temporary directory, removed afterwards.",
            show_default=False,
        ),
    ] = None,
    kafka: Annotated[
        str | None,
        typer.Option(
            "--kafka",
            metavar="BOOTSTRAP",
            help="Run the story on this Kafka broker with notifications in a separate process "
            "(needs --database-url postgresql://...: a schema per service, dropped afterwards).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the example application's story end to end (embedded default, or Kafka)."""
    if database_url is not None and database_url.strip() == IN_MEMORY_DATABASE:
        raise typer.BadParameter("the demo needs a message store", param_hint="--database-url")
    if kafka is not None and not (database_url or "").startswith(("postgresql:", "postgres:")):
        raise typer.BadParameter(
            "--kafka runs two processes sharing PostgreSQL: give --database-url postgresql://...",
            param_hint="--database-url",
        )
    console = Console()
    try:
        with settings_problems_reported("the demo's settings"):
            if kafka is not None:
                from momentum.cli.demo_processes import run_processes

                assert database_url is not None
                checks = asyncio.run(run_processes(console, kafka, database_url))
            else:
                checks = asyncio.run(run_demo(console, database_url))
    except (DemoFailedError, MomentumError) as exc:
        console.print(f"\n[bold red]demo failed:[/] {exc}")
        raise typer.Exit(1) from None
    console.print(f"\n[bold green]demo complete:[/] all {checks} checks passed")
