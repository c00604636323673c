"""The public test helpers: the momentum_service fixture and tracked sessions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from momentum_fixture_bus.orders.messages import OrderPlaced, PlaceOrder, SendReceipt
from momentum_fixture_bus.orders.store import OrderStore

from momentum.testing import ServiceFactory


async def test_fixture_starts_and_stops_services(momentum_service: ServiceFactory) -> None:
    store = OrderStore()
    service = await momentum_service(
        "orders", "Shop", ["momentum_fixture_bus"], services={OrderStore: store}
    )
    assert service.running
    async with service.tracked() as session:
        await service.bus.invoke(PlaceOrder(1, "ada", 3))
    assert session.messages("published", OrderPlaced) == [OrderPlaced(1, "ada")]
    assert session.messages("handled", SendReceipt) == [SendReceipt(1)]
    assert store.receipts == [1]


FRESH_PROJECT_TEST = """
from dataclasses import dataclass

import pytest

from momentum import Command

started = []


@dataclass(frozen=True)
class Add(Command[int]):
    a: int
    b: int


async def add(command: Add) -> int:
    return command.a + command.b


@pytest.mark.asyncio
async def test_the_fixture_gives_started_services(momentum_service):
    service = await momentum_service("calc", "Calc", handlers=[add])
    started.append(service)
    assert service.running
    assert await service.bus.invoke(Add(2, 3)) == 5


def test_they_were_stopped_after_the_test():
    assert len(started) == 1 and not started[0].running
"""


@pytest.mark.parametrize("mode", ["default", "auto"])
def test_the_fixture_works_in_a_fresh_project(mode: str, tmp_path: Path) -> None:
    """No configuration at all: pytest-asyncio's default (strict) mode; and auto mode."""
    (tmp_path / "test_fresh.py").write_text(FRESH_PROJECT_TEST)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    options = [] if mode == "default" else ["-o", "asyncio_mode=auto"]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *options, "test_fresh.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert f"rootdir: {tmp_path}" in run.stdout and "configfile" not in run.stdout
    expected = "mode=Mode.STRICT" if mode == "default" else "mode=Mode.AUTO"
    assert expected in run.stdout, run.stdout
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout
