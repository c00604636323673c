"""``/metrics`` in Prometheus' text format: OpenTelemetry metrics through the Prometheus reader.

``momentum run --health-port N`` calls :func:`install_prometheus_reader` before it builds the
service: when the application installed no meter provider of its own, a global SDK provider
with a Prometheus reader is installed, so momentum's metrics (and any others made through the
OpenTelemetry API) appear on ``GET /metrics``. :func:`exposition` renders the registry.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import metrics

_registry: Any = None
_DEFAULT_PROVIDERS = ("_ProxyMeterProvider", "NoOpMeterProvider")


def install_prometheus_reader() -> bool:
    """Install a global meter provider with a Prometheus reader unless one is installed.

    Returns:
        Whether a Prometheus registry is now available for :func:`exposition` (``False``
        when the application installed its own meter provider, or the exporter package is
        missing).
    """
    global _registry
    if _registry is not None:
        return True
    if type(metrics.get_meter_provider()).__name__ not in (
        "_ProxyMeterProvider",
        "NoOpMeterProvider",
    ):
        return False
    try:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from opentelemetry.sdk.metrics import MeterProvider
        from prometheus_client import CollectorRegistry
    except ImportError:
        return False
    registry = CollectorRegistry()
    metrics.set_meter_provider(
        MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)])
    )
    _registry = registry
    return True


def exposition() -> tuple[bytes, str] | None:
    """The metrics as Prometheus text and its content type; ``None`` when not installed."""
    if _registry is None:
        return None
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return generate_latest(_registry), CONTENT_TYPE_LATEST
