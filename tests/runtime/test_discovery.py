"""Handler discovery by convention, with the reasons for every decision."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from momentum import HandlerConfigurationError, Service
from momentum.runtime.discovery import discover

PKG = "momentum_fixture_bus"


def test_conventions_find_functions_methods_and_validators() -> None:
    found = discover([PKG])
    names = sorted(h.name for h in found.handlers)
    assert names == [
        f"{PKG}.orders.handlers.CancelOrderHandler.handle",
        f"{PKG}.orders.handlers.handle",
        f"{PKG}.orders.handlers.handle_async",
        f"{PKG}.orders.reactions.AuditHandler.handle",
        f"{PKG}.orders.reactions.ReceiptConsumer.consume",
        f"{PKG}.orders.reactions.consume",
    ]
    assert [v.name for v in found.validators] == [f"{PKG}.orders.handlers.validate"]


def test_describe_explains_rejections() -> None:
    service = Service("orders", "Shop", [PKG])
    by_name = {c.name: c for c in service.describe()}
    rejected = by_name[f"{PKG}.orders.handlers.NotAHandlerService.handle"]
    assert not rejected.accepted and "*Handler or *Consumer" in rejected.reason
    accepted = by_name[f"{PKG}.orders.handlers.handle"]
    assert accepted.accepted and "PlaceOrder" in accepted.reason
    assert "handlers.py:" in accepted.location
    # the re-export in reexport.py is not a second handler
    assert not any(name.startswith(f"{PKG}.orders.reexport") for name in by_name)


@pytest.fixture
def make_package(tmp_path: Path, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(tmp_path))
    created: list[str] = []

    def make(name: str, source: str) -> str:
        pkg = tmp_path / name
        pkg.mkdir()
        (pkg / "__init__.py").write_text("")
        (pkg / "handlers.py").write_text(textwrap.dedent(source))
        created.append(name)
        return name

    yield make
    sys.path.remove(str(tmp_path))
    for name in created:
        for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
            del sys.modules[module]


def test_unresolvable_annotation_is_a_startup_error_naming_the_function(make_package) -> None:  # type: ignore[no-untyped-def]
    pkg = make_package(
        "momentum_fixture_unresolvable",
        """
        from __future__ import annotations

        async def handle(event: DoesNotExist) -> None:
            pass
        """,
    )
    with pytest.raises(HandlerConfigurationError) as info:
        discover([pkg])
    assert "momentum_fixture_unresolvable.handlers.handle" in str(info.value)
    assert "DoesNotExist" in str(info.value)


async def test_missing_annotation_and_duplicate_command_handlers(make_package) -> None:  # type: ignore[no-untyped-def]
    pkg = make_package(
        "momentum_fixture_missing",
        """
        async def handle(event) -> None:
            pass
        """,
    )
    with pytest.raises(HandlerConfigurationError, match="annotate the first parameter"):
        discover([pkg])
    pkg = make_package(
        "momentum_fixture_duplicate",
        """
        from dataclasses import dataclass
        from momentum import Command, handler

        @dataclass(frozen=True)
        class DoIt(Command[None]):
            pass

        async def handle(command: DoIt) -> None:
            pass

        @handler
        async def also_doit(command: DoIt) -> None:
            pass
        """,
    )
    service = Service("dup", "Shop", [pkg])
    with pytest.raises(HandlerConfigurationError) as info:
        await service.start()
    assert "exactly one" in str(info.value)
    assert "also_doit" in str(info.value) and "handlers.handle" in str(info.value)
    assert not service.running
