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
    KafkaAuthenticationError,
    MessageDecodeError,
    MessageEncodeError,
    MissingEventTopicError,
    MissingSignatureError,
    MomentumError,
    SchemaMismatchError,
    SerializationError,
    SignatureError,
    StoreError,
    TenantIsolationError,
    TransportError,
    UnknownCloudEventTypeError,
    UnknownMessageTypeError,
    UnknownSigningKeyError,
    UnsupportedContentTypeError,
    UnsupportedSpecVersionError,
    ValidationError,
)
from momentum.contracts.messages import Command, Query
from momentum.contracts.partitioning import PartitionKey, partition_key
from momentum.contracts.result import Result, ValidationFailure
from momentum.contracts.signing import CloudEventSigner
from momentum.contracts.tenancy import (
    TenantContext,
    TenantKey,
    cross_tenant,
    current_tenant,
    tenant_scope,
)
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
    KafkaSaslSettings,
    KafkaSettings,
    KafkaTlsSettings,
    LocalQueueSettings,
    MiddlewareSettings,
    MomentumSettings,
    SecuritySettings,
    StoreSettings,
    TelemetrySettings,
)

__all__ = [
    "Actor",
    "ActorConflictError",
    "ActorRef",
    "ActorSettings",
    "CircuitBreakerSettings",
    "CloudEventSigner",
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
    "KafkaAuthenticationError",
    "KafkaSaslSettings",
    "KafkaSettings",
    "KafkaTlsSettings",
    "LocalQueueSettings",
    "MessageBus",
    "MessageContextFilter",
    "MessageDecodeError",
    "MessageEncodeError",
    "MessageStore",
    "MiddlewareSettings",
    "MissingEventTopicError",
    "MissingSignatureError",
    "MomentumError",
    "MomentumSettings",
    "PartitionKey",
    "Query",
    "Reminder",
    "Result",
    "SchemaMismatchError",
    "SecuritySettings",
    "SerializationError",
    "Service",
    "SignatureError",
    "StoreError",
    "StoreSettings",
    "StoreTransaction",
    "Telemetry",
    "TelemetrySettings",
    "TenantContext",
    "TenantIsolationError",
    "TenantKey",
    "TrackingTimeoutError",
    "Transport",
    "TransportError",
    "UnknownCloudEventTypeError",
    "UnknownMessageTypeError",
    "UnknownSigningKeyError",
    "UnsupportedContentTypeError",
    "UnsupportedSpecVersionError",
    "ValidationError",
    "ValidationFailure",
    "cross_tenant",
    "current_tenant",
    "event_topic",
    "handler",
    "partition_key",
    "tenant_scope",
    "topic_name",
]
