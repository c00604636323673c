"""Builds adapters from settings: the host's only place that picks a transport or store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from momentum.contracts.errors import ConfigurationError
from momentum.runtime.ports import Transport
from momentum.runtime.store import MessageStore, mask_url
from momentum.runtime.telemetry import LogContext, Telemetry
from momentum.settings import IN_MEMORY_DATABASE, MomentumSettings, librdkafka_properties

if TYPE_CHECKING:
    from momentum.kafka import KafkaConfig


def transport_from_settings(settings: MomentumSettings, service_name: str) -> Transport | None:
    """The Kafka transport when ``kafka_bootstrap_servers`` is set, else ``None``."""
    if not settings.kafka_bootstrap_servers:
        return None
    try:
        from momentum.kafka import KafkaTransport
    except ImportError as exc:
        raise ConfigurationError(
            "MOMENTUM_KAFKA_BOOTSTRAP_SERVERS is set but the Kafka transport is not installed: "
            "pip install 'momentum-messaging[kafka]'"
        ) from exc
    return KafkaTransport(kafka_config(settings, service_name))


def kafka_config(
    settings: MomentumSettings, client_id: str, *, bootstrap_servers: str | None = None
) -> KafkaConfig:
    """The Kafka configuration ``settings`` describe: the transport's, and admin tools' too.

    Every client gets the same connection and security properties (``kafka.common``), so a
    tool such as ``momentum provision`` connects as the services do.

    Args:
        settings: The settings.
        client_id: ``client.id`` when ``kafka.client_id`` is not set.
        bootstrap_servers: Brokers; default ``kafka_bootstrap_servers``.

    Raises:
        ImportError: The ``kafka`` extra is not installed (the message names it).
        ConfigurationError: No brokers, or an invalid Kafka setting.
    """
    from momentum.kafka import GcTuning, KafkaConfig, TopicProvisioning

    kafka = settings.kafka
    return KafkaConfig(
        bootstrap_servers=bootstrap_servers or settings.kafka_bootstrap_servers or "",
        client_id=kafka.client_id or client_id,
        common=librdkafka_properties(kafka.common),
        producer=librdkafka_properties(kafka.producer),
        consumer=librdkafka_properties(kafka.consumer),
        compression=kafka.compression,
        assignment_strategy=kafka.assignment_strategy,
        casing=kafka.casing,
        provisioning=TopicProvisioning(
            enabled=kafka.provision,
            partitions=kafka.partitions,
            replication_factor=kafka.replication_factor,
        ),
        key_concurrency=kafka.key_concurrency,
        max_buffered_per_partition=kafka.max_buffered_per_partition,
        commit_interval=kafka.commit_interval_seconds,
        revoke_timeout=kafka.revoke_timeout_seconds,
        gc=GcTuning(freeze=kafka.gc_freeze, gen0_threshold=kafka.gc_gen0_threshold),
    )


def store_from_settings(settings: MomentumSettings, service_name: str) -> MessageStore | None:
    """The message store ``database_url`` names; ``None`` for ``memory://``.

    ``sqlite:///path`` opens a SQLite file (relative paths from the working directory);
    ``postgresql://...`` (or ``postgres://``) a PostgreSQL schema of the service's own.
    """
    url = settings.database_url.strip()
    store = settings.store
    if url == IN_MEMORY_DATABASE:
        return None
    if url.startswith("sqlite:"):
        try:
            from momentum.sqlite import SqliteStore
        except ImportError as exc:
            raise ConfigurationError(
                "MOMENTUM_DATABASE_URL names SQLite but the SQLite store is not installed: "
                "pip install 'momentum-messaging[sqlite]'"
            ) from exc
        return SqliteStore(url, poll_interval=min(store.poll_seconds, 0.2))
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from momentum.postgres import PostgresStore
        except ImportError as exc:
            raise ConfigurationError(
                "MOMENTUM_DATABASE_URL names PostgreSQL but the PostgreSQL store is not "
                "installed: pip install 'momentum-messaging[postgres]'"
            ) from exc
        schema = store.schema_name or service_name.replace("-", "_")
        return PostgresStore(url, schema=schema, poll_interval=store.poll_seconds)
    raise ConfigurationError(
        f"MOMENTUM_DATABASE_URL {mask_url(url)!r} is not supported: use sqlite:///path, "
        f"postgresql://... or {IN_MEMORY_DATABASE} (no store)"
    )


def telemetry_from_settings(settings: MomentumSettings) -> Telemetry | None:
    """OpenTelemetry when ``telemetry.enabled`` (or, unset, when an SDK is installed).

    Without it, :class:`LogContext` alone when ``telemetry.log_context`` is set; else ``None``
    (nothing measured).
    """
    config = settings.telemetry
    enabled = config.enabled
    if enabled is None:
        enabled = _sdk_installed()
    if enabled:
        try:
            from momentum.otel import OtelTelemetry
        except ImportError as exc:
            raise ConfigurationError(
                "telemetry.enabled is set but OpenTelemetry is not installed: "
                "pip install 'momentum-messaging[otel]'"
            ) from exc
        return OtelTelemetry(log_context=config.log_context is not False)
    return LogContext() if config.log_context else None


def require_telemetry(settings: MomentumSettings, chosen: object) -> None:
    """Refuse telemetry asked for (``True`` or ``telemetry.enabled``) without the ``otel`` extra.

    Raises:
        ConfigurationError: The OpenTelemetry packages are not installed.
    """
    if chosen is True or (chosen is None and settings.telemetry.enabled):
        try:
            import momentum.otel  # noqa: F401
        except ImportError as exc:
            raise ConfigurationError(
                f"telemetry is enabled but OpenTelemetry is not installed ({exc.__cause__ or exc}):"
                " pip install 'momentum-messaging[otel]'"
            ) from exc


def _sdk_installed() -> bool:
    try:
        from momentum.otel import sdk_configured
    except ImportError:
        return False
    return sdk_configured()
