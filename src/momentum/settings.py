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
        shutdown_seconds: How long stopping waits for in-memory work before abandoning it.
        local_queues: In-memory local queue settings.
        middleware: Built-in middleware settings.
    """

    model_config = SettingsConfigDict(
        env_prefix="MOMENTUM_", env_nested_delimiter="__", extra="ignore"
    )

    environment: str = "development"
    shutdown_seconds: float = Field(default=30.0, ge=0)
    local_queues: LocalQueueSettings = Field(default_factory=LocalQueueSettings)
    middleware: MiddlewareSettings = Field(default_factory=MiddlewareSettings)

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
