"""Test helpers for services built on momentum.

``async with service.tracked() as session:`` records what the bus did and, on exit, waits
until every cascaded and locally queued message is handled. The pytest plugin (loaded
automatically once momentum is installed) adds a ``momentum_service`` fixture factory.
"""

from __future__ import annotations

from momentum.runtime.in_memory_transport import InMemoryBroker, InMemoryTransport
from momentum.runtime.tracking import Activity, ActivityLog, TrackingTimeoutError
from momentum.testing.services import ServiceFactory, started, tracked

__all__ = [
    "Activity",
    "ActivityLog",
    "InMemoryBroker",
    "InMemoryTransport",
    "ServiceFactory",
    "TrackingTimeoutError",
    "started",
    "tracked",
]
