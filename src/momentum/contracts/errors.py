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


class ContractBaselineError(ConfigurationError):
    """``momentum check --against`` cannot read its baseline.

    The baseline is neither a readable contract file nor a git revision whose packages export
    their contracts (unknown revision, not a git repository, package absent at the revision).
    """


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


class InvalidMessageError(MomentumError, TypeError):
    """Something that is not a message was given to the bus (``None``, a dict, a class...).

    A message is an instance of a class of the application's: an event (a frozen dataclass
    or pydantic model; with ``@event_topic`` an integration event) or a ``Command`` /
    ``Query`` subclass.
    """


class TenantIsolationError(MomentumError):
    """A handler running for one tenant published a message for another (tenant isolation).

    Raised by ``publish``, ``send``, ``schedule``, ``invoke`` and cascades of a service with
    ``tenant_isolation`` on, unless the message's class is marked ``cross_tenant``.

    Attributes:
        handling: The tenant of the message being handled.
        target: The tenant of the refused message.
        message_type: The refused message's class.
    """

    def __init__(self, message: str, *, handling: str, target: str, message_type: type) -> None:
        super().__init__(message)
        self.handling = handling
        self.target = target
        self.message_type = message_type


class TransportError(MomentumError):
    """A transport (Kafka, local queues) failed to deliver or receive a message."""


class KafkaAuthenticationError(TransportError):
    """The Kafka brokers refused the client's credentials (SASL) or its TLS handshake.

    The message names the mechanism and user (never the password) and librdkafka's reason.
    """


class StoreError(MomentumError):
    """The message store (outbox, inbox, dead letters) failed."""


class ActorConflictError(StoreError):
    """An actor's state was saved by another writer since this one read it (a stale owner).

    The save is refused (the optimistic version check of the actor state row): nothing of
    the messages handled on the stale state is committed or acknowledged.

    Attributes:
        actor_type: The actor's type name.
        key: The actor's key.
        expected_version: The version the refused writer had read.
    """

    def __init__(self, actor_type: str, key: str, expected_version: int, reason: str) -> None:
        self.actor_type = actor_type
        self.key = key
        self.expected_version = expected_version
        super().__init__(f"{actor_type} {key!r}: {reason}")


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


class MessageEncodeError(SerializationError):
    """A message could not be written to its wire form (unsupported value, naive datetime...).

    Attributes:
        reason: ``encode-failed``.
        message_type: The class being encoded, when known.
    """

    reason: str = "encode-failed"

    def __init__(self, message: str, *, message_type: type | None = None) -> None:
        super().__init__(message)
        self.message_type = message_type


class MessageDecodeError(SerializationError):
    """An inbound record could not be turned into a message; dead-letter material.

    Attributes:
        reason: Short machine-usable code (``invalid-cloudevent``, ``unsupported-specversion``,
            ``unsupported-content-type``, ``unknown-type``, ``invalid-json``,
            ``schema-mismatch``, ``missing-signature``, ``unknown-signing-key``,
            ``invalid-signature``), constant per subclass.
    """

    reason: str = "decode-failed"


class InvalidCloudEventError(MessageDecodeError):
    """A required CloudEvents attribute is missing or garbled, or the record is no CloudEvent.

    Attributes:
        attribute: The offending attribute (``id``, ``source``, ``time``...), when known.
    """

    reason = "invalid-cloudevent"

    def __init__(self, message: str, *, attribute: str | None = None) -> None:
        super().__init__(message)
        self.attribute = attribute


class UnsupportedSpecVersionError(InvalidCloudEventError):
    """The record is a CloudEvent of a ``specversion`` other than ``1.0``."""

    reason = "unsupported-specversion"


class UnsupportedContentTypeError(InvalidCloudEventError):
    """The event's data is not JSON (``content-type`` / ``datacontenttype``)."""

    reason = "unsupported-content-type"


class UnknownCloudEventTypeError(MessageDecodeError, UnknownMessageTypeError):
    """The record's ``ce_type`` names no registered class; consumers usually skip it.

    Attributes:
        type_name: The unknown wire type name.
    """

    reason = "unknown-type"

    def __init__(self, message: str, *, type_name: str) -> None:
        super().__init__(message)
        self.type_name = type_name


class InvalidJsonError(MessageDecodeError):
    """The payload is not well-formed JSON.

    Attributes:
        message_type: The class the payload was meant for.
    """

    reason = "invalid-json"

    def __init__(self, message: str, *, message_type: type | None = None) -> None:
        super().__init__(message)
        self.message_type = message_type


class SchemaMismatchError(MessageDecodeError):
    """The payload is JSON but does not fit the message class (missing field, wrong type...).

    Attributes:
        message_type: The class the payload was meant for.
        problems: ``(field path, what is wrong)`` pairs, e.g. ``("cashier.cashierId",
            "Field required")``.
    """

    reason = "schema-mismatch"

    def __init__(
        self,
        message: str,
        *,
        message_type: type | None = None,
        problems: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.message_type = message_type
        self.problems = tuple(problems)


class SignatureError(MessageDecodeError):
    """An inbound record's signature is missing, unknown or wrong: it is not handled.

    Raised while decoding when the service verifies signatures (``security``
    settings): the record is kept as a dead letter with this reason.
    """

    reason = "invalid-signature"


class MissingSignatureError(SignatureError):
    """The record carries no ``ce_signature`` (or no ``ce_signaturekeyid``) and must."""

    reason = "missing-signature"


class UnknownSigningKeyError(SignatureError):
    """The record names a key id (``ce_signaturekeyid``) none of the verification keys has.

    Attributes:
        key_id: The key id the record names.
    """

    reason = "unknown-signing-key"

    def __init__(self, message: str, *, key_id: str) -> None:
        super().__init__(message)
        self.key_id = key_id
