"""``momentum topics`` and ``momentum check``: the event contracts of a set of packages.

``topics`` lists every event with its wire type name, topic, partition key and the local
handlers that consume it; ``check`` reports contract problems and exits 1 when there are any
(with ``--against REF``, also when an integration event changed incompatibly since REF: see
:mod:`momentum.cli.compat`). Both take ``--json`` for scripts. Exit code 2 means the packages
could not be imported (or the baseline could not be read, or, for ``topics``, the
environment cannot name topics).
"""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from momentum.cli.app import app
from momentum.cli.errors import usage_error
from momentum.contracts.checks import Problem, Severity, check_classes
from momentum.contracts.discovery import EventInfo, MessageKind, defined_classes, find_events
from momentum.contracts.errors import MomentumError
from momentum.contracts.modules import import_modules
from momentum.contracts.topics import topic_name
from momentum.runtime.discovery import discover_handlers

Packages = Annotated[
    list[str], typer.Argument(help="Packages to scan, e.g. app_domain.", show_default=False)
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Environment = Annotated[
    str,
    typer.Option(
        "--env",
        envvar="MOMENTUM_ENVIRONMENT",
        help="Environment whose topic names to show (production -> prod.*).",
    ),
]


def _scan(packages: Sequence[str]) -> list[type]:
    """Classes defined in ``packages``; exit 2 with the reason when they cannot be imported."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)  # like `python -m`: packages in the working directory
    try:
        return defined_classes(import_modules(packages))
    except MomentumError as exc:
        usage_error(str(exc))


def _handlers(packages: Sequence[str]) -> dict[type, list[str]] | None:
    try:
        found = discover_handlers(list(packages))
    except MomentumError as exc:
        typer.echo(f"warning: cannot list handlers: {exc}", err=True)
        return None
    by_type: dict[type, list[str]] = defaultdict(list)
    for info in found:
        by_type[info.message_type].append(info.location)
    return by_type


def _topic(info: EventInfo, env: str) -> str | None:
    if info.topic is None:
        return None
    try:
        return topic_name(info.event_type, env)
    except MomentumError as exc:  # an environment that cannot name topics
        usage_error(f"--env {env!r}: {exc}")


def _key(info: EventInfo) -> str:
    if info.partition_key_method:
        return "partition_key()"
    return ", ".join(info.partition_key_fields) or "(message id)"


def _row(info: EventInfo, env: str, handlers: dict[type, list[str]] | None) -> dict[str, Any]:
    return {
        "event": info.name,
        "kind": info.kind.value,
        "type_name": info.type_name,
        "topic": _topic(info, env),
        "partition_key_fields": list(info.partition_key_fields),
        "partition_key_method": info.partition_key_method,
        "handlers": None if handlers is None else handlers.get(info.event_type, []),
    }


def _topic_cell(info: EventInfo, topic: str | None) -> str:
    if topic is not None:
        return topic
    if info.kind is MessageKind.DOMAIN_EVENT:
        return "(in-process)"
    return "(no @event_topic)"


@app.command("topics")
def topics(
    packages: Packages,
    env: Environment = "development",
    as_json: JsonFlag = False,
) -> None:
    """List events with their type name, topic, partition key and local handlers."""
    events = find_events(_scan(packages))
    handlers = _handlers(packages)
    rows = [_row(info, env, handlers) for info in events]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo(f"No events found in {', '.join(packages)}.")
        return
    table = Table(title=f"Events in {', '.join(packages)} (environment {env})")
    for column in ("Event", "Type name", "Topic", "Partition key", "Handlers"):
        table.add_column(column, overflow="fold")
    for info, row in zip(events, rows, strict=True):
        table.add_row(
            Text(info.event_type.__qualname__),
            Text(info.type_name),
            Text(_topic_cell(info, row["topic"])),
            Text(_key(info)),
            Text("?" if row["handlers"] is None else "\n".join(row["handlers"]) or "-"),
        )
    console = Console(width=None if sys.stdout.isatty() else 400, soft_wrap=False)
    console.print(table)


def _report(problems: list[Problem]) -> str:
    by_class: dict[str, list[Problem]] = defaultdict(list)
    for problem in problems:
        by_class[problem.class_name].append(problem)
    lines: list[str] = []
    for class_name, found in by_class.items():
        lines.append(class_name)
        lines.extend(f"  {problem}" for problem in found)
    return "\n".join(lines)


@app.command("check")
def check(
    packages: Packages,
    as_json: JsonFlag = False,
    against: Annotated[
        str | None,
        typer.Option(
            "--against",
            metavar="REF",
            help="Also report breaking changes since REF: a contract file or a git revision.",
            show_default=False,
        ),
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option(
            "--export", metavar="FILE", help="Write the contract file.", show_default=False
        ),
    ] = None,
    casing: Annotated[
        str,
        typer.Option(envvar="MOMENTUM_CASING", help="Wire casing: camel, snake or pascal."),
    ] = "camel",
) -> None:
    """Check event contracts; exit 1 when there is a problem, 0 when all is well."""
    compat = None
    if against is not None or export is not None:
        from momentum.cli.compat import compatibility
        from momentum.cli.docs import checked_casing

        wire_casing = checked_casing(casing)
    classes = _scan(packages)
    events = find_events(classes)
    problems = check_classes(classes)
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if against is not None or export is not None:
        compat = compatibility(
            classes, packages, against=against, export=export, casing=wire_casing
        )
    if as_json:
        payload: dict[str, Any] = {
            "ok": not errors,
            "packages": list(packages),
            "events": len(events),
            "problems": [problem.to_dict() for problem in problems],
        }
        if compat is not None:
            payload["ok"] = not errors and not compat.breaking
            payload["compatibility"] = compat.to_dict()
        typer.echo(json.dumps(payload, indent=2))
    elif problems:
        typer.echo(_report(problems))
        names = {info.name for info in events}
        bad = len({p.class_name for p in problems if p.class_name in names})
        carried = len({p.class_name for p in problems} - names)
        types = f" and {carried} type(s) they carry" if carried else ""
        typer.echo(
            f"\n{len(problems)} problem(s) in {bad} of {len(events)} event(s){types} "
            f"in {', '.join(packages)}."
        )
    else:
        typer.echo(f"OK: {len(events)} event(s) in {', '.join(packages)}, no problems.")
    if compat is not None and not as_json:
        typer.echo(f"\n{compat.report()}")
    if errors or (compat is not None and compat.breaking):
        raise typer.Exit(code=1)
