from __future__ import annotations

from dataclasses import dataclass

import pytest

from momentum.contracts.errors import (
    ContractError,
    DuplicateMessageTypeError,
    SerializationError,
    UnknownMessageTypeError,
)
from momentum.contracts.message_types import MessageTypeRegistry, message_type_name


@dataclass(frozen=True)
class Plain:
    value: int


@dataclass(frozen=True)
class Declared:
    __message_type__ = "AppDomain.Cashiers.CashierCreated"
    value: int


@dataclass(frozen=True)
class InheritsDeclared(Declared):
    pass


class Outer:
    @dataclass(frozen=True)
    class Inner:
        value: int


@dataclass(frozen=True)
class SameWireName:
    __message_type__ = "AppDomain.Cashiers.CashierCreated"


@dataclass(frozen=True)
class EmptyName:
    __message_type__ = ""


@dataclass(frozen=True)
class NotText:
    __message_type__ = 42


@pytest.mark.parametrize(
    ("cls", "name"),
    [
        (Plain, f"{__name__}.Plain"),
        (Declared, "AppDomain.Cashiers.CashierCreated"),
        (InheritsDeclared, f"{__name__}.InheritsDeclared"),  # not inherited
        (Outer.Inner, f"{__name__}.Outer.Inner"),
    ],
)
def test_message_type_name(cls: type, name: str) -> None:
    assert message_type_name(cls) == name
    assert message_type_name(cls) is message_type_name(cls)  # cached


def test_pydantic_model_can_declare_a_type_name() -> None:
    from pydantic import BaseModel, ConfigDict

    class Renamed(BaseModel):
        model_config = ConfigDict(frozen=True)
        __message_type__ = "Billing.Renamed"
        value: int

    assert message_type_name(Renamed) == "Billing.Renamed"
    assert set(Renamed.model_fields) == {"value"}


@pytest.mark.parametrize("cls", [EmptyName, NotText])
def test_invalid_declared_name(cls: type) -> None:
    with pytest.raises(ContractError, match=rf"{cls.__qualname__}\.__message_type__"):
        message_type_name(cls)


def test_register_and_resolve() -> None:
    registry = MessageTypeRegistry([Plain])
    assert registry.register(Declared) == "AppDomain.Cashiers.CashierCreated"
    assert registry.register(Declared) == "AppDomain.Cashiers.CashierCreated"  # idempotent
    assert registry.resolve(f"{__name__}.Plain") is Plain
    assert registry.resolve("AppDomain.Cashiers.CashierCreated") is Declared
    assert list(registry) == [f"{__name__}.Plain", "AppDomain.Cashiers.CashierCreated"]
    assert registry.items() == [
        (f"{__name__}.Plain", Plain),
        (message_type_name(Declared), Declared),
    ]
    assert len(registry) == 2
    assert "AppDomain.Cashiers.CashierCreated" in registry
    assert Plain in registry and Declared in registry
    assert SameWireName not in registry and "nope" not in registry and 42 not in registry


def test_registries_are_independent() -> None:
    first, second = MessageTypeRegistry(), MessageTypeRegistry()
    first.register(Plain)
    assert Plain in first and Plain not in second


def test_unknown_name() -> None:
    registry = MessageTypeRegistry([Plain])
    with pytest.raises(UnknownMessageTypeError) as caught:
        registry.resolve("Other.Service.Thing")
    message = str(caught.value)
    assert "'Other.Service.Thing'" in message and f"{__name__}.Plain" in message
    assert "__message_type__" in message
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, SerializationError)


def test_two_classes_under_one_name() -> None:
    registry = MessageTypeRegistry([Declared])
    with pytest.raises(DuplicateMessageTypeError) as caught:
        registry.register(SameWireName)
    message = str(caught.value)
    assert "'AppDomain.Cashiers.CashierCreated'" in message
    assert f"{__name__}.Declared" in message and f"{__name__}.SameWireName" in message
    assert "distinct __message_type__" in message
    assert registry.resolve("AppDomain.Cashiers.CashierCreated") is Declared


def test_same_python_name_twice_explains_double_import() -> None:
    twin = type("Plain", (), {"__module__": __name__})
    registry = MessageTypeRegistry([Plain])
    with pytest.raises(DuplicateMessageTypeError, match="imported twice"):
        registry.register(twin)
