"""``momentum provision``: create the Kafka topics (and dead-letter topics) of some packages.

It connects as the services do: with the Kafka settings of the environment and the settings
file (``kafka.common``: ``security.protocol``, ``sasl.*``, ``ssl.*``; ``kafka.client_id``).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from momentum.cli.app import app
from momentum.cli.contracts import Environment, JsonFlag, Packages, _scan
from momentum.cli.errors import load_settings, usage_error
from momentum.contracts.discovery import MessageKind, find_events
from momentum.contracts.errors import ConfigurationError, TransportError
from momentum.contracts.topics import topic_name
from momentum.wiring import kafka_config

CLIENT_ID = "momentum-provision"
"""``client.id`` of the admin client unless ``kafka.client_id`` is set."""


@app.command()
def provision(
    packages: Packages,
    bootstrap: Annotated[
        str | None,
        typer.Option(
            "--bootstrap",
            envvar="MOMENTUM_KAFKA_BOOTSTRAP_SERVERS",
            help="Kafka bootstrap servers (default: kafka_bootstrap_servers of the settings).",
            show_default=False,
        ),
    ] = None,
    environment: Environment = "development",
    partitions: Annotated[int, typer.Option(min=1, help="Partitions of new topics.")] = 3,
    replication_factor: Annotated[int, typer.Option(min=1, help="Replication factor.")] = 1,
    topic_config: Annotated[
        list[str] | None,
        typer.Option("--config", help="Topic config KEY=VALUE (repeatable), e.g. retention.ms=..."),
    ] = None,
    dead_letters: Annotated[
        bool, typer.Option(help="Also create <topic>.dlq for every topic.")
    ] = True,
    dry_run: Annotated[bool, typer.Option(help="Only list the topics.")] = False,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for the broker.")] = 30,
    as_json: JsonFlag = False,
) -> None:
    """Create the missing topics of the integration events in PACKAGES (idempotent).

    Connects with the Kafka client settings the services use (``kafka.common``).
    """
    try:
        from momentum.kafka import TopicProvisioning
        from momentum.kafka.provisioning import provision_topics_sync, topics_with_dead_letters
    except ImportError as exc:
        usage_error(str(exc))  # names the extra to install

    configs = dict(_pair(item) for item in topic_config or [])
    settings = load_settings()
    if not (bootstrap or settings.kafka_bootstrap_servers):
        usage_error(
            "no Kafka brokers: give --bootstrap, or set MOMENTUM_KAFKA_BOOTSTRAP_SERVERS or "
            "kafka_bootstrap_servers in the settings file"
        )
    events = find_events(_scan(packages))
    try:
        topics = sorted(
            {
                topic_name(e.event_type, environment)
                for e in events
                if e.kind is MessageKind.INTEGRATION_EVENT and e.topic is not None
            }
        )
    except ConfigurationError as exc:  # an environment that cannot name topics
        usage_error(f"--env {environment!r}: {exc}")
    try:
        config = replace(
            kafka_config(settings, CLIENT_ID, bootstrap_servers=bootstrap),
            provisioning=TopicProvisioning(
                enabled=True,
                partitions=partitions,
                replication_factor=replication_factor,
                configs=configs,
                dead_letter_topics=dead_letters,
                timeout=timeout,
            ),
        )
    except ConfigurationError as exc:
        usage_error(str(exc))
    wanted = topics_with_dead_letters(config, topics)
    created: list[str] = []
    if not dry_run:
        try:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=Console(stderr=True),
                transient=True,
                disable=as_json,
            ) as progress:
                task = progress.add_task("provisioning", total=len(topics))
                for topic in topics:
                    progress.update(task, description=topic)
                    created += provision_topics_sync(config, [topic])
                    progress.advance(task)
        except TransportError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=1) from None
    if as_json:
        rows = {"topics": wanted, "created": sorted(created), "dry_run": dry_run}
        typer.echo(json.dumps(rows, indent=2))
        return
    console = Console()
    for topic in wanted:
        state = (
            "[dim]would create if missing[/]"
            if dry_run
            else ("[green]created[/]" if topic in created else "[dim]exists[/]")
        )
        console.print(f"{topic}  {state}")
    if not dry_run:
        console.print(f"{len(created)} created, {len(wanted) - len(created)} already existed")


def _pair(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        usage_error(f"--config {item!r}: expected KEY=VALUE")
    return key, value
