"""``momentum dlq list|show|replay|purge MODULE:SERVICE``: the dead letters in a service's store.

The service's message store is the one its settings name (``MOMENTUM_DATABASE_URL``; on
PostgreSQL the schema is ``MOMENTUM_STORE__SCHEMA_NAME`` or the service name), so run the
command with the service's environment.

Filters (``list``, ``replay``, ``purge``; all given must match):

- ``--type NAME``, ``--exception NAME``: the wire type name (``ce_type``) or the exception's
  fully qualified name, exactly or by its trailing dotted parts: ``EmailBouncedError`` and
  ``email.EmailBouncedError`` both match ``notifications.email.EmailBouncedError``
  (``BouncedError`` does not).
- ``--since``, ``--until``: last failure at or after / before a time: ISO 8601
  (``2026-11-23T10:00:00Z``; without an offset the time is UTC) or a duration ago
  (``30m``, ``2h``, ``1d``, ``1h30m``).
- ``--tenant ID``, ``--id N`` (repeatable), ``--limit N`` (the oldest N that match).

``replay`` starts the service in this process for as long as the replay takes, without
consuming (``Service.start(subscribe=False)``: no consumer joins the service's group, so the
running instances are not rebalanced and no live record is handled here): letters read from a
topic are written back to the outbox (for this service's consumer group only) and published
by the service's relay, for the running instances to handle; local ones are handled here. The
command waits until the relay has published them and the local handlers have run
(``--timeout``), then stops the service.

Exit codes: 0 done (also when nothing matched ``list``, ``replay`` or ``purge``); 1 failure:
``show`` found no such dead letter, the store cannot be reached (the error names it, password
masked), the service cannot start, a replayed letter failed again here, its publication failed
or the replay did not finish within ``--timeout``, or ``purge`` was not confirmed; 2 usage
error (bad MODULE:SERVICE, option value or time, invalid settings).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console, Group, RenderableType
from rich.json import JSON
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from momentum.cli.app import app
from momentum.cli.errors import usage_error
from momentum.cli.outbox import (
    JsonFlag,
    Target,
    fail,
    load,
    opened_store,
    run_async,
    store_location,
    store_of,
)
from momentum.contracts.errors import MomentumError
from momentum.runtime.store import DeadLetter, DeadLetterFilter, MessageStore
from momentum.service import Service

REPLAY_BATCH = 100
"""Dead letters taken from the store per replay transaction (one progress step)."""

dlq_app = typer.Typer(
    name="dlq",
    help=(
        "List, show, replay and purge the dead letters in a service's message store. "
        "`replay` runs the service briefly in this process, without consuming."
    ),
    no_args_is_help=True,
)
app.add_typer(dlq_app, name="dlq")

TypeFilter = Annotated[
    str | None,
    typer.Option(
        "--type",
        help="Message type (ce_type): the full name or its trailing dotted parts.",
        show_default=False,
    ),
]
ExceptionFilter = Annotated[
    str | None,
    typer.Option(
        "--exception",
        help="Exception type: the fully qualified name or its trailing dotted parts "
        "(EmailBouncedError).",
        show_default=False,
    ),
]
SinceFilter = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="Last failure at or after: ISO 8601 (UTC unless an offset is given) or a "
        "duration ago (30m, 2h, 1d).",
        show_default=False,
    ),
]
UntilFilter = Annotated[
    str | None,
    typer.Option(
        "--until",
        help="Last failure before: ISO 8601 or a duration ago.",
        show_default=False,
    ),
]
TenantFilter = Annotated[
    str | None, typer.Option("--tenant", help="Tenant id.", show_default=False)
]
IdFilter = Annotated[
    list[int] | None,
    typer.Option("--id", help="Dead letter id (repeatable).", show_default=False),
]
LimitOption = Annotated[
    int | None,
    typer.Option("--limit", min=1, help="At most this many (oldest first).", show_default=False),
]

_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_time(text: str, option: str, now: float) -> float:
    """A POSIX time from ISO 8601 (naive = UTC) or a duration before ``now`` (``2h``, ``30m``).

    Raises:
        typer.Exit: (2, after one line on stderr) Neither form, or a duration reaching back
            before the year 1.
    """
    value = text.strip().lower().replace(" ", "")
    if _DURATION.fullmatch(value):
        ago = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(value))
        try:
            datetime.fromtimestamp(now - ago, UTC)  # what the stores compare with
        except (OverflowError, OSError, ValueError):
            usage_error(f"{option} {text!r}: too far back (before the year 1)")
        return now - ago
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        usage_error(
            f"{option} {text!r}: expected an ISO 8601 time (2026-11-23T10:00:00Z) or a "
            "duration ago (30m, 2h, 1d, 1h30m)"
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def name_matches(actual: str | None, wanted: str) -> bool:
    """Whether ``actual`` is ``wanted`` or ends with ``.`` + ``wanted``."""
    return actual is not None and (actual == wanted or actual.endswith("." + wanted))


@dataclass(frozen=True, slots=True)
class Selection:
    """The dead letters the filter options select.

    ``message_type`` and ``exception`` match by suffix, so they are applied here, after the
    store's exact filters, and so is the limit then. ``filtered``: any filter was given.
    """

    where: DeadLetterFilter
    message_type: str | None = None
    exception: str | None = None
    limit: int | None = None
    filtered: bool = False

    @classmethod
    def of(
        cls,
        *,
        message_type: str | None,
        exception: str | None,
        since: str | None,
        until: str | None,
        tenant: str | None,
        ids: Sequence[int] | None,
        limit: int | None,
    ) -> Selection:
        """The selection of the command line's filter options (exit 2 when one is invalid)."""
        now = time.time()
        where = DeadLetterFilter(
            ids=list(ids) if ids else None,
            since=parse_time(since, "--since", now) if since is not None else None,
            until=parse_time(until, "--until", now) if until is not None else None,
            tenant=tenant,
        )
        suffixed = message_type is not None or exception is not None
        if not suffixed:
            where = replace(where, limit=limit)
        given = (message_type, exception, since, until, tenant, ids or None, limit)
        return cls(
            where,
            message_type,
            exception,
            limit if suffixed else None,
            filtered=any(v is not None for v in given),
        )

    async def letters(self, store: MessageStore, group: str) -> list[DeadLetter]:
        """The selected dead letters of consumer group ``group``, oldest first."""
        letters = await store.dead_letters(replace(self.where, group=group))
        if self.message_type is not None:
            letters = [x for x in letters if name_matches(x.message_type, self.message_type)]
        if self.exception is not None:
            letters = [x for x in letters if name_matches(x.exception_type, self.exception)]
        return letters[: self.limit] if self.limit is not None else letters


