"""Service settings from keyword arguments, the environment, a TOML file and defaults.

Highest precedence first: keyword arguments, ``MOMENTUM_*`` environment variables, a TOML file
(``momentum.toml`` in the working directory, or the file named by ``MOMENTUM_CONFIG_FILE``),
defaults.

Nested settings use ``__`` in variable names (``MOMENTUM_LOCAL_QUEUES__CONCURRENCY=8``) and
tables in the file (``[local_queues]`` / ``concurrency = 8``).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_serializer,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from momentum.contracts.errors import ConfigurationError
from momentum.runtime.redaction import redact
from momentum.runtime.store import mask_url

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


class TelemetrySettings(BaseModel):
    """Traces, metrics and log context (``MOMENTUM_TELEMETRY__...``).

    Attributes:
        enabled: Report spans and metrics through OpenTelemetry (the ``otel`` extra) to the
            providers the application installed. Unset (the default): on when an
            OpenTelemetry SDK tracer or meter provider is installed when the service starts,
            off otherwise (then nothing is measured: no overhead).
        log_context: Give every log record a handler writes its message's id, type,
            correlation id, tenant and attempt (``momentum.MessageContextFilter`` on a logging
            handler shows them). Unset: with telemetry.
        gauge_interval_seconds: How often the gauges (outbox backlog and age, inbox size,
            dead letters, consumer lag, breaker state) are measured.
    """

    enabled: bool | None = None
    log_context: bool | None = None
    gauge_interval_seconds: float = Field(default=10.0, gt=0)


class KafkaSaslSettings(BaseModel):
    """SASL authentication of the Kafka clients (``MOMENTUM_KAFKA__SASL__...``).

    Attributes:
        mechanism: ``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512``.
        username: The user (``sasl.username``).
        password: Its password (``sasl.password``); shown as ``**********``.
    """

    mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
    username: str = Field(min_length=1)
    password: SecretStr


class KafkaTlsSettings(BaseModel):
    """TLS of the Kafka connections (``MOMENTUM_KAFKA__TLS__...``).

    Attributes:
        enabled: Connect over TLS (``security.protocol`` ``SSL``, or ``SASL_SSL`` with SASL).
        ca_location: CA certificate(s) file or directory verifying the brokers
            (``ssl.ca.location``); unset: the system's.
        certificate_location: The client's certificate, for mutual TLS.
        key_location: The client's private key, for mutual TLS.
        key_password: The private key's password; shown as ``**********``.
        verify_hostname: Check that a broker's certificate names the host connected to
            (``ssl.endpoint.identification.algorithm``: ``https``, else ``none``).
    """

    enabled: bool = True
    ca_location: str | None = None
    certificate_location: str | None = None
    key_location: str | None = None
    key_password: SecretStr | None = None
    verify_hostname: bool = True


class KafkaSettings(BaseModel):
    """The Kafka transport (used when ``kafka_bootstrap_servers`` is set).

    librdkafka properties go in ``common`` (every client: security), ``producer`` and
    ``consumer``; from environment variables write them with underscores
    (``MOMENTUM_KAFKA__CONSUMER__MAX_POLL_INTERVAL_MS=600000`` sets
    ``max.poll.interval.ms``). Secrets (properties whose name contains ``password``,
    ``secret`` or ``token``, ``ssl.key.pem``, ``sasl.oauthbearer.config``) are shown as
    ``<redacted>`` in ``repr``, ``str``, log lines and dumps; the attributes keep them.

    Attributes:
        client_id: ``client.id``; defaults to the service name.
        sasl: SASL authentication (PLAIN, SCRAM); sets ``security.protocol`` with ``tls``.
        tls: TLS connections.
        common: Properties for every client (other ``security.protocol``, ``sasl.*``,
            ``ssl.*`` settings: OAUTHBEARER, GSSAPI, PEM keys...); a property ``sasl`` or
            ``tls`` sets too must have the same value.
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
    sasl: KafkaSaslSettings | None = None
    tls: KafkaTlsSettings | None = None
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

    @field_serializer("common", "producer", "consumer")
    def _redact_secrets(
        self, properties: dict[str, str | int | float | bool]
    ) -> dict[str, str | int | float | bool]:
        return redact(properties)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, redact(value) if name in ("common", "producer", "consumer") else value


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


