"""pytest plugin: the ``momentum_service`` fixture (needs an asyncio pytest plugin)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from momentum.testing.services import ServiceFactory


@pytest.fixture
async def momentum_service() -> AsyncIterator[ServiceFactory]:
    """Factory of started services, all stopped when the test finishes."""
    factory = ServiceFactory()
    try:
        yield factory
    finally:
        await factory.aclose()
