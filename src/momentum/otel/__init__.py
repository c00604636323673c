"""OpenTelemetry adapter: traces and metrics of a service through the OpenTelemetry API.

```python
from momentum.otel import OtelTelemetry

service = Service("billing", "Billing", telemetry=OtelTelemetry())
```

Spans and metrics go to the tracer and meter providers the application installed (the SDK and
its exporters are the application's choice); ``Service(telemetry=True)`` or the setting
``telemetry.enabled`` does the same with the global providers. Needs the ``otel`` extra:
``pip install 'momentum-messaging[otel]'``.
"""

from __future__ import annotations

try:
    import opentelemetry.metrics
    import opentelemetry.trace  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "momentum.otel needs opentelemetry-api and opentelemetry-sdk: "
        "pip install 'momentum-messaging[otel]'"
    ) from exc

from momentum.otel.telemetry import OtelTelemetry, sdk_configured

__all__ = ["OtelTelemetry", "sdk_configured"]
