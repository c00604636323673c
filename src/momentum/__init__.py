"""momentum: event-driven messaging for Python microservices.

Commands, queries and events handled in-process by convention, integration events on Kafka
as CloudEvents, and a transactional outbox. Adapters are imported explicitly
(``from momentum.kafka import KafkaTransport``); this module re-exports the core API.
"""

from __future__ import annotations

from momentum.contracts.envelope import Envelope
from momentum.contracts.errors import (
    ActorConflictError,
    ConfigurationError,
    ContractBaselineError,
    ContractError,
    DuplicateMessageTypeError,
    HandlerConfigurationError,
    HandlerNotFoundError,
    InvalidCloudEventError,
    InvalidDomainError,
    InvalidEventClassError,
    InvalidJsonError,
    InvalidMessageError,
    InvalidPartitionKeyError,
    InvalidServiceNameError,
    InvalidTopicError,
    InvalidVersionError,
    MessageDecodeError,
    MessageEncodeError,
    MissingEventTopicError,
    MomentumError,
    SchemaMismatchError,
    SerializationError,
    StoreError,
    TransportError,
    UnknownCloudEventTypeError,
    UnknownMessageTypeError,
    UnsupportedContentTypeError,
    UnsupportedSpecVersionError,
    ValidationError,
)
from momentum.contracts.messages import Command, Query
from momentum.contracts.partitioning import PartitionKey, partition_key
from momentum.contracts.result import Result, ValidationFailure
from momentum.contracts.tenancy import TenantContext, tenant_scope
from momentum.contracts.topics import event_topic, topic_name
from momentum.runtime.actors import Actor, ActorRef, Reminder
from momentum.runtime.bus import MessageBus
from momentum.runtime.circuit_breaker import CircuitBreakerSettings
from momentum.runtime.discovery import handler
from momentum.runtime.policies import ErrorRule
from momentum.runtime.ports import Transport
from momentum.runtime.store import DeadLetterFilter, MessageStore, StoreTransaction
from momentum.runtime.telemetry import MessageContextFilter, Telemetry
from momentum.runtime.tracking import TrackingTimeoutError
from momentum.service import Service
from momentum.settings import (
    ActorSettings,
    KafkaSettings,
    LocalQueueSettings,
    MiddlewareSettings,
    MomentumSettings,
    StoreSettings,
    TelemetrySettings,
)

__all__ = [
    "Actor",
    "ActorConflictError",
    "ActorRef",
    "ActorSettings",
    "CircuitBreakerSettings",
    "Command",
    "ConfigurationError",
    "ContractBaselineError",
    "ContractError",
    "DeadLetterFilter",
    "DuplicateMessageTypeError",
    "Envelope",
    "ErrorRule",
    "HandlerConfigurationError",
    "HandlerNotFoundError",
    "InvalidCloudEventError",
    "InvalidDomainError",
    "InvalidEventClassError",
    "InvalidJsonError",
    "InvalidMessageError",
    "InvalidPartitionKeyError",
    "InvalidServiceNameError",
    "InvalidTopicError",
    "InvalidVersionError",
    "KafkaSettings",
    "LocalQueueSettings",
    "MessageBus",
    "MessageContextFilter",
    "MessageDecodeError",
    "MessageEncodeError",
    "MessageStore",
    "MiddlewareSettings",
    "MissingEventTopicError",
    "MomentumError",
    "MomentumSettings",
    "PartitionKey",
    "Query",
    "Reminder",
    "Result",
    "SchemaMismatchError",
    "SerializationError",
    "Service",
    "StoreError",
    "StoreSettings",
    "StoreTransaction",
    "Telemetry",
    "TelemetrySettings",
    "TenantContext",
    "TrackingTimeoutError",
    "Transport",
    "TransportError",
    "UnknownCloudEventTypeError",
    "UnknownMessageTypeError",
    "UnsupportedContentTypeError",
    "UnsupportedSpecVersionError",
    "ValidationError",
    "ValidationFailure",
    "event_topic",
    "handler",
    "partition_key",
    "tenant_scope",
    "topic_name",
]
