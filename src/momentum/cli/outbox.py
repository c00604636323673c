"""``momentum outbox status MODULE:SERVICE``: the message store's backlog and counts.

Also home of what every store command shares: loading the service, naming its store (password
masked) and opening it with a clear error (exit 1) when it cannot be reached.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from momentum.cli.app import app
from momentum.cli.run import load_service
from momentum.contracts.errors import MomentumError
from momentum.runtime.store import MessageStore, StoreStats, mask_url
from momentum.service import Service

T = TypeVar("T")

Target = Annotated[
    str,
    typer.Argument(
        metavar="MODULE:SERVICE",
        help="A Service, or a function returning one (app.main:service).",
        show_default=False,
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]

outbox_app = typer.Typer(
    name="outbox",
    help="Inspect a service's transactional outbox (its message store).",
    no_args_is_help=True,
)
app.add_typer(outbox_app, name="outbox")


def fail(message: str) -> NoReturn:
    """Print ``message`` as an error on stderr (one line) and exit 1."""
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(1)


def load(target: str) -> Service:
    """The service ``MODULE:SERVICE`` names.

    Exit 2 when it is not one or its settings or configuration are invalid, 1 when building
    it fails otherwise.
    """
    try:
        return load_service(target)
    except MomentumError as exc:
        fail(f"cannot build the service {target}: {exc}")


def store_location(service: Service) -> str:
    """Where the service's store is: a SQLite file, or its masked URL and schema."""
    store = service.store
    path = getattr(store, "path", None)
    if isinstance(path, str):
        return f"SQLite {path}"
    url = mask_url(service.settings.database_url)
    schema = getattr(store, "schema", None)
    return f"{url} (schema {schema})" if isinstance(schema, str) else url


def store_of(service: Service) -> MessageStore:
    """The service's store; exit 1 when it has none or its SQLite file does not exist.

    A missing file is refused rather than created: a mistyped path would otherwise look like
    an empty store.
    """
    store = service.store
    if store is None:
        fail(
            f"service {service.name} has no message store (database_url "
            f"{mask_url(service.settings.database_url)}); set MOMENTUM_DATABASE_URL"
        )
    path = getattr(store, "path", None)
    if isinstance(path, str) and path not in ("", ":memory:") and not Path(path).exists():
        fail(
            f"no message store of service {service.name} at {store_location(service)} "
            "(the file does not exist; check MOMENTUM_DATABASE_URL and the working directory)"
        )
    return store


@asynccontextmanager
async def opened_store(service: Service) -> AsyncIterator[MessageStore]:
    """The service's store, open for the block and closed after (without starting the service).

    Raises:
        typer.Exit: (1) The service has no store or it cannot be reached.
    """
    store = store_of(service)
    try:
        await store.open()
    except MomentumError as exc:
        await store.close()
        fail(f"cannot open the message store of service {service.name}: {exc}")
    try:
        yield store
    finally:
        await store.close()


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine``; a store or transport failure is printed and exits 1."""
    try:
        return asyncio.run(coroutine)
    except MomentumError as exc:
        fail(str(exc))


def format_age(seconds: float) -> str:
    """A duration for people: ``0s``, ``42s``, ``3m 12s``, ``2h 5m``, ``3d 4h``."""
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{seconds:.1f}s" if 0 < seconds < 10 else f"{secs}s"


async def _stats(service: Service) -> StoreStats:
    async with opened_store(service) as store:
        return await store.stats()


@outbox_app.command("status")
def status(target: Target, as_json: JsonFlag = False) -> None:
    """Outbox backlog, age of the oldest pending message, dead letters and inbox size."""
    service = load(target)
    stats = run_async(_stats(service))
    if as_json:
        row = {
            "service": service.name,
            "store": store_location(service),
            "backlog": stats.backlog,
            "oldest_pending_age_seconds": stats.oldest_pending_age_seconds,
            "dead_letters": stats.dead_letters,
            "inbox_size": stats.inbox_size,
        }
        typer.echo(json.dumps(row, indent=2))
        return
    console = Console()
    console.print(f"[bold]{escape(service.name)}[/] [dim]{escape(store_location(service))}[/]")
    table = Table("", "", show_header=False, box=None, pad_edge=False)
    table.add_row("outbox backlog", f"{stats.backlog} unsent")
    table.add_row("oldest pending", format_age(stats.oldest_pending_age_seconds))
    table.add_row("dead letters", str(stats.dead_letters))
    table.add_row("inbox size", f"{stats.inbox_size} handled messages remembered")
    console.print(table)