# -- rendering ----------------------------------------------------------------------------


def iso(timestamp: float) -> str:
    """ISO 8601 in UTC (for JSON)."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def short_time(timestamp: float) -> str:
    """``2026-11-23 22:03:34Z`` (for tables)."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def short_name(name: str | None, parts: int = 1) -> str:
    """The last ``parts`` dotted parts of ``name`` (``-`` for none)."""
    if not name:
        return "-"
    return ".".join(name.rsplit(".", parts)[-parts:])


def origin_of(letter: DeadLetter) -> str | None:
    """``topic[partition]@offset`` where the message was consumed, if it was."""
    if letter.origin_topic is None:
        return None
    text = letter.origin_topic
    if letter.origin_partition is not None:
        text += f"[{letter.origin_partition}]"
    if letter.origin_offset is not None:
        text += f"@{letter.origin_offset}"
    return text


def header_text(value: bytes) -> str:
    """A header value as text (undecodable bytes replaced)."""
    return value.decode("utf-8", errors="replace")


def summary(letter: DeadLetter) -> dict[str, Any]:
    """The JSON object of a dead letter in ``list --json``."""
    return {
        "id": letter.id,
        "message_id": letter.record.message_id,
        "message_type": letter.message_type,
        "exception_type": letter.exception_type,
        "exception_message": letter.exception_message,
        "attempts": letter.attempts,
        "first_failure_at": iso(letter.first_failure_at),
        "last_failure_at": iso(letter.last_failure_at),
        "handler": letter.handler,
        "origin": {
            "topic": letter.origin_topic,
            "partition": letter.origin_partition,
            "offset": letter.origin_offset,
        },
        "tenant": letter.tenant,
        "destination": letter.record.destination,
        "key": letter.record.key,
    }


