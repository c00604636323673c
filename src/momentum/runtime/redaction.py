"""Which configuration values are secrets, and how they are shown: ``<redacted>``.

Shared by the Kafka adapter (``KafkaConfig``'s repr) and the host's settings (their repr, str
and dumps), so both hide the same properties. Database URLs are masked by
:func:`momentum.runtime.store.mask_url`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, TypeVar

V = TypeVar("V")

REDACTED: Final = "<redacted>"
"""What a secret value is shown as."""

_SECRET_MARKERS: Final = (
    "password",
    "secret",
    "token",
    "ssl.key.pem",
    "sasl.oauthbearer.config",
)


def is_secret(name: str) -> bool:
    """Whether the property ``name`` holds a secret that must not be shown.

    Names containing ``password``, ``secret`` or ``token``, and librdkafka's ``ssl.key.pem``
    and ``sasl.oauthbearer.config``; underscores count as dots (``ssl_key_pem``), as the
    environment writes librdkafka names.
    """
    lowered = name.lower().replace("_", ".")
    return any(marker in lowered for marker in _SECRET_MARKERS)


def redact(properties: Mapping[str, V]) -> dict[str, V | str]:
    """``properties`` with every secret value replaced by ``<redacted>``."""
    return {k: (REDACTED if is_secret(k) else v) for k, v in properties.items()}
