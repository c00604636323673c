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
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

from momentum.contracts.envelope import Envelope
from momentum.contracts.errors import (
    ConfigurationError,
    HandlerConfigurationError,
    HandlerNotFoundError,
)
from momentum.contracts.messages import Command, Query
from momentum.contracts.partitioning import partition_key
from momentum.contracts.topics import get_event_topic, topic_name
from momentum.runtime.bus import MessageBus
from momentum.runtime.circuit_breaker import CircuitBreaker, CircuitBreakerSettings
from momentum.runtime.dead_letters import (
    DeadLetterSink,
    DeadLetterTransport,
    InMemoryDeadLetters,
    TransportDeadLetters,
)
from momentum.runtime.delivery import Delivery
from momentum.runtime.discovery import Discovery
from momentum.runtime.injection import Injector, ServiceRegistry
from momentum.runtime.local_queues import LocalQueue, PendingWork, QueuedWork
from momentum.runtime.middleware import Middleware, MiddlewareRegistration, Next, compose
from momentum.runtime.pipeline import HandlerChain, Invoker, Validator, bind
from momentum.runtime.policies import ErrorPolicy
from momentum.runtime.ports import Destination, PausableTransport, Subscription, Transport
from momentum.runtime.scheduler import InMemoryScheduler
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
    ) -> None:
        self.source = source
        self.environment = environment
        self.group = group or source
        self.transport = transport
        self.dead_letters: DeadLetterSink = (
            dead_letters if dead_letters is not None else InMemoryDeadLetters()
        )
        sink = self.dead_letters
        if isinstance(transport, DeadLetterTransport):
            sink = TransportDeadLetters(sink, transport, self._dead_letter_topic)
        self.delivery = Delivery(
            error_policy or ErrorPolicy(), sink, timeouts, lambda: self.tracker
        )
        self.shutdown_seconds = shutdown_seconds
        self.circuit_breaker: CircuitBreaker | None = None
        self._pause_timers: set[asyncio.TimerHandle] = set()
        self._breaker_settings = circuit_breaker
        self._topics: dict[type, str | None] = {}
        self.root_bus = MessageBus(self)
        self.tracker: ActivityLog | None = None
        self.invokers: dict[type, Invoker] = {}
        self.chains: dict[type, list[HandlerChain]] = {}
        self.pending = PendingWork()
        self.scheduler = InMemoryScheduler()
        self._registry = registry
        self._middleware = list(middleware)
        self._packages: tuple[str, ...] = ()
        self._handlers_cache: dict[type, list[HandlerChain]] = {}
        self._queues = {DEFAULT_QUEUE: LocalQueue(DEFAULT_QUEUE, default_concurrency, self.pending)}
        self._queue_of: dict[type, LocalQueue] = {}
        for name, (concurrency, types) in (queues or {}).items():
            queue = LocalQueue(name, concurrency, self.pending)
            self._queues[name] = queue
            for message_type in types:
                self._queue_of[message_type] = queue
        self._route: Next = compose(publish_middleware, self._route_message)

    # -- compilation -----------------------------------------------------------------

    def compile(self, discovery: Discovery) -> None:
        """Compile every discovered handler; refuse duplicate command/query handlers."""
        self._packages = discovery.packages
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
        self.chains = chains
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

    def single_handler(self, message_type: type, operation: str) -> HandlerChain:
        """The one handler of ``message_type``; raises when there is none or several."""
        found = self.handlers_for(message_type)
        if not found:
            raise HandlerNotFoundError(message_type, self._packages)
        if len(found) > 1:
            names = ", ".join(c.name for c in found)
            raise HandlerConfigurationError(
                f"{message_type.__qualname__} has {len(found)} handlers ({names}); {operation} "
                "needs exactly one: publish it instead"
            )
        return found[0]

    def invoker_for(self, message_type: type) -> Invoker:
        """The invoker of the single handler of ``message_type`` (cached)."""
        invoke = self.invokers[message_type] = self.single_handler(message_type, "invoke").invoke
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
        return [Subscription(t, tuple(types)) for t, types in sorted(by_topic.items())]

    async def start(self) -> None:
        """Start the local queue workers, then the transport's subscriptions."""
        for queue in self._queues.values():
            queue.start()
        if self.transport is not None:
            self._attach_breaker(self.transport)
            if isinstance(self.transport, PausableTransport):
                self.delivery.pause_listener = self._pause_for
            await self.transport.start(self.group, self.subscriptions(), self.receive)

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
        if self.transport is not None:
            await self.transport.stop()
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
        for queue in self._queues.values():
            await queue.stop()

    async def wait_idle(self) -> None:
        """Return once local queues and the transport have nothing left to handle."""
        while True:
            await self.pending.wait_idle()
            if self.transport is not None:
                await self.transport.wait_idle()
            if self.pending.count == 0:
                return

    # -- routing -------------------------------------------------------------------------

    def _record(self, kind: Any, envelope: Envelope) -> None:
        tracker = self.tracker
        if tracker is not None:
            tracker.record(Activity(kind, envelope.message, envelope))

    async def publish(self, envelope: Envelope) -> None:
        """Run publishing middleware, then deliver to every local handler."""
        self._record("published", envelope)
        await self._route(envelope)

    async def _route_message(self, envelope: Envelope) -> None:
        message = envelope.message
        if self.transport is not None:
            topic = self.topic_of(type(message))
            if topic is not None:
                await self.transport.publish(envelope, Destination(topic, partition_key(message)))
                return
        chains = self.handlers_for(type(message))
        if not chains:
            self._record("no-route", envelope)
            logger.debug("no handler or route for %s; dropped", envelope.message_type)
            return
        key = partition_key(message)
        for chain in chains:
            self._enqueue(chain, envelope, key)

    async def send(self, envelope: Envelope) -> None:
        """Queue a command for its single local handler."""
        chain = self.single_handler(type(envelope.message), "send")
        self._record("sent", envelope)
        self._enqueue(chain, envelope, partition_key(envelope.message))

    def _enqueue(self, chain: HandlerChain, envelope: Envelope, key: str | None) -> None:
        queue = self._queue_of.get(chain.message_type) or self._queues[DEFAULT_QUEUE]
        description = f"{chain.name} <- {type(envelope.message).__qualname__} {envelope.message_id}"
        queue.enqueue(QueuedWork(self.delivery.local(chain, envelope), description, key))

    def deliver_local(self, handler: str, envelope: Envelope) -> None:
        """Queue ``envelope`` for the handler named ``handler`` (dead-letter replay)."""
        for chains in self.chains.values():
            for chain in chains:
                if chain.name == handler:
                    self._enqueue(chain, envelope, partition_key(envelope.message))
                    return
        raise HandlerNotFoundError(type(envelope.message), self._packages)

    async def receive(self, envelope: Envelope) -> float | None:
        """Handle an inbound message with every local handler (the transport's Receiver)."""
        if not self.delivery.in_progress(envelope):
            self._record("received", envelope)
        return await self.delivery.inbound(envelope, self.handlers_for(type(envelope.message)))

    async def cascade(self, bus: MessageBus, messages: Iterable[Any]) -> None:
        """Send cascaded commands and publish every other cascaded message, in order."""
        for message in messages:
            if isinstance(message, Command):
                await bus.send(message)
            else:
                await bus.publish(message)

    async def schedule(self, envelope: Envelope, due: float) -> None:
        """Deliver ``envelope`` at ``due`` (POSIX seconds): commands sent, others published."""
        self._record("scheduled", envelope)
        deliver: Callable[[Envelope], Any] = (
            self.send if isinstance(envelope.message, Command) else self.publish
        )
        self.scheduler.schedule(due, partial(deliver, envelope), envelope.message_type)
