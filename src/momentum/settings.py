"""Service settings from keyword arguments, the environment, a TOML file and defaults.

Highest precedence first: keyword arguments, ``MOMENTUM_*`` environment variables, a TOML file
(``momentum.toml`` in the working directory, or the file named by ``MOMENTUM_CONFIG_FILE``),
defaults.

Nested settings use ``__`` in variable names (``MOMENTUM_LOCAL_QUEUES__CONCURRENCY=8``) and
tables in the file (``[local_queues]`` / ``concurrency = 8``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_FILE_VARIABLE = "MOMENTUM_CONFIG_FILE"
DEFAULT_CONFIG_FILE = "momentum.toml"


class LocalQueueSettings(BaseModel):
    """In-memory local queues (domain events, ``bus.send``).

    Attributes:
        concurrency: Worker lanes of the default queue; one key always maps to one lane.
    """

    concurrency: int = Field(default=4, ge=1)


class ActorSettings(BaseModel):
    """Stateful actors (``MOMENTUM_ACTORS__...``).

    Attributes:
        idle_seconds: An activation without messages for this long is deactivated (its
            ``on_deactivate`` runs, its state is saved) and loaded again on its next message.
        max_activations: Activations kept in memory per process at most; beyond, the least
            recently used ones are deactivated.
    """

    idle_seconds: float = Field(default=300.0, gt=0)
    max_activations: int = Field(default=10_000, ge=1)


class MiddlewareSettings(BaseModel):
    """Built-in handler middleware.

    Attributes:
        enabled: Install exception logging, metrics and slow-handler warnings.
        slow_handler_seconds: Duration above which a handler run is logged as slow.
    """

    enabled: bool = True
    slow_handler_seconds: float = Field(default=1.0, gt=0)


class KafkaSettings(BaseModel):
    """The Kafka transport (used when ``kafka_bootstrap_servers`` is set).

    librdkafka properties go in ``common`` (every client: security), ``producer`` and
    ``consumer``; from environment variables write them with underscores
    (``MOMENTUM_KAFKA__CONSUMER__MAX_POLL_INTERVAL_MS=600000`` sets
    ``max.poll.interval.ms``). Secrets are never logged.

    Attributes:
        client_id: ``client.id``; defaults to the service name.
        common: Properties for every client (``security.protocol``, ``sasl.*``, ``ssl.*``).
        producer: Producer overrides (safe defaults: idempotence, ``acks=all``).
        consumer: Consumer overrides.
        compression: Producer ``compression.type``.
        assignment_strategy: Consumer ``partition.assignment.strategy``.
        casing: JSON property casing on the wire (``camel``, ``snake``, ``pascal``).
        provision: Create missing topics (and ``<topic>.dlq``) on start.
        partitions: Partitions of provisioned topics.
        replication_factor: Replication factor of provisioned topics.
        key_concurrency: Records of one partition handled at once, each key in order.
        max_buffered_per_partition: Unfinished records that pause a partition.
        commit_interval_seconds: Time between asynchronous offset commits.
        revoke_timeout_seconds: How long a revoke or stop waits for in-flight handlers.
        gc_freeze: When the transport starts, freeze the startup heap (``gc.collect()``, then
            ``gc.freeze()``, once per process) so full collections never scan it again.
        gc_gen0_threshold: When the transport starts, raise the garbage collector's
            first-generation threshold to this (Python's default is 700; never lowered);
            ``None`` leaves it alone. See ``momentum.kafka.config.GcTuning``.
    """

    client_id: str | None = None
    common: dict[str, str | int | float | bool] = Field(default_factory=dict)
    producer: dict[str, str | int | float | bool] = Field(default_factory=dict)
    consumer: dict[str, str | int | float | bool] = Field(default_factory=dict)
    compression: str = "zstd"
    assignment_strategy: str = "cooperative-sticky"
    casing: Literal["camel", "snake", "pascal"] = "camel"
    provision: bool = False
    partitions: int = Field(default=3, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    key_concurrency: int = Field(default=1, ge=1)
    max_buffered_per_partition: int = Field(default=5000, ge=1)
    commit_interval_seconds: float = Field(default=0.5, gt=0)
    revoke_timeout_seconds: float = Field(default=30.0, gt=0)
    gc_freeze: bool = True
    gc_gen0_threshold: int | None = Field(default=10_000, ge=1)


def librdkafka_properties(values: dict[str, str | int | float | bool]) -> dict[str, Any]:
    """Property names as librdkafka spells them: ``max_poll_interval_ms`` -> dotted."""
    return {(k if "." in k else k.replace("_", ".")): v for k, v in values.items()}


class StoreSettings(BaseModel):
    """The message store: outbox relay, inbox and retention (``MOMENTUM_STORE__...``).

    Attributes:
        schema_name: PostgreSQL schema of the service's tables; defaults to the service name
            in snake case (``app-domain`` -> ``app_domain``).
        relay_batch_size: Outbox rows a relay claims and publishes at once.
        lease_seconds: How long a claimed row stays leased to its relay; a crashed relay's
            rows are taken over after it.
        poll_seconds: Longest wait between checks for work the store cannot signal
            (rows from other processes on SQLite, a lost NOTIFY on PostgreSQL).
        sent_retention_seconds: How long sent outbox rows are kept before purging.
        inbox_retention_seconds: How long inbox rows (handled message ids) are kept;
            a redelivery older than this runs its handler again.
        purge_interval_seconds: Time between purges of old rows.
        max_relay_attempts: Failed publications of one row before it becomes a dead letter.
        relay_hold_seconds: Longest wait for the transport's acknowledgements while a relay
            holds its claim (capped at half of ``lease_seconds``); rows unacknowledged by then
            are leased to the relay and settled when their outcome arrives, so a slow or
            failing record holds no other row back.
    """

    schema_name: str | None = None
    relay_batch_size: int = Field(default=500, ge=1)
    lease_seconds: float = Field(default=30.0, gt=0)
    poll_seconds: float = Field(default=1.0, gt=0)
    sent_retention_seconds: float = Field(default=3600.0, ge=0)
    inbox_retention_seconds: float = Field(default=7 * 24 * 3600.0, ge=0)
    purge_interval_seconds: float = Field(default=60.0, gt=0)
    max_relay_attempts: int = Field(default=20, ge=1)
    relay_hold_seconds: float = Field(default=1.0, ge=0)


IN_MEMORY_DATABASE = "memory://"
"""``database_url`` value that runs without a message store (in-process only)."""


class MomentumSettings(BaseSettings):
    """Everything an operator can set for a service.

    Attributes:
        environment: Deployment environment; its short form prefixes topic names.
        kafka_bootstrap_servers: Kafka brokers; unset: no Kafka (integration events are
            handled in-process).
        kafka: Kafka transport settings.
        database_url: The message store: ``sqlite:///path`` (default: ``momentum.db`` in the
            working directory) or ``postgresql://...``; ``memory://`` runs without one
            (no outbox, inbox or durable dead letters: tests and benchmarks).
        store: Message store settings.
        shutdown_seconds: How long stopping waits for in-memory work before abandoning it.
        local_queues: In-memory local queue settings.
        middleware: Built-in middleware settings.
        actors: Stateful actor settings.
    """

    model_config = SettingsConfigDict(
        env_prefix="MOMENTUM_", env_nested_delimiter="__", extra="ignore"
    )

    environment: str = "development"
    kafka_bootstrap_servers: str | None = None
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    database_url: str = "sqlite:///momentum.db"
    store: StoreSettings = Field(default_factory=StoreSettings)
    shutdown_seconds: float = Field(default=30.0, ge=0)
    local_queues: LocalQueueSettings = Field(default_factory=LocalQueueSettings)
    middleware: MiddlewareSettings = Field(default_factory=MiddlewareSettings)
    actors: ActorSettings = Field(default_factory=ActorSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments, then environment variables, then the TOML file."""
        named = os.environ.get(CONFIG_FILE_VARIABLE)
        path = Path(named) if named else Path(DEFAULT_CONFIG_FILE)
        if named and not path.is_file():
            raise FileNotFoundError(f"{CONFIG_FILE_VARIABLE}={named}: no such settings file")
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, path))
