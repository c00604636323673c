"""``ActorType``: one actor class compiled at start-up (state codec, keys, constructor)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from momentum.contracts.errors import (
    ConfigurationError,
    HandlerConfigurationError,
    InvalidPartitionKeyError,
    SerializationError,
)
from momentum.contracts.partitioning import (
    format_key_value,
    partition_key_fields,
    partition_key_function,
    partition_key_plan,
)
from momentum.contracts.serialization import Casing, MessageCodec, codec
from momentum.runtime.actors import Actor
from momentum.runtime.injection import Injector, Kind

if TYPE_CHECKING:
    from momentum.runtime.actor_activation import Activation
    from momentum.runtime.actor_chains import ActorChain
    from momentum.runtime.bus import MessageBus

KeyFunction = Callable[[Any], str]

STATE_CASING: Casing = "snake"
"""Property names of stored states: the Python names, as they are."""


def _field_names(cls: type) -> set[str] | None:
    """The field names of a dataclass or pydantic model (``None``: not known)."""
    if dataclasses.is_dataclass(cls):
        return {f.name for f in dataclasses.fields(cls)}
    fields = getattr(cls, "model_fields", None)
    return set(fields) if isinstance(fields, dict) else None


class ActorType:
    """An actor class as the runtime uses it.

    Args:
        cls: The :class:`~momentum.runtime.actors.Actor` subclass.
        injector: Plans its constructor's parameters (shared services and the bus only).
        root_bus: The service's root bus (for a constructor taking ``MessageBus``).

    Raises:
        HandlerConfigurationError: The class has no state type, the state type cannot be
            serialized, or a constructor parameter cannot be injected.
    """

    def __init__(self, cls: type[Actor[Any]], injector: Injector, root_bus: MessageBus) -> None:
        self.cls = cls
        self.name = cls.actor_type
        where = f"{cls.__module__}.{cls.__qualname__}"
        state_type = getattr(cls, "state_type", None)
        if not isinstance(state_type, type):
            raise HandlerConfigurationError(
                f"{where}: an actor names its state type: class {cls.__name__}(Actor[State])"
            )
        self.state_type: type[Any] = state_type
        try:
            self._codec: MessageCodec = codec(state_type, STATE_CASING)
        except SerializationError as exc:
            raise HandlerConfigurationError(
                f"{where}: its state type {state_type.__qualname__} cannot be stored: {exc}"
            ) from exc
        self._encode = self._codec.encode
        self._decode = self._codec.decode
        self._custom_key = cls.key_of.__func__ is not Actor.key_of.__func__  # type: ignore[attr-defined]
        self._keys: dict[type, KeyFunction] = {}
        self.chains: dict[type, ActorChain] = {}
        self._args, self._kwargs = self._constructor(injector, root_bus, where)

    def _constructor(
        self, injector: Injector, root_bus: MessageBus, where: str
    ) -> tuple[list[Any], dict[str, Any]]:
        init: Callable[..., Any] = self.cls.__init__
        if init is object.__init__:
            return [], {}
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for plan in injector.plan(init, skip=1):
            if plan.kind is Kind.STATIC:
                value = plan.value
            elif plan.kind is Kind.BUS:
                value = root_bus
            else:
                raise HandlerConfigurationError(
                    f"{where}: constructor parameter {plan.name!r} is {plan.kind.value}-scoped; "
                    "take it as a parameter of the handler method instead"
                )
            if plan.keyword_only:
                kwargs[plan.name] = value
            else:
                args.append(value)
        return args, kwargs

    def new_actor(self, key: str, activation: Activation) -> Actor[Any]:
        """A new instance for ``activation`` (``key`` set before ``__init__`` runs)."""
        actor: Actor[Any] = self.cls.__new__(self.cls)
        actor._key = key
        actor._activation = activation
        actor.__init__(*self._args, **self._kwargs)  # type: ignore[misc]
        return actor

    def encode(self, state: Any) -> bytes:
        """The state as stored (JSON); :class:`MessageEncodeError` when it cannot be."""
        data: bytes = self._encode(state)
        return data

    def decode(self, data: bytes) -> Any:
        """A state from its stored form."""
        return self._decode(data)

    def key_function(self, message_type: type, where: str) -> KeyFunction:
        """How the key of the actor handling ``message_type`` is taken from a message.

        Raises:
            HandlerConfigurationError: The field named by ``key_field`` does not exist, or
                the message type has no partition key (and ``key_of`` is not overridden).
        """
        found = self._keys.get(message_type)
        if found is not None:
            return found
        cls = self.cls
        function: KeyFunction
        if self._custom_key:
            function = cls.key_of
        elif cls.key_field is not None:
            function = self._field_key(message_type, cls.key_field, where)
        else:
            function = self._partition_key(message_type, where)
        self._keys[message_type] = function
        return function

    @staticmethod
    def _field_key(message_type: type, field: str, where: str) -> KeyFunction:
        names = _field_names(message_type)
        if names is not None and field not in names:
            raise HandlerConfigurationError(
                f"{where}: key_field {field!r} is not a field of {message_type.__qualname__}"
            )

        def key_of(message: Any) -> str:
            return format_key_value(getattr(message, field))

        return key_of

    @staticmethod
    def _partition_key(message_type: type, where: str) -> KeyFunction:
        try:
            plan = partition_key_plan(message_type)
            key_function = partition_key_function(message_type)
        except InvalidPartitionKeyError as exc:
            raise HandlerConfigurationError(f"{where}: {exc}") from exc
        if plan.accessor is None and not partition_key_fields(message_type):
            raise HandlerConfigurationError(
                f"{where}: {message_type.__qualname__} has no partition key to key the actor "
                "by; mark a field with PartitionKey, or set the actor's key_field"
            )

        def key_of(message: Any) -> str:
            key = key_function(message)
            if key is None:  # pragma: no cover - a keyed type always gives a key
                raise ConfigurationError(f"{type(message).__qualname__} gave no partition key")
            return key

        return key_of
