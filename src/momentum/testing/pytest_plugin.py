"""pytest plugin: the ``momentum_service`` fixture.

The fixture is asynchronous. With pytest-asyncio installed it is a pytest-asyncio fixture,
so it works in pytest-asyncio's default strict mode (mark the test ``@pytest.mark.asyncio``)
as well as with ``asyncio_mode = "auto"``; it runs in the test's event loop (function scope).
Without pytest-asyncio it is a plain async fixture, for another async plugin (anyio) to run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from momentum.testing.services import ServiceFactory


def _async_fixture() -> Callable[[Any], Any]:
    """``pytest_asyncio.fixture`` when pytest-asyncio is installed, else ``pytest.fixture``."""
    try:
        import pytest_asyncio
    except ImportError:  # another async plugin (anyio) runs plain async fixtures
        return pytest.fixture
    return pytest_asyncio.fixture  # function scope: the loop of the test


@_async_fixture()
async def momentum_service() -> AsyncIterator[ServiceFactory]:
    """Factory of started services, all stopped when the test finishes."""
    factory = ServiceFactory()
    try:
        yield factory
    finally:
        await factory.aclose()
