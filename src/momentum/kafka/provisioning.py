"""``provision_topics``: create missing topics (and their dead-letter topics) on start.

Idempotent: a topic that already exists, or that another process creates at the same time,
is fine. Existing topics are never altered (partition count and configs stay as they are).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from momentum.contracts.errors import TransportError
from momentum.kafka.config import KafkaConfig

logger = logging.getLogger("momentum.kafka.provisioning")

DLQ_SUFFIX = ".dlq"


def dead_letter_topic(topic: str) -> str:
    """The dead-letter topic of ``topic`` (``<topic>.dlq``)."""
    return topic + DLQ_SUFFIX


def topics_with_dead_letters(config: KafkaConfig, topics: Iterable[str]) -> list[str]:
    """``topics`` plus, when configured, each one's dead-letter topic (sorted, unique)."""
    names = set(topics)
    if config.provisioning.dead_letter_topics:
        names |= {dead_letter_topic(t) for t in names if not t.endswith(DLQ_SUFFIX)}
    return sorted(names)


def provision_topics_sync(config: KafkaConfig, topics: Iterable[str]) -> list[str]:
    """Create the missing ``topics`` (and dead-letter topics); return the ones created.

    Blocks until the broker has created them and every partition has a leader. Raises
    :class:`TransportError` naming the topic and reason when creation fails.
    """
    settings = config.provisioning
    wanted = topics_with_dead_letters(config, topics)
    if not wanted:
        return []
    try:
        admin = AdminClient(config.admin_config())
        existing = set(admin.list_topics(timeout=settings.timeout).topics)
    except KafkaException as exc:
        raise TransportError(f"cannot list Kafka topics: {exc}") from None
    missing = [t for t in wanted if t not in existing]
    if not missing:
        return []
    new = [
        NewTopic(
            t,
            num_partitions=settings.partitions,
            replication_factor=settings.replication_factor,
            config=dict(settings.configs),
        )
        for t in missing
    ]
    created: list[str] = []
    for topic, future in admin.create_topics(new, operation_timeout=settings.timeout).items():
        try:
            future.result(timeout=settings.timeout)
            created.append(topic)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise TransportError(f"cannot create Kafka topic {topic!r}: {exc}") from None
    _wait_for_leaders(admin, missing, settings.timeout)
    if created:
        logger.info("created Kafka topics %s", ", ".join(created))
    return created


def _wait_for_leaders(admin: AdminClient, topics: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = set(topics)
    while pending:
        metadata = admin.list_topics(timeout=timeout).topics
        for topic in list(pending):
            described = metadata.get(topic)
            if (
                described is not None
                and described.error is None
                and described.partitions
                and all(p.leader >= 0 for p in described.partitions.values())
            ):
                pending.discard(topic)
        if not pending:
            return
        if time.monotonic() > deadline:
            raise TransportError(f"Kafka topics {sorted(pending)} have no partition leaders yet")
        time.sleep(0.05)  # poll interval while the controller elects leaders


async def provision_topics(config: KafkaConfig, topics: Iterable[str]) -> list[str]:
    """Create the missing ``topics`` and their ``<topic>.dlq`` topics; return those created.

    Uses the partitions, replication factor and topic configs of ``config.provisioning``
    (whether or not provisioning is enabled for the transport). Idempotent.
    """
    names = list(topics)
    return await asyncio.to_thread(provision_topics_sync, config, names)


def delete_topics_sync(config: KafkaConfig, prefix: str) -> list[str]:
    """Delete every topic whose name starts with ``prefix``; return the ones deleted.

    For throw-away environments (``momentum demo --kafka`` removes the topics of its fresh
    environment, ``{env}.``); ``prefix`` must not be empty. Blocks until the broker
    answered. Raises :class:`TransportError` naming the topic when a deletion fails.
    """
    if not prefix:
        raise ValueError("delete_topics_sync needs a non-empty topic prefix")
    timeout = config.provisioning.timeout
    try:
        admin = AdminClient(config.admin_config())
        names = sorted(t for t in admin.list_topics(timeout=timeout).topics if t.startswith(prefix))
    except KafkaException as exc:
        raise TransportError(f"cannot list Kafka topics: {exc}") from None
    if not names:
        return []
    deleted: list[str] = []
    for topic, future in admin.delete_topics(names, operation_timeout=timeout).items():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                continue  # deleted meanwhile
            raise TransportError(f"cannot delete Kafka topic {topic!r}: {exc}") from None
        deleted.append(topic)
    logger.info("deleted Kafka topics %s", ", ".join(deleted))
    return deleted