def details(letter: DeadLetter) -> dict[str, Any]:
    """The JSON object of a dead letter in ``show --json``: the summary, headers, body, stack."""
    row = summary(letter)
    row["headers"] = [[name, header_text(value)] for name, value in letter.record.headers]
    try:
        row["body"] = letter.record.body.decode("utf-8")
    except UnicodeDecodeError:
        row["body_base64"] = base64.b64encode(letter.record.body).decode("ascii")
    row["stack"] = letter.stack
    raw = raw_key_of(letter)
    if raw is not None:
        row["key_base64"] = base64.b64encode(raw).decode("ascii")
    return row


def raw_key_of(letter: DeadLetter) -> bytes | None:
    """The key as read when its text (``record.key``) does not show it exactly, else ``None``."""
    raw = letter.raw_key
    if raw is None or raw == (letter.record.key or "").encode():
        return None
    return raw


def key_fact(letter: DeadLetter) -> str | None:
    """The key as ``show`` prints it: its text, and its bytes when the text is not exact."""
    raw = raw_key_of(letter)
    if raw is None:
        return letter.record.key
    return f"{letter.record.key} (bytes as read: {raw.hex()})"


def letters_table(letters: Sequence[DeadLetter]) -> Table:
    """The rich table of ``list``."""
    table = Table()
    table.add_column("id", justify="right", no_wrap=True)
    for name in ("type", "exception"):
        table.add_column(name, overflow="fold", ratio=2)
    table.add_column("attempts", justify="right", no_wrap=True)
    for name in ("last failure", "handler", "origin", "tenant"):
        table.add_column(name, overflow="fold", ratio=1)
    for letter in letters:
        exception = f"[red]{escape(short_name(letter.exception_type))}[/]"
        if letter.exception_message:
            message = letter.exception_message.splitlines()[0]
            message = message if len(message) <= 60 else message[:59] + "…"
            exception += f": {escape(message)}"
        table.add_row(
            str(letter.id),
            escape(short_name(letter.message_type)),
            exception,
            str(letter.attempts),
            short_time(letter.last_failure_at),
            escape(short_name(letter.handler, 2)) if letter.handler else "[dim]relay[/]",
            escape(origin_of(letter) or "-"),
            escape(letter.tenant or "-"),
        )
    return table


def body_renderable(letter: DeadLetter) -> RenderableType:
    """The body: pretty JSON when it is JSON, else text, else a note on its size."""
    body = letter.record.body
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return Text(f"({len(body)} bytes of binary data; `show --json` gives them as base64)")
    try:
        json.loads(text)
    except ValueError:
        return Text(text)
    return JSON(text, indent=2)


