"""How the command line reports bad input: one line on stderr, exit code 2, secrets masked.

Settings problems are named without the offending value (it may be a password): a settings
file that cannot be read or is not UTF-8 or TOML, a ``MOMENTUM_CONFIG_FILE`` naming no file,
an environment variable that is not valid JSON where JSON is expected, a value that does not
validate (its location and pydantic's reason only).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pydantic
import typer
from pydantic_settings import SettingsError

from momentum import settings as settings_module
from momentum.runtime.store import mask_url
from momentum.settings import CONFIG_FILE_VARIABLE, DEFAULT_CONFIG_FILE, MomentumSettings

MAX_SHOWN_ERRORS = 3
"""Validation errors named in the line; more are counted."""

SETTINGS_MODELS = frozenset(
    name
    for name, value in vars(settings_module).items()
    if isinstance(value, type)
    and issubclass(value, pydantic.BaseModel)
    and value.__module__ == settings_module.__name__
)
"""Names of the settings models, whose validation errors are settings problems."""


def usage_error(message: str) -> NoReturn:
    """Print ``error: message`` as one line on stderr (URL passwords masked) and exit 2."""
    typer.echo(f"error: {mask_url(' '.join(message.split()))}", err=True)
    raise typer.Exit(2)


def validation_problem(exc: pydantic.ValidationError) -> str:
    """The errors of ``exc`` by location and reason, never with the input value."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    shown = [
        f"{'.'.join(str(part) for part in error['loc']) or '(root)'}: {error['msg']}"
        for error in errors[:MAX_SHOWN_ERRORS]
    ]
    more = len(errors) - len(shown)
    what = "settings" if exc.title == MomentumSettings.__name__ else exc.title
    return f"invalid {what}: {'; '.join(shown)}" + (f" (and {more} more)" if more else "")


def settings_file_problem() -> str | None:
    """What is wrong with the settings file (the one ``MomentumSettings`` reads), if anything."""
    named = os.environ.get(CONFIG_FILE_VARIABLE)
    path = Path(named) if named else Path(DEFAULT_CONFIG_FILE)
    if named and not path.is_file():
        return f"{CONFIG_FILE_VARIABLE}={named}: no such settings file"
    if not path.exists():
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"cannot read the settings file {path}: {exc.strerror or exc}"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"the settings file {path} is not UTF-8 text (byte {exc.start}: {exc.reason})"
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return f"the settings file {path} is not valid TOML: {exc}"
    return None


def settings_problem(exc: BaseException) -> str | None:
    """What ``exc``, raised while settings were read, says is wrong; ``None``: not a settings error.

    A validation error counts when it is one of momentum's settings models; an ``OSError``
    or other ``ValueError`` only when the settings file itself is at fault (it is read again
    to tell). Other errors of the code that built the settings keep their traceback.
    """
    if isinstance(exc, pydantic.ValidationError):
        return validation_problem(exc) if exc.title in SETTINGS_MODELS else None
    if isinstance(exc, SettingsError):
        cause = f" ({exc.__cause__})" if exc.__cause__ is not None else ""
        return f"invalid settings: {exc}{cause}"
    if isinstance(exc, OSError | ValueError):
        return settings_file_problem()
    return None


@contextmanager
def settings_problems_reported(context: str | None = None) -> Iterator[None]:
    """Turn a settings error raised in the block into a usage error (one line, exit 2).

    Args:
        context: What was being done, put before the problem (``cannot build the service X``).
    """
    try:
        yield
    except (OSError, ValueError) as exc:
        problem = settings_problem(exc)
        if problem is None:
            raise
        usage_error(f"{context}: {problem}" if context else problem)


def load_settings() -> MomentumSettings:
    """The settings from the environment and the settings file; exit 2 when they are invalid."""
    with settings_problems_reported():
        return MomentumSettings()
