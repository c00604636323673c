"""Kafka adapter: ``KafkaTransport`` carries integration events as CloudEvents over Kafka.

```python
from momentum.kafka import KafkaConfig, KafkaTransport

transport = KafkaTransport(KafkaConfig(bootstrap_servers="127.0.0.1:9092"))
```

Needs the ``kafka`` extra: ``pip install 'momentum-messaging[kafka]'``.
"""

from __future__ import annotations

try:
    import confluent_kafka  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "momentum.kafka needs confluent-kafka: pip install 'momentum-messaging[kafka]'"
    ) from exc

from momentum.kafka.config import GcTuning, KafkaConfig, TopicProvisioning
from momentum.kafka.provisioning import dead_letter_topic, provision_topics
from momentum.kafka.transport import KafkaTransport

__all__ = [
    "GcTuning",
    "KafkaConfig",
    "KafkaTransport",
    "TopicProvisioning",
    "dead_letter_topic",
    "provision_topics",
]
