"""``BusRuntime``: handler tables, routing, cascading, tracking.

Built by the service at start: it compiles one chain per handler. An outgoing integration
event (a class decorated with ``event_topic``) goes to the transport when the service has
one, and comes back through the service's own subscription if it handles it too; every
other message, and integration events without a transport, go to the local queue of each
handler of its type.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from momentum.contracts.discovery import discover_events
from momentum.contracts.envelope import Envelope
from momentum.contracts.errors import (
    ConfigurationError,
    HandlerConfigurationError,
    HandlerNotFoundError,
    StoreError,
)
from momentum.contracts.messages import Command, Query, not_a_message
from momentum.contracts.partitioning import partition_key
from momentum.contracts.topics import get_event_topic, topic_name
from momentum.runtime.actor_runtime import ActorOptions, ActorRuntime
from momentum.runtime.batches import BatchPublisher
from momentum.runtime.bus import MessageBus
from momentum.runtime.circuit_breaker import CircuitBreaker, CircuitBreakerSettings
from momentum.runtime.dead_letters import (
    DeadLetterSink,
    DeadLetterTransport,
    InMemoryDeadLetters,
    TransportDeadLetters,
)
from momentum.runtime.delivery import STORE_RETRY_SECONDS, Delivery
from momentum.runtime.discovery import Discovery
from momentum.runtime.durable_queues import DurableLocalQueues, DurableWork
from momentum.runtime.gauges import GaugeRefresher
from momentum.runtime.injection import Injector, ServiceRegistry
from momentum.runtime.local_queues import LocalQueue, PendingWork, QueuedWork
from momentum.runtime.middleware import Middleware, MiddlewareRegistration, Next, compose
from momentum.runtime.outbox import Durability, active_session, current_transaction
from momentum.runtime.pipeline import HandlerChain, Invoker, Validator, bind
from momentum.runtime.policies import ErrorPolicy
from momentum.runtime.ports import (
    Destination,
    PausableTransport,
    RecordTransport,
    RejectingTransport,
    RevokingTransport,
    Subscription,
    TenantFilteringTransport,
    Transport,
)
from momentum.runtime.records import encode_outgoing
from momentum.runtime.rejected import StoredRejections
from momentum.runtime.relay import OutboxRelay, RelaySettings
from momentum.runtime.replay import REPLAY_GROUP_HEADER
from momentum.runtime.scheduler import InMemoryScheduler
from momentum.runtime.store import (
    LOCAL_PREFIX,
    MessageStore,
    OutgoingRecord,
    StoreTransaction,
    local_destination,
)
from momentum.runtime.stored_dead_letters import StoreDeadLetters
from momentum.runtime.telemetry import GaugeTelemetry, Telemetry
from momentum.runtime.tracking import Activity, ActivityLog

logger = logging.getLogger("momentum.bus")

DEFAULT_QUEUE = "default"


class BusRuntime:
    """The machinery behind every ``MessageBus`` of one service."""

    def __init__(
        self,
        *,
        source: str,
        registry: ServiceRegistry,
        middleware: Sequence[MiddlewareRegistration] = (),
        publish_middleware: Sequence[Middleware] = (),
        default_concurrency: int = 4,
        queues: dict[str, tuple[int, tuple[type, ...]]] | None = None,
        environment: str = "development",
        group: str | None = None,
        transport: Transport | None = None,
        error_policy: ErrorPolicy | None = None,
        dead_letters: DeadLetterSink | None = None,
        timeouts: Sequence[tuple[float, tuple[type, ...] | None]] = (),
        shutdown_seconds: float = 30.0,
        circuit_breaker: CircuitBreakerSettings | None = None,
        store: MessageStore | None = None,
        relay: RelaySettings | None = None,
        telemetry: Telemetry | None = None,
        gauge_interval: float = 10.0,
        actors: ActorOptions | None = None,
        tenant_isolation: bool = False,
        tenants: Iterable[str] | None = None,
    ) -> None:
        self.source = source
        self.tenant_isolation = tenant_isolation
        """Refuse messages a handler publishes for another tenant than its message's."""
        self.tenants = frozenset(tenants) if tenants is not None else None
        """The tenants whose inbound transport messages are handled (``None``: all)."""
        self._tenant_filter: frozenset[str] | None = None  # when the transport cannot filter
        self._tenant_skipped = 0
        self.telemetry = telemetry
        self._gauges = (
            GaugeRefresher(self, telemetry, gauge_interval)
            if isinstance(telemetry, GaugeTelemetry)
            else None
        )
        self.environment = environment
        self.group = group or source
        self.transport = transport
        self.store = store
        self.durability: Durability | None = None
        self.relay: OutboxRelay | None = None
        self._relay_settings = replace(
            relay or RelaySettings(owner=self.group), group=(relay and relay.group) or self.group
        )
        if store is not None:
            if transport is not None and not isinstance(transport, RecordTransport):
                raise ConfigurationError(
                    f"the {transport.name} transport cannot be used with a message store: it "
                    "does not implement RecordTransport (encode + publish_records)"
                )
            self.durability = Durability(store, self.outbox_committed, self._duplicate)
        if dead_letters is None:
            dead_letters = (
                StoreDeadLetters(store, self._encode, self.topic_of, partition_key, self.group)
                if store is not None
                else InMemoryDeadLetters()
            )
        self.dead_letters: DeadLetterSink = dead_letters
        sink = self.dead_letters
        if isinstance(transport, DeadLetterTransport):
            sink = TransportDeadLetters(sink, transport, self._dead_letter_topic)
        self.delivery = Delivery(
            error_policy or ErrorPolicy(), sink, timeouts, lambda: self.tracker, self.durability
        )
        self.delivery.telemetry = telemetry
        self.shutdown_seconds = shutdown_seconds
        self.circuit_breaker: CircuitBreaker | None = None
        self._pause_timers: set[asyncio.TimerHandle] = set()
        self._breaker_settings = circuit_breaker
        self._topics: dict[type, str | None] = {}
        self.batches = BatchPublisher(self)
        self.root_bus = MessageBus(self)
        self.tracker: ActivityLog | None = None
        self.invokers: dict[type, Invoker] = {}
        self.chains: dict[type, list[HandlerChain]] = {}
        self.pending = PendingWork()
        self.scheduler = InMemoryScheduler()
        self._registry = registry
        self._middleware = list(middleware)
        self._packages: tuple[str, ...] = ()
        self._owned: frozenset[str] = frozenset()
        self._handlers_cache: dict[type, list[HandlerChain]] = {}
        self._queues = {DEFAULT_QUEUE: LocalQueue(DEFAULT_QUEUE, default_concurrency, self.pending)}
        self._queue_of: dict[type, LocalQueue] = {}
        for name, (concurrency, types) in (queues or {}).items():
            queue = LocalQueue(name, concurrency, self.pending)
            self._queues[name] = queue
            for message_type in types:
                self._queue_of[message_type] = queue
        self._route: Next = compose(publish_middleware, self._route_message)
        self._chain_by_name: dict[str, HandlerChain] = {}
        self._scheduled_retries: dict[tuple[str, str], int] = {}  # -> pending work ticket
        self.durable_queues: DurableLocalQueues | None = None
        self._actor_options = actors or ActorOptions()
        self.actors: ActorRuntime | None = None
        """The service's actors (``None`` when it has none), once compiled."""
        if store is not None:
            self.delivery.schedule_retry = self._schedule_retry
            relay_settings = self._relay_settings
            self.durable_queues = DurableLocalQueues(
                store,
                lambda: self._chain_by_name,
                self._enqueue_durable,
                self._attempt_durable,
                prefix=local_destination(self.group, ""),
                owner=f"{relay_settings.owner}/local",
                batch_size=relay_settings.batch_size,
                lease_seconds=max(relay_settings.lease_seconds, 300.0),
                poll_seconds=relay_settings.poll_seconds,
                group=self.group,
            )

    # -- compilation -----------------------------------------------------------------

    def compile(self, discovery: Discovery) -> None:
        """Compile every discovered handler; refuse duplicate command/query handlers."""
        self._packages = discovery.packages
        self._owned = self._owned_topics()
        if self._registry.get(StoreTransaction) is None:
            self._registry.register(StoreTransaction, factory=current_transaction)
        injector = Injector(self._registry, {}, bus_type=MessageBus)
        validators: dict[type, list[Validator]] = {}
        for info in discovery.validators:
            func = bind(info, injector, self.root_bus)
            plans = injector.plan(func, skip=1)
            validators.setdefault(info.message_type, []).append(Validator(func, plans, info.name))
        chains: dict[type, list[HandlerChain]] = {}
        for info in discovery.handlers:
            message_type = info.message_type
            existing = chains.get(message_type, [])
            if existing and issubclass(message_type, Command | Query):
                raise HandlerConfigurationError(
                    f"{message_type.__qualname__} is a command/query and must have exactly one "
                    f"handler, found two: {existing[0].info.location} and {info.location}"
                )
            chain = HandlerChain(
                info,
                self,
                injector,
                self._validators_for(message_type, validators),
                [r.middleware for r in self._middleware if r.applies_to(message_type)],
            )
            chains.setdefault(message_type, []).append(chain)
        if discovery.actors:
            self.actors = ActorRuntime(self, self._actor_options, self._duplicate)
            self.actors.compile(
                discovery.actors,
                discovery.actor_handlers,
                injector,
                lambda message_type: self._validators_for(message_type, validators),
                lambda message_type: [
                    r.middleware for r in self._middleware if r.applies_to(message_type)
                ],
                chains,
            )
        self.chains = chains
        self._chain_by_name = {c.name: c for found in chains.values() for c in found}
        self._handlers_cache = {}
        self.invokers = {}
        for message_type, found in chains.items():
            if len(found) == 1:
                self.invokers[message_type] = found[0].invoke

    @staticmethod
    def _validators_for(message_type: type, table: dict[type, list[Validator]]) -> list[Validator]:
        return [v for klass in message_type.__mro__ for v in table.get(klass, [])]

    def handlers_for(self, message_type: type) -> list[HandlerChain]:
        """Handlers of ``message_type`` and of its base classes (cached)."""
        try:
            return self._handlers_cache[message_type]
        except KeyError:
            pass
        found = [c for klass in message_type.__mro__ for c in self.chains.get(klass, [])]
        self._handlers_cache[message_type] = found
        return found

    def single_handler(self, message_type: type, operation: str, message: object) -> HandlerChain:
        """The one handler of ``message_type``; raises when there is none or several.

        Raises :class:`InvalidMessageError` instead when ``message`` is no message at all.
        """
        found = self.handlers_for(message_type)
        if not found:
            problem = not_a_message(message, operation)
            if problem is not None:
                raise problem
            raise HandlerNotFoundError(message_type, self._packages)
        if len(found) > 1:
            names = ", ".join(c.name for c in found)
            raise HandlerConfigurationError(
                f"{message_type.__qualname__} has {len(found)} handlers ({names}); {operation} "
                "needs exactly one: publish it instead"
            )
        return found[0]

    def invoker_for(self, message: object) -> Invoker:
        """The invoker of the single handler of ``message``'s type (cached)."""
        message_type = type(message)
        chain = self.single_handler(message_type, "invoke", message)
        invoke = self.invokers[message_type] = chain.invoke
        return invoke

    # -- lifecycle ---------------------------------------------------------------------

    def topic_of(self, message_type: type) -> str | None:
        """The transport topic of an integration event type in this environment (cached)."""
        try:
            return self._topics[message_type]
        except KeyError:
            pass
        topic = (
            topic_name(message_type, self.environment)
            if get_event_topic(message_type) is not None
            else None
        )
        self._topics[message_type] = topic
        return topic

    def _dead_letter_topic(self, envelope: Envelope) -> str | None:
        """The topic a dead letter belongs next to: where it was read, else its own topic."""
        origin = envelope.origin
        if origin is not None and origin.topic is not None:
            return origin.topic
        return self.topic_of(type(envelope.message))

    def subscriptions(self) -> list[Subscription]:
        """The topics of the integration events this service handles, with their types."""
        by_topic: dict[str, list[type]] = {}
        for message_type in self.chains:
            topic = self.topic_of(message_type)
            if topic is not None:
                by_topic.setdefault(topic, []).append(message_type)
        owned = self._owned
        return [Subscription(t, tuple(types), t in owned) for t, types in sorted(by_topic.items())]

    def _owned_topics(self) -> frozenset[str]:
        """Topics of the integration events defined in this service's own packages."""
        topics = set()
        for info in discover_events(self._packages):
            topic = self.topic_of(info.event_type)
            if topic is not None:
                topics.add(topic)
        return frozenset(topics)

    async def start(self, *, subscribe: bool = True) -> None:
        """Open the store, start local queues, the transport's subscriptions and the relay.

        With ``subscribe=False`` the transport starts without subscriptions: it publishes but
        consumes nothing (no consumer joins the service's group).
        """
        if self.store is not None:
            await self.store.open()
        for queue in self._queues.values():
            queue.start()
        if self.durable_queues is not None:
            self.durable_queues.start()
        if self.actors is not None:
            self.actors.start()
        if self.transport is not None:
            self._attach_breaker(self.transport)
            if self.actors is not None and isinstance(self.transport, RevokingTransport):
                self.transport.on_revoked(self.actors.partitions_revoked)
            if isinstance(self.transport, PausableTransport):
                self.delivery.pause_listener = self._pause_for
            if self.store is not None and isinstance(self.transport, RejectingTransport):
                self.transport.on_rejected(StoredRejections(self.store, self.group, self.telemetry))
            if self.tenants is not None:
                if isinstance(self.transport, TenantFilteringTransport):
                    self.transport.only_tenants(self.tenants)
                else:
                    self._tenant_filter = self.tenants
            receiver = (
                self.receive
                if self.durability is None
                else self.durability.receiver(self.receive, self.handlers_for)
            )
            subscriptions = self.subscriptions() if subscribe else []
            await self.transport.start(self.group, subscriptions, receiver)
            if self.store is not None and isinstance(self.transport, RecordTransport):
                self.relay = OutboxRelay(
                    self.store, self.transport, self._relay_settings, telemetry=self.telemetry
                )
                self.relay.start()
        if self._gauges is not None:
            self._gauges.start()

    def _encode(self, envelope: Envelope, destination: str, key: str | None) -> OutgoingRecord:
        """The wire record of ``envelope``: the transport's encoding when it has one."""
        transport = self.transport
        if isinstance(transport, RecordTransport) and not destination.startswith("local:"):
            return transport.encode(envelope, Destination(destination, key))
        return encode_outgoing(envelope, destination, key)

    def outbox_committed(self, rows: int) -> None:
        """Wake the relay and the durable local queues: a commit wrote ``rows`` rows."""
        if self.relay is not None:
            self.relay.kick()
        if self.durable_queues is not None:
            self.durable_queues.kick()

    def _duplicate(self, envelope: Envelope, handler: str) -> None:
        tracker = self.tracker
        if tracker is not None:
            tracker.record(Activity("duplicate", envelope.message, envelope, handler))
        logger.info(
            "%s already handled %s %s (inbox); redelivery acknowledged",
            handler,
            envelope.message_type,
            envelope.message_id,
        )

    def _pause_for(self, seconds: float) -> None:
        """Pause the transport listener now and resume it after ``seconds``."""
        transport = self.transport
        assert isinstance(transport, PausableTransport)
        transport.pause()

        def resume() -> None:
            self._pause_timers.discard(handle)
            transport.resume()

        handle = asyncio.get_running_loop().call_later(seconds, resume)
        self._pause_timers.add(handle)

    def _attach_breaker(self, transport: Transport) -> None:
        if self._breaker_settings is None:
            return
        if not isinstance(transport, PausableTransport):
            raise ConfigurationError(
                f"a circuit breaker needs a transport that can pause; {transport.name} cannot"
            )
        breaker = CircuitBreaker(
            f"{self.group}/{transport.name}",
            self._breaker_settings,
            transport.pause,
            transport.resume,
        )
        self.circuit_breaker = breaker
        self.delivery.inbound_outcome = breaker.record

    async def stop(self) -> None:
        """Stop the transport, drain local queues (bounded), then stop workers and scheduler."""
        if self._gauges is not None:
            await self._gauges.stop()
        await self.scheduler.stop()
        for handle in self._pause_timers:
            handle.cancel()
        if self._pause_timers and isinstance(self.transport, PausableTransport):
            self.transport.resume()  # let in-flight work drain
        self._pause_timers.clear()
        if self.circuit_breaker is not None:
            self.circuit_breaker.close()
            if self.transport is not None and isinstance(self.transport, PausableTransport):
                self.transport.resume()  # let in-flight work drain
        relay, self.relay = self.relay, None
        if relay is not None:
            await relay.stop()
        if self.durable_queues is not None:
            await self.durable_queues.stop()
        if self.transport is not None:
            await self.transport.stop()  # flushes: records in flight get their outcome
        if relay is not None:
            await relay.close(self.shutdown_seconds)
        for ticket in self._scheduled_retries.values():  # durable: kept for the next start
            self.pending.done(ticket)
        self._scheduled_retries.clear()
        try:
            await asyncio.wait_for(self.pending.wait_idle(), self.shutdown_seconds)
        except TimeoutError:
            logger.warning(
                "stopping %s after %g s with %d unfinished in-memory message(s), abandoned: %s",
                self.source,
                self.shutdown_seconds,
                self.pending.count,
                "; ".join(self.pending.describe()),
            )
        if self.actors is not None:
            await self.actors.stop(self.shutdown_seconds)
        if self.durability is not None:
            await self.durability.stop(self.shutdown_seconds)
        for queue in self._queues.values():
            await queue.stop()
        if self.durable_queues is not None:
            await self.durable_queues.release_held()
        if self.store is not None:
            await self.store.close()

    @property
    def tenant_skipped(self) -> int | None:
        """Inbound messages of other tenants skipped so far (``None``: every tenant is handled)."""
        if self.tenants is None:
            return None
        transport = self.transport
        if self._tenant_filter is None and isinstance(transport, TenantFilteringTransport):
            return transport.tenant_skipped
        return self._tenant_skipped

    async def wait_idle(self) -> None:
        """Return once local queues, the outbox relay and the transport have nothing left."""
        while True:
            await self.pending.wait_idle()
            if self.durability is not None:
                await self.durability.settle()
            relayed = await self.relay.wait_idle() if self.relay is not None else 0
            if self.durable_queues is not None:
                relayed += await self.durable_queues.wait_idle()
            if self.transport is not None:
                await self.transport.wait_idle()
            unsettled = self.durability.commits.unsettled if self.durability is not None else 0
            if self.actors is not None:
                unsettled += self.actors.unsettled
            if self.pending.count == 0 and not relayed and not unsettled:
                return

    # -- routing -------------------------------------------------------------------------

    def record(self, kind: Any, envelope: Envelope) -> None:
        """Tell the tracker (a test session) of ``envelope``, if one is watching."""
        tracker = self.tracker
        if tracker is not None:
            tracker.record(Activity(kind, envelope.message, envelope))

    async def publish(self, envelope: Envelope) -> None:
        """Run publishing middleware, then deliver to every local handler."""
        self.record("published", envelope)
        telemetry = self.telemetry
        if telemetry is None:
            await self._route(envelope)
            return
        message = envelope.message
        topic = self.topic_of(type(message)) if self.transport is not None else None
        with telemetry.producing(envelope, "publish", topic, partition_key(message)):
            await self._route(envelope)

    def publish_many(self, envelopes: Iterable[Envelope]) -> Awaitable[None]:
        """Publish ``envelopes`` as one batch (:meth:`BatchPublisher.publish_many`)."""
        return self.batches.publish_many(envelopes)

    def publish_new(self, messages: Iterable[Any], created: float) -> Awaitable[None]:
        """Publish new messages of the root bus (:meth:`BatchPublisher.publish_new`)."""
        return self.batches.publish_new(messages, created)

    async def _route_message(self, envelope: Envelope) -> None:
        message = envelope.message
        transport = self.transport
        session = active_session()
        if transport is not None:
            topic = self.topic_of(type(message))
            if topic is not None:
                destination = Destination(topic, partition_key(message))
                if session is not None and isinstance(transport, RecordTransport):
                    session.add(transport.encode(envelope, destination))
                else:
                    await transport.publish(envelope, destination)
                return
        chains = self.handlers_for(type(message))
        if not chains:
            problem = not_a_message(message, "publish")
            if problem is not None:
                raise problem
            self.record("no-route", envelope)
            logger.debug("no handler or route for %s; dropped", envelope.message_type)
            return
        await self._deliver(chains, envelope, partition_key(message))

    async def _deliver(
        self,
        chains: Sequence[HandlerChain],
        envelope: Envelope,
        key: str | None,
        due: float | None = None,
    ) -> None:
        """Queue ``envelope`` for local handlers: durable rows with a store, else in memory.

        In memory, inside a store transaction, the queueing waits for the commit.
        """
        session = active_session()
        if self.durable_queues is not None and self.durability is not None:
            base = encode_outgoing(envelope, LOCAL_PREFIX, key, available_at=due)
            rows = [
                replace(base, destination=local_destination(self.group, chain.name))
                for chain in chains
            ]
            await self._write_rows(rows)
            return
        for chain in chains:
            if session is not None:
                session.defer(partial(self._enqueue, chain, envelope, key))
            else:
                self._enqueue(chain, envelope, key)

    async def _write_rows(self, rows: Sequence[OutgoingRecord]) -> None:
        """Write outbox rows with the running handler's transaction, else in one of their own."""
        session = active_session()
        if session is not None:  # flushed with the handler's inbox row, or its transaction
            for row in rows:
                session.add(row)
            return
        assert self.durability is not None
        async with self.durability.session() as own:
            for row in rows:
                own.add(row)

    async def send(self, envelope: Envelope) -> None:
        """Queue a command for its single local handler (once the transaction commits)."""
        chain = self.single_handler(type(envelope.message), "send", envelope.message)
        self.record("sent", envelope)
        key = partition_key(envelope.message)
        telemetry = self.telemetry
        if telemetry is None:
            await self._deliver([chain], envelope, key)
            return
        with telemetry.producing(envelope, "send", None, key):
            await self._deliver([chain], envelope, key)

    def _enqueue(self, chain: HandlerChain, envelope: Envelope, key: str | None) -> None:
        queue = self._queue_of.get(chain.message_type) or self._queues[DEFAULT_QUEUE]
        description = f"{chain.name} <- {type(envelope.message).__qualname__} {envelope.message_id}"
        queue.enqueue(QueuedWork(self.delivery.local(chain, envelope), description, key))

    async def _schedule_retry(self, chain: HandlerChain, envelope: Envelope, due: float) -> None:
        """A durable row of ``chain``'s local queue running ``envelope`` again at ``due``.

        Until this process claims it, it counts as pending work (tracked sessions wait for
        it); a stop does not wait for it.
        """
        await self._deliver([chain], envelope, partition_key(envelope.message), due)
        retry = (envelope.message_id_text, chain.name)
        if retry not in self._scheduled_retries:
            description = (
                f"{chain.name} <- scheduled retry of {type(envelope.message).__qualname__} "
                f"{envelope.message_id}"
            )
            work = QueuedWork(_nothing, description, None)
            self._scheduled_retries[retry] = self.pending.add(work)

    def _enqueue_durable(
        self, chain: HandlerChain, envelope: Envelope, key: str | None, work: DurableWork
    ) -> None:
        queue = self._queue_of.get(chain.message_type) or self._queues[DEFAULT_QUEUE]
        description = f"{chain.name} <- {type(envelope.message).__qualname__} {envelope.message_id}"
        queue.enqueue(QueuedWork(work, description, key))
        ticket = self._scheduled_retries.pop((envelope.message_id_text, chain.name), None)
        if ticket is not None:
            self.pending.done(ticket)

    async def _attempt_durable(
        self, chain: HandlerChain, envelope: Envelope, attempt: int
    ) -> tuple[float | None, int]:
        delay, next_attempt = await self.delivery.attempt(chain, envelope, attempt, inbound=True)
        if delay is None and self.durability is not None:
            try:  # the row is completed only once the handler's inbox row committed
                await self.durability.settle()
            except StoreError:
                return STORE_RETRY_SECONDS[0], attempt  # stopping: the inbox will tell
        return delay, next_attempt

    def deliver_local(self, handler: str, envelope: Envelope) -> None:
        """Queue ``envelope`` for the handler named ``handler`` (dead-letter replay)."""
        for chains in self.chains.values():
            for chain in chains:
                if chain.name == handler:
                    self._enqueue(chain, envelope, partition_key(envelope.message))
                    return
        raise HandlerNotFoundError(type(envelope.message), self._packages)

    async def receive(self, envelope: Envelope) -> float | None:
        """Handle an inbound message with every local handler (the transport's Receiver).

        A replayed dead letter meant for another consumer group is acknowledged unhandled,
        and so is a message of a tenant this service does not handle (when the transport
        does not skip those itself).
        """
        headers = envelope.headers
        if headers and headers.get(REPLAY_GROUP_HEADER, self.group) != self.group:
            return None
        tenants = self._tenant_filter
        if tenants is not None and envelope.tenant_id not in tenants:
            self._tenant_skipped += 1
            return None
        if not self.delivery.in_progress(envelope):
            self.record("received", envelope)
        chains = self.handlers_for(type(envelope.message))
        telemetry = self.telemetry
        if telemetry is None:
            return await self.delivery.inbound(envelope, chains)
        origin = envelope.origin
        topic = origin.topic if origin is not None else None
        with telemetry.receiving(envelope, topic or self.topic_of(type(envelope.message))):
            return await self.delivery.inbound(envelope, chains)

    async def cascade(self, bus: MessageBus, messages: Iterable[Any]) -> None:
        """Send cascaded commands and publish every other cascaded message, in order."""
        for message in messages:
            if isinstance(message, Command):
                await bus.send(message)
            else:
                await bus.publish(message)

    async def schedule(self, envelope: Envelope, due: float) -> None:
        """Deliver ``envelope`` at ``due`` (POSIX seconds): commands sent, others published.

        With a store, the message is a durable row due at ``due``, taken by whichever
        process of the service claims it: an integration event (with a transport) is
        published by the relay, other messages go to their handlers' durable local queues.
        Without a store they wait in this process's scheduler.
        """
        problem = not_a_message(envelope.message, "schedule")
        if problem is not None:
            raise problem
        self.record("scheduled", envelope)
        transport = self.transport
        topic = self.topic_of(type(envelope.message)) if transport is not None else None
        telemetry = self.telemetry
        if telemetry is None:
            await self._schedule(envelope, due, topic)
            return
        with telemetry.producing(envelope, "schedule", topic, partition_key(envelope.message)):
            await self._schedule(envelope, due, topic)

    async def _schedule(self, envelope: Envelope, due: float, topic: str | None) -> None:
        transport = self.transport
        if self.durability is not None and isinstance(transport, RecordTransport) and topic:
            record = transport.encode(envelope, Destination(topic, partition_key(envelope.message)))
            await self._write_rows([replace(record, available_at=due)])
            return
        if self.durable_queues is not None:
            message_type = type(envelope.message)
            chains = (
                [self.single_handler(message_type, "schedule", envelope.message)]
                if isinstance(envelope.message, Command)
                else self.handlers_for(message_type)
            )
            await self._deliver(chains, envelope, partition_key(envelope.message), due)
            return
        deliver: Callable[[Envelope], Any] = (
            self.send if isinstance(envelope.message, Command) else self.publish
        )
        job = partial(deliver, envelope)
        later = partial(self.scheduler.schedule, due, job, envelope.message_type)
        session = active_session()
        if session is not None:
            session.defer(later)
        else:
            later()


async def _nothing() -> None:
    """The run of a placeholder in the pending work (a retry waiting in the store)."""