def details_renderable(letter: DeadLetter) -> RenderableType:
    """Everything about one dead letter, for ``show``."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    rows: list[tuple[str, str | None]] = [
        ("message id", letter.record.message_id),
        ("message type", letter.message_type),
        ("exception", letter.exception_type),
        ("message", letter.exception_message),
        ("attempts", str(letter.attempts)),
        ("first failure", short_time(letter.first_failure_at)),
        ("last failure", short_time(letter.last_failure_at)),
        ("handler", letter.handler or "(none: publishing through the outbox failed)"),
        ("origin", origin_of(letter)),
        ("tenant", letter.tenant),
        ("replays to", letter.record.destination),
        ("key", key_fact(letter)),
    ]
    for name, fact in rows:
        facts.add_row(name, Text(fact) if fact is not None else Text("-", style="dim"))
    headers = Table("header", "value", box=None, pad_edge=False)
    for name, value in letter.record.headers:
        headers.add_row(Text(name), Text(header_text(value)))
    stack: RenderableType = (
        Text(letter.stack.rstrip()) if letter.stack else Text("(no stack)", style="dim")
    )
    return Group(
        Panel(facts, title=f"dead letter #{letter.id}", title_align="left"),
        Panel(headers, title="headers", title_align="left"),
        Panel(body_renderable(letter), title="body", title_align="left"),
        Panel(stack, title="stack", title_align="left"),
    )


# -- commands -----------------------------------------------------------------------------


async def _select(service: Service, selection: Selection) -> list[DeadLetter]:
    async with opened_store(service) as store:
        return await selection.letters(store, service.group_id)


@dlq_app.command("list")
def list_letters(
    target: Target,
    message_type: TypeFilter = None,
    exception: ExceptionFilter = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
    tenant: TenantFilter = None,
    ids: IdFilter = None,
    limit: LimitOption = None,
    as_json: JsonFlag = False,
) -> None:
    """List dead letters, oldest first."""
    selection = Selection.of(
        message_type=message_type,
        exception=exception,
        since=since,
        until=until,
        tenant=tenant,
        ids=ids,
        limit=limit,
    )
    service = load(target)
    letters = run_async(_select(service, selection))
    if as_json:
        typer.echo(json.dumps([summary(x) for x in letters], indent=2))
        return
    console = Console()
    where = escape(store_location(service))
    if not letters:
        what = "match" if selection.filtered else "in"
        console.print(
            f"no dead letters {what} [bold]{escape(service.name)}[/]'s store [dim]{where}[/]"
        )
        return
    console.print(letters_table(letters))
    console.print(
        f"{len(letters)} dead letter(s) of [bold]{escape(service.name)}[/] [dim]{where}[/]"
    )


async def _one(service: Service, letter_id: int) -> DeadLetter | None:
    async with opened_store(service) as store:
        found = await store.dead_letters(DeadLetterFilter(ids=[letter_id], group=service.group_id))
    return found[0] if found else None


@dlq_app.command("show")
def show(
    target: Target,
    letter_id: Annotated[int, typer.Argument(metavar="ID", help="Dead letter id (see list).")],
    as_json: JsonFlag = False,
) -> None:
    """Everything about one dead letter: failure, origin, headers, body and stack."""
    service = load(target)
    letter = run_async(_one(service, letter_id))
    if letter is None:
        fail(
            f"no dead letter #{letter_id} in the store of {service.name} "
            f"({store_location(service)})"
        )
    if as_json:
        typer.echo(json.dumps(details(letter), indent=2))
        return
    Console().print(details_renderable(letter))


@dataclass(slots=True)
class ReplayReport:
    """What ``dlq replay`` did."""

    matched: int = 0
    republished: int = 0
    requeued: int = 0
    failed_again: int = 0
    publish_failures: int = 0
    timed_out: bool = False
    unrelayed: bool = False
    last_error: str | None = None

    @property
    def missing(self) -> int:
        """Matched letters already gone when taken (replayed or purged meanwhile)."""
        return self.matched - self.republished - self.requeued

    def problems(self, service: str, timeout: float) -> list[str]:
        """What went wrong, in words (each makes the command exit 1)."""
        found: list[str] = []
        if self.failed_again:
            found.append(
                f"{self.failed_again} replayed letter(s) failed again here and are dead letters "
                "again (see `momentum dlq list`)"
            )
        if self.unrelayed:
            found.append(
                f"service {service} has no transport in this process: the {self.republished} "
                "republished letter(s) wait in its outbox until an instance with a transport runs"
            )
        if self.publish_failures:
            found.append(
                f"{self.publish_failures} publication(s) failed ({self.last_error}); the rows "
                "stay in the outbox and the service's relay retries them"
            )
        if self.timed_out:
            found.append(
                f"the replay was not finished after {timeout:g} s; what was not published stays "
                "in the outbox for the service's relay (raise --timeout to wait longer)"
            )
        return found


async def _replay(
    service: Service, selection: Selection, wait_seconds: float, progress: bool
) -> ReplayReport:
    store_of(service)  # a clear error before starting anything
    report = ReplayReport()
    try:
        await service.start(subscribe=False)  # publishes and relays; consumes nothing
    except MomentumError as exc:
        fail(f"cannot start service {service.name} to replay: {exc}")
    try:
        store = service.store
        assert store is not None
        letters = await selection.letters(store, service.group_id)
        report.matched = len(letters)
        if not letters:
            return report
        started = time.time()
        relay = service.runtime.relay
        failed_before = relay.failed if relay is not None else 0
        ids = [x.id for x in letters if x.id is not None]
        with Progress(
            TextColumn("replaying"),
            BarColumn(),
            MofNCompleteColumn(),
            console=Console(stderr=True),
            transient=True,
            disable=not progress or len(ids) <= REPLAY_BATCH,
        ) as bar:
            task = bar.add_task("replaying", total=len(ids))
            for start in range(0, len(ids), REPLAY_BATCH):
                chunk = ids[start : start + REPLAY_BATCH]
                outcome = await service.replay_stored_dead_letters(DeadLetterFilter(ids=chunk))
                report.republished += outcome.republished
                report.requeued += outcome.requeued
                bar.advance(task, len(chunk))
        try:
            await asyncio.wait_for(service.runtime.wait_idle(), wait_seconds)
        except TimeoutError:
            report.timed_out = True
        relay = service.runtime.relay
        if relay is None:
            report.unrelayed = report.republished > 0
        else:
            report.publish_failures = relay.failed - failed_before
            report.last_error = relay.last_error
        replayed = {x.record.message_id for x in letters}
        again = await store.dead_letters(DeadLetterFilter(since=started, group=service.group_id))
        report.failed_again = sum(1 for x in again if x.record.message_id in replayed)
        return report
    finally:
        await service.stop()


@dlq_app.command("replay")
def replay(
    target: Target,
    message_type: TypeFilter = None,
    exception: ExceptionFilter = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
    tenant: TenantFilter = None,
    ids: IdFilter = None,
    limit: LimitOption = None,
    timeout: Annotated[
        float,
        typer.Option(min=0.1, help="Seconds to wait for the relay and local handlers."),
    ] = 30.0,
    log_level: Annotated[str, typer.Option(help="Python logging level.")] = "WARNING",
    as_json: JsonFlag = False,
) -> None:
    """Replay dead letters through the normal path (runs the service briefly in this process).

    Letters read from a topic go back to it through the outbox, for this service's consumer
    group only (handlers that had finished are skipped by the inbox), and the running
    instances handle them; local ones are handled here. This process consumes nothing. Waits
    until the relay published them, then stops the service.
    """
    selection = Selection.of(
        message_type=message_type,
        exception=exception,
        since=since,
        until=until,
        tenant=tenant,
        ids=ids,
        limit=limit,
    )
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    service = load(target)
    report = run_async(_replay(service, selection, timeout, progress=not as_json))
    problems = report.problems(service.name, timeout)
    if as_json:
        row = {
            "matched": report.matched,
            "republished": report.republished,
            "requeued": report.requeued,
            "missing": report.missing,
            "failed_again": report.failed_again,
            "publish_failures": report.publish_failures,
            "timed_out": report.timed_out,
            "problems": problems,
        }
        typer.echo(json.dumps(row, indent=2))
        if problems:
            raise typer.Exit(1)
        return
    console = Console()
    if report.matched == 0:
        console.print("no dead letters match; nothing replayed")
        return
    console.print(
        f"replayed {report.republished + report.requeued} dead letter(s) of "
        f"[bold]{escape(service.name)}[/]: [green]{report.republished} republished[/] "
        f"(through the outbox), [green]{report.requeued} requeued[/] (handled here)"
    )
    if report.missing:
        console.print(
            f"[yellow]{report.missing} were already gone (replayed or purged meanwhile)[/]"
        )
    if problems:
        fail("; ".join(problems))


async def _purge(service: Service, ids: list[int]) -> int:
    async with opened_store(service) as store:
        return await store.purge_dead_letters(DeadLetterFilter(ids=ids, group=service.group_id))


@dlq_app.command("purge")
def purge(
    target: Target,
    message_type: TypeFilter = None,
    exception: ExceptionFilter = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
    tenant: TenantFilter = None,
    ids: IdFilter = None,
    limit: LimitOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Delete dead letters for good (asks for confirmation unless --yes)."""
    selection = Selection.of(
        message_type=message_type,
        exception=exception,
        since=since,
        until=until,
        tenant=tenant,
        ids=ids,
        limit=limit,
    )
    service = load(target)
    letters = run_async(_select(service, selection))
    selected = [x.id for x in letters if x.id is not None]
    if selected and not yes:
        scope = "matching" if selection.filtered else "all"
        typer.confirm(
            f"Delete {scope} {len(selected)} dead letter(s) of {service.name} "
            f"({store_location(service)}) for good?",
            abort=True,
            err=True,
        )
    count = run_async(_purge(service, selected)) if selected else 0
    if as_json:
        typer.echo(json.dumps({"purged": count}))
    elif not selected:
        Console().print("no dead letters match; nothing purged")
    else:
        Console().print(f"purged {count} dead letter(s) of [bold]{escape(service.name)}[/]")
