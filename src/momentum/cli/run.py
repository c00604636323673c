"""``momentum run MODULE:SERVICE``: run a service until SIGINT/SIGTERM, then stop gracefully."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from momentum.cli.app import app
from momentum.cli.errors import settings_problems_reported, usage_error
from momentum.contracts.errors import ConfigurationError, MomentumError
from momentum.health import serve_health
from momentum.runtime.telemetry import MessageContextFilter
from momentum.service import Service

logger = logging.getLogger("momentum.run")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def load_service(target: str) -> Service:
    """Import ``module:attribute``: a ``Service``, or a function or ``Service`` subclass making one.

    Raises:
        typer.Exit: (2, after one line on stderr) ``target`` is not ``MODULE:SERVICE``, cannot
            be imported, is not a service or a factory taking no arguments, or building the
            service failed on its settings or configuration (secrets masked).
    """
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        usage_error(f"{target!r}: expected MODULE:SERVICE, e.g. app.main:service")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    context = f"cannot build the service {target}"
    with settings_problems_reported(context):
        try:
            return _load(target, module_name, attribute)
        except ConfigurationError as exc:
            usage_error(f"{context}: {exc}")


def _load(target: str, module_name: str, attribute: str) -> Service:
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        usage_error(f"cannot import {module_name!r}: {exc}")
    try:
        value = getattr(module, attribute)
    except AttributeError:
        usage_error(f"module {module_name!r} has no attribute {attribute!r}")
    if isinstance(value, Service):
        return value
    if isinstance(value, type) and not issubclass(value, Service):
        usage_error(f"{target} is a class, not a momentum Service nor a function returning one")
    if not callable(value):
        usage_error(f"{target} is a {type(value).__name__}, not a momentum Service")
    try:
        inspect.signature(value).bind()
    except TypeError:
        usage_error(f"{target} needs arguments: a service factory is called with none")
    except ValueError:
        pass  # no signature to check (a builtin): call it
    made = value()
    if not isinstance(made, Service):
        usage_error(
            f"{target} returned an instance of {type(made).__name__}, not a momentum Service"
        )
    return made


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
                + (
                    f", health on http://{health_host}:{health_port}/health (/health/ready, "
                    "/health/live, /metrics)"
                    if server
                    else ""
                ),
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


class MessageContextFormatter(logging.Formatter):
    """``time level logger: message``, then the handler's message when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The line, with ``[message=... type=... tenant=... attempt=...]`` inside handlers."""
        line = super().format(record)
        message_id = getattr(record, "momentum_message_id", None)
        if message_id is None:
            return line
        fields = [f"message={message_id}", f"type={getattr(record, 'momentum_message_type', None)}"]
        for name in ("correlation_id", "tenant", "attempt"):
            value = getattr(record, f"momentum_{name}", None)
            if value is not None:
                fields.append(f"{name.replace('_id', '')}={value}")
        return f"{line} [{' '.join(fields)}]"


def _install_prometheus_reader() -> None:
    try:
        from momentum.otel.prometheus import install_prometheus_reader
    except ImportError:
        return  # /metrics answers 404 and names the extra
    install_prometheus_reader()


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
    if log_level.upper() not in LOG_LEVELS:
        usage_error(f"--log-level {log_level!r}: expected one of {', '.join(LOG_LEVELS)}")
    handler = logging.StreamHandler()
    handler.addFilter(MessageContextFilter())
    handler.setFormatter(MessageContextFormatter())
    logging.basicConfig(level=log_level.upper(), handlers=[handler])
    # handlers' log lines carry their message (unless the settings say otherwise)
    os.environ.setdefault("MOMENTUM_TELEMETRY__LOG_CONTEXT", "true")
    if health_port:
        _install_prometheus_reader()
    console = Console()
    try:
        service = load_service(target)
        asyncio.run(serve(service, console, health_host, health_port))
    except MomentumError as exc:
        Console(stderr=True, soft_wrap=True).print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(1) from None
