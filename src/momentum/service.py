"""``Service``: discovers handlers, wires the bus and runs its lifecycle.

```python
service = Service(name="app-domain", domain="AppDomain", packages=["app_domain"])
async with service:
    result = await service.bus.invoke(CreateCashier(...))
```
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import Any, Self

from momentum.contracts.errors import ConfigurationError
from momentum.contracts.naming import (
    environment_short_name,
    service_urn,
    validate_domain,
    validate_service_name,
)
from momentum.health import HealthReport, health_of
from momentum.runtime.actor_runtime import ActorOptions
from momentum.runtime.actors import ActorDirectory
from momentum.runtime.bus import MessageBus
from momentum.runtime.circuit_breaker import CircuitBreakerSettings
from momentum.runtime.core import BusRuntime
from momentum.runtime.dead_letters import DeadLetterRecord, DeadLetterSink, InMemoryDeadLetters
from momentum.runtime.discovery import Candidate, discover
from momentum.runtime.injection import MISSING, ServiceRegistry
from momentum.runtime.middleware import (
    ExceptionLoggingMiddleware,
    MessageStats,
    MetricsMiddleware,
    Middleware,
    MiddlewareRegistration,
    SlowHandlerMiddleware,
)
from momentum.runtime.policies import ErrorPolicy, ErrorRule, ScopedRule
from momentum.runtime.ports import Transport
from momentum.runtime.relay import RelaySettings
from momentum.runtime.replay import ReplayOutcome, replay_stored
from momentum.runtime.store import DeadLetterFilter, MessageStore
from momentum.runtime.telemetry import ServiceTelemetry, Telemetry
from momentum.runtime.tracking import ActivityLog, TrackingTimeoutError
from momentum.settings import (
    MomentumSettings,
    StoreSettings,
    TelemetrySettings,
    settings_from_arguments,
)
from momentum.wiring import (
    require_telemetry,
    store_from_settings,
    telemetry_from_settings,
    transport_from_settings,
)


class Service:
    """One microservice: its handlers, registered services, settings and message bus.

    Args:
        name: Kebab-case service name (``app-domain``); part of the service URN.
        domain: The domain the service belongs to (``AppDomain``).
        packages: Packages scanned for handlers and validators.
        transport: Carries integration events to other services (Kafka, in-memory). By
            default the Kafka transport when ``kafka_bootstrap_servers`` is set; without
            one, integration events are handled by this service's own handlers only.
        dead_letters: Where messages go when their error rule gives up (default: the
            store's dead-letter table, or memory without a store; see :attr:`dead_letters`).
        store: The message store (outbox, inbox, dead letters); by default the one
            ``database_url`` names (a SQLite file ``momentum.db``; ``memory://``: none).
            A dict or a ``StoreSettings`` here is the store *settings* instead
            (``store={"lease_seconds": 10}``), for the store ``database_url`` names.
        telemetry: Where traces, metrics and log context go: ``True`` (OpenTelemetry's global
            providers, the ``otel`` extra), ``False`` (none), or an object such as
            ``momentum.otel.OtelTelemetry(tracer_provider=...)``. By default as the
            ``telemetry`` settings say (on when an OpenTelemetry SDK is installed); a dict
            or a ``TelemetrySettings`` here is those settings
            (``telemetry={"log_context": True}``).
        settings: Settings object; otherwise built from ``overrides`` and the environment.
        **overrides: Settings given as keyword arguments (highest precedence). A group of
            nested settings (``kafka``, ``store``, ``local_queues``, ``middleware``) takes a
            dict, which sets the keys it names, or its settings object, the whole group.

    Raises:
        ConfigurationError: An argument that cannot work: an unknown name or nested key
            (the message names the closest spelling), a value of the wrong kind, or a
            setting out of range.
    """

    def __init__(
        self,
        name: str,
        domain: str,
        packages: Sequence[str] = (),
        *,
        transport: Transport | None = None,
        dead_letters: DeadLetterSink | None = None,
        store: MessageStore | StoreSettings | Mapping[str, Any] | None = None,
        telemetry: Telemetry | bool | TelemetrySettings | Mapping[str, Any] | None = None,
        settings: MomentumSettings | None = None,
        **overrides: Any,
    ) -> None:
        validate_service_name(name)
        validate_domain(domain)
        if isinstance(packages, str):
            raise ConfigurationError("packages must be a list of package names, not a string")
        if isinstance(store, StoreSettings | Mapping):
            overrides["store"], store = store, None
        if isinstance(telemetry, TelemetrySettings | Mapping):
            overrides["telemetry"], telemetry = telemetry, None
        _check_kind("transport", transport, Transport, "a transport such as KafkaTransport(...)")
        _check_kind("dead_letters", dead_letters, DeadLetterSink, "a dead-letter sink")
        _check_kind(
            "store",
            store,
            MessageStore,
            "a message store such as SqliteStore(...), a StoreSettings or a dict of store settings",
        )
        _check_kind("settings", settings, MomentumSettings, "a MomentumSettings")
        if not isinstance(telemetry, bool):
            _check_kind("telemetry", telemetry, Telemetry, "True, False or a Telemetry object")
        if settings is not None and overrides:
            raise ConfigurationError(
                f"pass either settings= or setting keyword arguments, not both (got settings= "
                f"and {', '.join(sorted(overrides))})"
            )
        self.name = name
        self.domain = domain
        self.packages = tuple(packages)
        self.settings = settings or settings_from_arguments(
            overrides, service_arguments=_SERVICE_ARGUMENTS
        )
        self.urn = service_urn(domain, name)
        self.transport = (
            transport if transport is not None else transport_from_settings(self.settings, name)
        )
        if transport is not None and self.settings.security.configured:
            _check_signing(transport)
        self.store = store if store is not None else store_from_settings(self.settings, name)
        require_telemetry(self.settings, telemetry)
        self._telemetry = telemetry
        self._dead_letters: DeadLetterSink | None = dead_letters
        if dead_letters is None and self.store is None:
            self._dead_letters = InMemoryDeadLetters()
        self._rules: list[ScopedRule] = []
        self._timeouts: list[tuple[float, tuple[type, ...] | None]] = []
        self._breaker: CircuitBreakerSettings | None = None
        self._registry = ServiceRegistry()
        self._extra_handlers: list[Callable[..., Any]] = []
        self._extra_actors: list[type] = []
        self._middleware: list[MiddlewareRegistration] = []
        self._publish_middleware: list[Middleware] = []
        self._queues: dict[str, tuple[int, tuple[type, ...]]] = {}
        self._metrics: MetricsMiddleware | None = None
        self._runtime: BusRuntime | None = None
        self._stopping = False

    # -- configuration (before start) ----------------------------------------------------

    def register(
        self,
        service_type: type,
        instance: Any = MISSING,
        *,
        factory: Callable[..., Any] | None = None,
    ) -> None:
        """Make ``service_type`` injectable: a shared ``instance`` or a per-message ``factory``.

        A generator or async generator factory runs the code after its ``yield`` as cleanup
        once the message is handled.
        """
        self._before_start("register services")
        self._registry.register(service_type, instance, factory=factory)

    def add_handler(self, func: Callable[..., Any]) -> None:
        """Register a handler function that is not in the scanned packages."""
        self._before_start("add handlers")
        self._extra_handlers.append(func)

    def add_actor(self, actor: type) -> None:
        """Run the actor class ``actor`` (a subclass of ``Actor``) not in the scanned packages."""
        self._before_start("add actors")
        self._extra_actors.append(actor)

    def use(self, middleware: Middleware, *, message_types: Iterable[type] | None = None) -> None:
        """Wrap handlers (of ``message_types`` only, if given) in ``middleware``.

        Middleware added first is outermost; the built-in middleware wraps everything.
        """
        self._before_start("add middleware")
        types = tuple(message_types) if message_types is not None else None
        self._middleware.append(MiddlewareRegistration(middleware, types))

    def use_publishing(self, middleware: Middleware) -> None:
        """Wrap every outgoing publish in ``middleware`` (first added is outermost)."""
        self._before_start("add middleware")
        self._publish_middleware.append(middleware)

    def local_queue(self, name: str, *, concurrency: int, message_types: Iterable[type]) -> None:
        """Handle ``message_types`` on their own local queue with ``concurrency`` lanes."""
        self._before_start("configure local queues")
        if concurrency < 1:
            raise ConfigurationError(f"local queue {name!r}: concurrency must be at least 1")
        self._queues[name] = (concurrency, tuple(message_types))

    def on_error(
        self,
        rule: ErrorRule,
        *,
        message_types: Iterable[type] | None = None,
        handlers: Iterable[Callable[..., Any]] | None = None,
    ) -> None:
        """Apply ``rule`` to failures of every handler, or of those given.

        The most specific matching rule wins (handler, then message type, then global, in the
        order added); the default retries twice with backoff, then dead-letters.
        """
        self._before_start("add error rules")
        types = tuple(message_types) if message_types is not None else None
        names = (
            tuple(f"{f.__module__}.{f.__qualname__}" for f in handlers)
            if handlers is not None
            else None
        )
        self._rules.append(ScopedRule(rule, types, names))

    def handler_timeout(
        self, seconds: float, *, message_types: Iterable[type] | None = None
    ) -> None:
        """Cancel queued or received handlers (of ``message_types``) running over ``seconds``.

        A timeout counts as a failure (``TimeoutError``) for the error rules.
        """
        self._before_start("set handler timeouts")
        if seconds <= 0:
            raise ConfigurationError("handler_timeout needs a positive number of seconds")
        types = tuple(message_types) if message_types is not None else None
        self._timeouts.append((seconds, types))

    def circuit_breaker(self, settings: CircuitBreakerSettings | None = None) -> None:
        """Pause the transport listener while handlers keep failing (see CircuitBreakerSettings).

        Needs a transport that can pause (Kafka, in-memory); its state is on
        ``service.runtime.circuit_breaker`` once started.
        """
        self._before_start("configure the circuit breaker")
        self._breaker = settings or CircuitBreakerSettings()

    @property
    def error_policy(self) -> ErrorPolicy:
        """The rules in force, most specific first (``str()`` reads them in plain words)."""
        return ErrorPolicy(self._rules)

    @property
    def dead_letters(self) -> DeadLetterSink:
        """Where dead letters go: the store's table (``StoreDeadLetters``) or memory."""
        if self._runtime is not None:
            return self._runtime.dead_letters
        if self._dead_letters is None:
            raise ConfigurationError(
                f"service {self.name!r} keeps dead letters in its store; start it first"
            )
        return self._dead_letters

    async def replay_stored_dead_letters(
        self, where: DeadLetterFilter | None = None
    ) -> ReplayOutcome:
        """Take dead letters from the store (all, or those ``where`` selects) and replay them.

        Letters read from a topic go back to it through the outbox for this service's group
        only (its inbox skips handlers that had finished); local ones are queued again.
        """
        return await replay_stored(self.runtime, where or DeadLetterFilter())

    async def replay_dead_letters(self, records: Iterable[DeadLetterRecord]) -> int:
        """Queue dead letters for their handler again (attempts start over); returns the count.

        Take them from the sink first, e.g. ``service.dead_letters.take([...])`` for the
        in-memory sink, so a replayed message is not also kept as dead.
        """
        runtime = self.runtime
        count = 0
        for record in records:
            runtime.deliver_local(record.handler, record.envelope.for_attempt(1))
            count += 1
        return count

    def _before_start(self, what: str) -> None:
        if self._runtime is not None:
            raise ConfigurationError(f"cannot {what} after the service {self.name!r} started")

    # -- introspection -------------------------------------------------------------------

    def describe(self) -> list[Candidate]:
        """Every function considered as a handler or validator, with the decision and why."""
        return list(discover(self.packages, self._extra_handlers, self._extra_actors).candidates)

    @property
    def metrics(self) -> dict[type, MessageStats]:
        """Per-message-type handler statistics (empty when built-in middleware is off)."""
        return dict(self._metrics.stats) if self._metrics is not None else {}

    @property
    def bus(self) -> MessageBus:
        """The root message bus; available once the service has started."""
        if self._runtime is None:
            raise ConfigurationError(
                f"service {self.name!r} is not started; use `async with service:` first"
            )
        return self._runtime.root_bus

    @property
    def actors(self) -> ActorDirectory:
        """The service's actors: ``await service.actors.get(InvoiceActor, key).call(...)``.

        Available once the service has started.
        """
        runtime = self.runtime
        if runtime.actors is None:
            raise ConfigurationError(
                f"service {self.name!r} runs no actors (none in its packages, none added "
                "with add_actor)"
            )
        return ActorDirectory(runtime.actors)

    async def health(self) -> HealthReport:
        """Store backlog and relay lag, relay and queue progress, circuit, assignment."""
        return await health_of(self)

    @property
    def group_id(self) -> str:
        """Consumer group of this service: ``{environment short name}.{service name}``."""
        return f"{environment_short_name(self.settings.environment)}.{self.name}"

    @property
    def running(self) -> bool:
        """Whether the service is started."""
        return self._runtime is not None

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, *, subscribe: bool = True) -> None:
        """Discover and compile handlers, open the store, start local queues and the transport.

        Args:
            subscribe: ``False`` starts an instance that consumes nothing from the transport
                (no consumer joins the service's group, so the running instances are not
                rebalanced) but publishes, relays its outbox and runs its local queues: what
                ``momentum dlq replay`` runs.
        """
        if self._runtime is not None:
            return
        middleware = list(self._builtin_middleware()) + self._middleware
        runtime = BusRuntime(
            source=self.urn,
            registry=self._registry,
            middleware=middleware,
            publish_middleware=self._publish_middleware,
            default_concurrency=self.settings.local_queues.concurrency,
            queues=self._queues,
            environment=self.settings.environment,
            group=self.group_id,
            transport=self.transport,
            error_policy=self.error_policy,
            dead_letters=self._dead_letters,
            timeouts=self._timeouts,
            shutdown_seconds=self.settings.shutdown_seconds,
            circuit_breaker=self._breaker,
            store=self.store,
            relay=self._relay_settings(),
            telemetry=self._resolve_telemetry(),
            gauge_interval=self.settings.telemetry.gauge_interval_seconds,
            actors=ActorOptions(
                idle_seconds=self.settings.actors.idle_seconds,
                max_activations=self.settings.actors.max_activations,
            ),
            tenant_isolation=self.settings.tenant_isolation,
            tenants=self.settings.tenants,
        )
        runtime.compile(discover(self.packages, self._extra_handlers, self._extra_actors))
        try:
            await runtime.start(subscribe=subscribe)
        except BaseException:
            await runtime.stop()
            raise
        self._runtime = runtime

    def _resolve_telemetry(self) -> Telemetry | None:
        """The telemetry this start reports to (named after the service)."""
        chosen = self._telemetry
        if chosen is False:
            return None
        if chosen is True:
            chosen = telemetry_from_settings(
                self.settings.model_copy(
                    update={
                        "telemetry": self.settings.telemetry.model_copy(update={"enabled": True})
                    }
                )
            )
        elif chosen is None:
            chosen = telemetry_from_settings(self.settings)
        if isinstance(chosen, ServiceTelemetry):
            transport = self.transport
            chosen.attach(self.name, self.group_id, transport.name if transport else None)
        return chosen

    def _relay_settings(self) -> RelaySettings:
        config = self.settings.store
        return RelaySettings(
            owner=f"{self.group_id}/{socket.gethostname()}:{os.getpid()}/{uuid.uuid4().hex[:8]}",
            destination_prefix=f"{environment_short_name(self.settings.environment)}.",
            batch_size=config.relay_batch_size,
            lease_seconds=config.lease_seconds,
            poll_seconds=config.poll_seconds,
            max_attempts=config.max_relay_attempts,
            hold_seconds=config.relay_hold_seconds,
            sent_retention_seconds=config.sent_retention_seconds,
            inbox_retention_seconds=config.inbox_retention_seconds,
            purge_interval_seconds=config.purge_interval_seconds,
        )

    def _builtin_middleware(self) -> Iterable[MiddlewareRegistration]:
        config = self.settings.middleware
        if not config.enabled:
            self._metrics = None
            return
        self._metrics = MetricsMiddleware()
        yield MiddlewareRegistration(ExceptionLoggingMiddleware())
        yield MiddlewareRegistration(self._metrics)
        yield MiddlewareRegistration(SlowHandlerMiddleware(config.slow_handler_seconds))

    async def stop(self) -> None:
        """Stop gracefully: drain in-memory queues, then stop workers."""
        runtime = self._runtime
        if runtime is None or self._stopping:
            return
        self._stopping = True
        try:
            await runtime.stop()
        finally:
            self._runtime = None
            self._stopping = False

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- testing support -------------------------------------------------------------------

    def tracked(self, timeout: float = 10.0) -> AbstractAsyncContextManager[ActivityLog]:
        """Record activity in the block, then wait until all cascaded work is done.

        Raises :class:`TrackingTimeoutError` listing the pending work after ``timeout``.
        ``momentum.testing.tracked(a, b)`` tracks several services together.
        """
        return track_runtimes([self.runtime], timeout)

    @property
    def runtime(self) -> BusRuntime:
        """The running bus machinery (for adapters and test helpers)."""
        if self._runtime is None:
            raise ConfigurationError(f"service {self.name!r} is not started")
        return self._runtime

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Service {self.name} ({self.urn}) {state}>"


_SERVICE_ARGUMENTS = (
    "name",
    "domain",
    "packages",
    "transport",
    "dead_letters",
    "store",
    "telemetry",
    "settings",
)


def _check_signing(transport: Transport) -> None:
    """Refuse a transport given to ``Service`` that would ignore the ``security`` settings."""
    if getattr(transport, "signer", None) is None:
        raise ConfigurationError(
            f"the security settings sign or verify records, but the {transport.name} "
            "transport given as Service(transport=...) has no signer: build it with "
            "KafkaConfig(signer=...), e.g. momentum.wiring.kafka_config(settings, name), "
            "or leave transport= unset"
        )


def _check_kind(argument: str, value: object, kind: type, what: str) -> None:
    if value is not None and not isinstance(value, kind):
        hint = " (a database is named with database_url=...)" if argument == "store" else ""
        raise ConfigurationError(
            f"Service({argument}=...) takes {what}, got a {type(value).__name__}{hint}"
        )


@asynccontextmanager
async def track_runtimes(
    runtimes: Sequence[BusRuntime],
    timeout: float,  # noqa: ASYNC109
) -> AsyncIterator[ActivityLog]:
    """Record the activity of ``runtimes`` into one log; on exit wait until all are idle."""
    log = ActivityLog()
    previous = [runtime.tracker for runtime in runtimes]
    for runtime in runtimes:
        runtime.tracker = log
    try:
        yield log

        async def quiet() -> None:
            # Work can cross from a later runtime back to an earlier one (over a transport)
            # while we wait: quiet means one full pass that recorded no new activity.
            while True:
                seen = len(log.activities)
                for runtime in runtimes:
                    await runtime.wait_idle()
                if len(log.activities) == seen and all(r.pending.count == 0 for r in runtimes):
                    return

        try:
            await asyncio.wait_for(quiet(), timeout)
        except TimeoutError:
            pending = [item for r in runtimes for item in r.pending.describe()]
            raise TrackingTimeoutError(timeout, pending) from None
    finally:
        for runtime, tracker in zip(runtimes, previous, strict=True):
            runtime.tracker = tracker
