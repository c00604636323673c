"""``AuthenticationWatch``: Kafka refusing the client's credentials, said clearly and once.

librdkafka reports a refused SASL login (or a failed TLS handshake) through the clients'
error callbacks (``_AUTHENTICATION``, ``_SSL``) and keeps reconnecting; records meanwhile wait
in its queue until ``message.timeout.ms`` (five minutes) and then fail as "timed out". The
watch, shared by a transport's producer and consumer, turns that into:

- one ERROR line per failure streak naming the mechanism, the user and librdkafka's reason
  (never the password: librdkafka's message has none, and neither does the watch);
- the producer purging the records queued for the brokers on each such report, each failing
  with a :class:`~momentum.contracts.errors.KafkaAuthenticationError` of that text (a
  publish fails within a reconnect backoff, not after the message timeout);
- ``check_connection`` (health, readiness) raising that error while the failure stands.

A delivery acknowledged by a broker, or a metadata request answered, ends the streak.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from confluent_kafka import KafkaError

from momentum.contracts.errors import KafkaAuthenticationError

logger = logging.getLogger("momentum.kafka")

AUTHENTICATION_CODES: Final = frozenset({KafkaError._AUTHENTICATION, KafkaError._SSL})


def describe_credentials(properties: Mapping[str, Any]) -> str:
    """Who the client is, for messages: ``SASL SCRAM-SHA-256 as 'alice'``, ``TLS``..."""
    protocol = str(properties.get("security.protocol", "plaintext")).upper()
    mechanism = properties.get("sasl.mechanism") or properties.get("sasl.mechanisms")
    user = properties.get("sasl.username")
    parts = []
    if protocol.startswith("SASL"):
        parts.append(f"SASL {mechanism or 'GSSAPI'}")
        if user:
            parts.append(f"as {str(user)!r}")
    if protocol.endswith("SSL"):
        parts.append("over TLS" if parts else "TLS")
    return " ".join(parts) or protocol.lower()


class AuthenticationWatch:
    """The authentication state of one transport's clients (read and written by any thread).

    Args:
        properties: The clients' librdkafka properties (to describe the credentials).
    """

    def __init__(self, properties: Mapping[str, Any]) -> None:
        self.credentials = describe_credentials(properties)
        self.failure: str | None = None
        """librdkafka's reason for the latest refusal, while no broker accepted us since."""

    def on_error(self, error: Any) -> bool:
        """Note an error callback's ``error``; whether it was an authentication failure."""
        if error.code() not in AUTHENTICATION_CODES:
            return False
        reason = error.str()
        first = self.failure is None
        self.failure = reason
        if first:
            logger.error(
                "Kafka authentication failed (%s): %s; check the credentials (kafka.sasl, "
                "kafka.tls or the sasl.*/ssl.* properties of kafka.common); records waiting "
                "for the brokers fail with this error until they accept the client",
                self.credentials,
                reason,
            )
        else:
            logger.debug("Kafka authentication failed again (%s): %s", self.credentials, reason)
        return True

    def succeeded(self) -> None:
        """A broker accepted the client: the failure (if any) is over."""
        if self.failure is not None:
            self.failure = None
            logger.info("Kafka accepted the client again (%s)", self.credentials)

    def error(self, consequence: str = "the record was not sent") -> KafkaAuthenticationError:
        """The standing failure as an exception (call only while :attr:`failure` is set)."""
        return KafkaAuthenticationError(
            f"Kafka authentication failed ({self.credentials}): {self.failure}; {consequence}"
        )
