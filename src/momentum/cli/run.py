"""``momentum run MODULE:SERVICE``: run a service until SIGINT/SIGTERM, then stop gracefully."""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from momentum.cli.app import app
from momentum.contracts.errors import MomentumError
from momentum.health import serve_health
from momentum.service import Service

logger = logging.getLogger("momentum.run")


def load_service(target: str) -> Service:
    """Import ``module:attribute``; the attribute is a ``Service`` or a callable returning one."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise typer.BadParameter(f"{target!r}: expected MODULE:SERVICE, e.g. app.main:service")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise typer.BadParameter(f"cannot import {module_name!r}: {exc}") from exc
    try:
        value = getattr(module, attribute)
    except AttributeError:
        raise typer.BadParameter(f"module {module_name!r} has no attribute {attribute!r}") from None
    if not isinstance(value, Service) and callable(value):
        value = value()
    if not isinstance(value, Service):
        raise typer.BadParameter(f"{target} is a {type(value).__name__}, not a momentum Service")
    return value


async def serve(
    service: Service, console: Console, health_host: str = "127.0.0.1", health_port: int = 0
) -> None:
    """Start ``service`` (and its health endpoint), wait for SIGINT or SIGTERM, then stop."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with service:
            server = await serve_health(service, health_host, health_port) if health_port else None
            topics = ", ".join(s.topic for s in service.runtime.subscriptions()) or "none"
            transport = service.transport.name if service.transport is not None else "none"
            console.print(
                f"[bold green]started[/] {service.name} ({service.urn}), environment "
                f"{service.settings.environment}, transport {transport}, subscriptions: {topics}"
                + (f", health on http://{health_host}:{health_port}/health" if server else ""),
                soft_wrap=True,  # one line: scripts wait for it
            )
            await stop.wait()
            console.print(f"[bold]stopping[/] {service.name}: draining in-flight work")
            if server is not None:
                server.close()
                await server.wait_closed()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    console.print(f"[bold]stopped[/] {service.name}")


@app.command()
def run(
    target: Annotated[
        str, typer.Argument(help="MODULE:SERVICE, e.g. app_domain.service:create_service")
    ],
    log_level: Annotated[str, typer.Option(help="Python logging level.")] = "INFO",
    health_port: Annotated[
        int,
        typer.Option(
            min=0,
            max=65535,
            help="Serve GET /health (JSON; 200 healthy, 503 degraded) and GET /live on this "
            "port; 0: no endpoint.",
        ),
    ] = 0,
    health_host: Annotated[str, typer.Option(help="Address of the health endpoint.")] = (
        "127.0.0.1"
    ),
) -> None:
    """Run a service (listeners, relay, local queues, health endpoint) until SIGINT/SIGTERM."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    console = Console()
    service = load_service(target)
    try:
        asyncio.run(serve(service, console, health_host, health_port))
    except MomentumError as exc:
        Console(stderr=True).print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
