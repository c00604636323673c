"""The exception tree: every error momentum raises derives from :class:`MomentumError`.

Driver errors (Kafka, PostgreSQL, SQLite) are translated into :class:`TransportError` or
:class:`StoreError` at the adapter boundary, so user code never has to import a driver to
catch a failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from momentum.contracts.result import ValidationFailure


class MomentumError(Exception):
    """Root of every error raised by momentum."""


class ConfigurationError(MomentumError):
    """The service, a handler or a setting is declared in a way that cannot work.

    Raised at import, decoration or start-up time, never while handling a message.
    """


class ContractError(ConfigurationError):
    """An event contract (topic, domain, version, partition key) is invalid."""


class DuplicateMessageTypeError(ContractError):
    """Two classes claim the same wire type name (``ce_type``)."""


class HandlerConfigurationError(ConfigurationError):
    """A handler cannot be wired: bad signature, unresolvable annotation, duplicates."""


class SerializationError(MomentumError):
    """A message could not be encoded to, or decoded from, its wire form."""


class HandlerNotFoundError(MomentumError):
    """A message was invoked or sent but no handler is registered for its type."""

    def __init__(self, message_type: type, packages: Sequence[str]) -> None:
        self.message_type = message_type
        self.packages = tuple(packages)
        scanned = ", ".join(self.packages) if self.packages else "(no packages configured)"
        super().__init__(
            f"No handler for {message_type.__module__}.{message_type.__qualname__}; "
            f"packages scanned: {scanned}. Define a function `handle(message: "
            f"{message_type.__qualname__}, ...)` in one of them or register it with @handler."
        )


class ValidationError(MomentumError):
    """A command failed validation and its handler does not return a ``Result``."""

    def __init__(self, message_type: type, failures: Sequence[ValidationFailure]) -> None:
        self.message_type = message_type
        self.failures = tuple(failures)
        details = "; ".join(f"{f.field}: {f.message}" for f in self.failures)
        super().__init__(f"{message_type.__qualname__} is invalid: {details}")


class TransportError(MomentumError):
    """A transport (Kafka, local queues) failed to deliver or receive a message."""


class StoreError(MomentumError):
    """The message store (outbox, inbox, dead letters) failed."""


class InvalidEventClassError(ContractError):
    """``@event_topic`` was applied to something that is not a frozen dataclass or model."""


class InvalidTopicError(ContractError):
    """A topic is empty, too long, or has characters Kafka does not allow."""


class InvalidDomainError(ContractError):
    """A domain does not start with a letter or has characters other than ``[A-Za-z0-9_-]``."""


class InvalidVersionError(ContractError):
    """An event version is not ``v`` followed by digits (``v1``, ``v2``), ``""`` or ``None``."""


class InvalidPartitionKeyError(ContractError):
    """A ``PartitionKey`` marks something that is not a field, or a field of unsupported type."""


class MissingEventTopicError(ContractError):
    """A topic was asked for a class that is not decorated with ``@event_topic``."""


class InvalidServiceNameError(ConfigurationError):
    """A service name is not kebab-case (``app-domain``)."""


class UnknownMessageTypeError(SerializationError, KeyError):
    """A wire type name (``ce_type``) does not resolve to any registered class."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
