"""Service settings: keyword arguments, then ``MOMENTUM_*`` environment variables, then defaults.

Nested settings use ``__`` in variable names (``MOMENTUM_LOCAL_QUEUES__CONCURRENCY=8``).
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class LocalQueueSettings(BaseModel):
    """In-memory local queues (domain events, ``bus.send``).

    Attributes:
        concurrency: Worker lanes of the default queue; one key always maps to one lane.
    """

    concurrency: int = Field(default=4, ge=1)


class MiddlewareSettings(BaseModel):
    """Built-in handler middleware.

    Attributes:
        enabled: Install exception logging, metrics and slow-handler warnings.
        slow_handler_seconds: Duration above which a handler run is logged as slow.
    """

    enabled: bool = True
    slow_handler_seconds: float = Field(default=1.0, gt=0)


class MomentumSettings(BaseSettings):
    """Everything an operator can set for a service.

    Attributes:
        environment: Deployment environment; its short form prefixes topic names.
        local_queues: In-memory local queue settings.
        middleware: Built-in middleware settings.
    """

    model_config = SettingsConfigDict(
        env_prefix="MOMENTUM_", env_nested_delimiter="__", extra="ignore"
    )

    environment: str = "development"
    local_queues: LocalQueueSettings = Field(default_factory=LocalQueueSettings)
    middleware: MiddlewareSettings = Field(default_factory=MiddlewareSettings)
