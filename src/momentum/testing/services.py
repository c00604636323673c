"""Start services for a test and always stop them afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from momentum.runtime.tracking import ActivityLog
from momentum.service import Service, track_runtimes


def tracked(*services: Service, timeout: float = 10.0) -> AbstractAsyncContextManager[ActivityLog]:
    """Track several started services as one: a single log, and wait until all are idle."""
    return track_runtimes([s.runtime for s in services], timeout)


@asynccontextmanager
async def started(service: Service) -> AsyncIterator[Service]:
    """Start ``service`` for the block and stop it afterwards, even on failure."""
    async with service:
        yield service


class ServiceFactory:
    """Creates started services and stops all of them at teardown (the fixture's value).

    Example::

        async def test_orders(momentum_service):
            service = await momentum_service("orders", "Shop", ["my_app"],
                                             services={OrderStore: OrderStore()})
            async with service.tracked() as session:
                await service.bus.invoke(PlaceOrder(...))
    """

    def __init__(self) -> None:
        self._stack = AsyncExitStack()

    async def __call__(
        self,
        name: str,
        domain: str,
        packages: Sequence[str] = (),
        *,
        services: dict[type, Any] | None = None,
        handlers: Sequence[Callable[..., Any]] = (),
        configure: Callable[[Service], None] | None = None,
        **settings: Any,
    ) -> Service:
        """Build, configure and start a service that is stopped when the test ends.

        Without ``database_url`` the service runs without a message store (``memory://``).
        """
        settings.setdefault("database_url", "memory://")
        service = Service(name, domain, packages, **settings)
        for service_type, instance in (services or {}).items():
            service.register(service_type, instance)
        for func in handlers:
            service.add_handler(func)
        if configure is not None:
            configure(service)
        return await self._stack.enter_async_context(started(service))

    async def aclose(self) -> None:
        """Stop every service this factory started, last first."""
        await self._stack.aclose()