class SecuritySettings(BaseModel):
    """Signed CloudEvents on Kafka (``MOMENTUM_SECURITY__...``; see ``momentum.contracts.signing``).

    Keys are text (their UTF-8 bytes are the HMAC-SHA256 key: 16 bytes at least, 32 random
    bytes or more recommended) and never shown: ``repr``, ``str`` and dumps print
    ``**********``.

    Attributes:
        signing_key_id: Id of the key this service signs the records it writes with
            (``ce_signaturekeyid``); unset: it does not sign.
        signing_key: That key.
        verification_keys: Key id -> key of the keys accepted on records read (JSON object
            in ``MOMENTUM_SECURITY__VERIFICATION_KEYS``); the signing key is one of them.
            While keys rotate, list the old and the new one.
        require_signatures: Dead-letter every record read that is not signed (else such
            records pass; a signed record is always verified when keys are set).
    """

    signing_key_id: str | None = None
    signing_key: SecretStr | None = None
    verification_keys: dict[str, SecretStr] = Field(default_factory=dict)
    require_signatures: bool = False

    @property
    def configured(self) -> bool:
        """Whether anything is signed or verified."""
        return bool(self.signing_key is not None or self.verification_keys)


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
            (no outbox, inbox or durable dead letters: tests and benchmarks). Its password
            is shown as ``***`` in ``repr``, ``str`` and dumps.
        store: Message store settings.
        shutdown_seconds: How long stopping waits for in-memory work before abandoning it.
        local_queues: In-memory local queue settings.
        middleware: Built-in middleware settings.
        telemetry: Traces, metrics and log context.
        actors: Stateful actor settings.
        security: Signing and verifying CloudEvents records on Kafka.
        tenant_isolation: A handler running for one tenant may publish, send, schedule and
            invoke messages for that tenant only (others raise ``TenantIsolationError``),
            unless their class is marked ``cross_tenant``.
        tenants: The tenants this service handles records of; records of other tenants
            (and without a tenant) read from the transport are skipped and committed,
            neither handled nor dead-lettered. ``None`` (the default): every tenant.
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
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    actors: ActorSettings = Field(default_factory=ActorSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    tenant_isolation: bool = False
    tenants: list[str] | None = None

    @field_validator("tenants")
    @classmethod
    def _some_tenants(cls, tenants: list[str] | None) -> list[str] | None:
        if tenants is not None and (not tenants or not all(t.strip() for t in tenants)):
            raise ValueError("list at least one tenant, none empty (or leave it unset: all)")
        return tenants

    @field_serializer("database_url")
    def _mask_database_url(self, url: str) -> str:
        return mask_url(url)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, mask_url(value) if name == "database_url" else value

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


# --- settings given to Service() as keyword arguments --------------------------------------------


def settings_from_arguments(
    arguments: Mapping[str, Any], *, service_arguments: Sequence[str] = ()
) -> MomentumSettings:
    """:class:`MomentumSettings` from ``Service(...)`` keyword arguments, checked first.

    Every name must be a setting; a group of nested settings (``kafka``, ``store``,
    ``local_queues``, ``middleware``) takes a dict, which sets the keys it names (the others
    come from the environment, the file or the defaults), or a settings object
    (``StoreSettings(...)``), which is the whole group.

    Args:
        arguments: The keyword arguments.
        service_arguments: Other keyword arguments ``Service`` takes, offered as spellings
            when a name is unknown.

    Raises:
        ConfigurationError: An unknown name or nested key (naming the closest spelling), a
            group that is neither a dict nor its settings object, or a value the setting
            does not accept (also one from a ``MOMENTUM_*`` variable or the file).
    """
    fields = MomentumSettings.model_fields
    for name, value in arguments.items():
        if name not in fields:
            known = sorted({*service_arguments, *fields})
            raise ConfigurationError(
                _unknown(f"Service() got an unknown argument {name!r}", name, known)
                + f" It takes {', '.join(known)}."
            )
        group = _group(name)
        if group is not None:
            _check_group(name, group, value)
    try:
        return MomentumSettings(**arguments)
    except ValidationError as exc:
        problems = "; ".join(_problem(error) for error in exc.errors())
        raise ConfigurationError(
            f"Invalid settings (from Service() arguments, MOMENTUM_* environment variables or "
            f"the settings file): {problems}."
        ) from None


def _group(name: str) -> type[BaseModel] | None:
    """The settings model of a nested group (``kafka`` -> ``KafkaSettings``), else ``None``."""
    annotation = MomentumSettings.model_fields[name].annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _check_group(name: str, model: type[BaseModel], value: object) -> None:
    if isinstance(value, model):
        return
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"Service({name}=...) takes a dict of {name} settings or a {model.__name__}, "
            f"got {type(value).__name__}."
        )
    fields = model.model_fields
    for key in value:
        if key not in fields:
            raise ConfigurationError(
                _unknown(f"Service({name}=...): unknown {name} setting {key!r}", str(key), fields)
                + f" {model.__name__} has {', '.join(fields)}."
            )


def _unknown(text: str, name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return text + (f"; did you mean {close[0]!r}?" if close else ".")


def _problem(error: Mapping[str, Any]) -> str:
    """One pydantic error in words: the setting, the rule and, when harmless, the value."""
    where = ".".join(str(part) for part in error["loc"])
    value = error.get("input")
    shown = isinstance(value, int | float | bool) or value is None
    return f"{where}: {error['msg']}" + (f" (got {value!r})" if shown else "")
