"""Installing momentum: the distribution's name, its extras, and what a missing extra says.

The import name is ``momentum``; the distribution is ``momentum-messaging`` (``momentum`` on
PyPI is an unrelated project). Each adapter's driver and the command line come with an extra,
and a missing one is named with the command that installs it. Missing modules are simulated
in a subprocess by putting ``None`` in ``sys.modules`` (an import then fails as if the
package were not installed).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "momentum"
DISTRIBUTION = "momentum-messaging"
OUTSIDE_EXTRAS = {"all", "dev"}  # `all` groups the others, `dev` is the development toolset


def _project() -> dict[str, object]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert isinstance(project, dict)
    return project


def _extras() -> dict[str, list[str]]:
    extras = _project()["optional-dependencies"]
    assert isinstance(extras, dict)
    return extras


def _requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match is not None, requirement
    return match.group(0).lower().replace("_", "-")


def _imported_top_level_modules() -> set[str]:
    names: set[str] = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names


def test_the_distribution_is_momentum_messaging_and_extras_refer_to_it() -> None:
    assert _project()["name"] == DISTRIBUTION
    for extra, requirements in _extras().items():
        for requirement in requirements:
            name = _requirement_name(requirement)
            assert name != "momentum", f"extra {extra!r} refers to the PyPI project momentum"
            if name == DISTRIBUTION:
                wanted = re.fullmatch(rf"{DISTRIBUTION}\[([a-z,]+)\]", requirement)
                assert wanted is not None, requirement
                assert set(wanted.group(1).split(",")) <= set(_extras()), requirement
    runtime_extras = set(_extras()) - OUTSIDE_EXTRAS
    assert _extras()["all"] == [f"{DISTRIBUTION}[{','.join(sorted(runtime_extras))}]"]


def test_the_installed_console_script_is_this_distributions() -> None:
    [script] = [e for e in metadata.entry_points(group="console_scripts") if e.name == "momentum"]
    assert script.value == "momentum.__main__:main"
    assert script.dist is not None and script.dist.name == DISTRIBUTION


def test_every_extra_installs_something_momentum_imports() -> None:
    """No extra for a feature that does not exist yet (each package it adds is imported)."""
    imported = _imported_top_level_modules()
    provides: dict[str, set[str]] = {}
    for module, distributions in metadata.packages_distributions().items():
        for distribution in distributions:
            provides.setdefault(distribution.lower().replace("_", "-"), set()).add(module)
    for extra, requirements in _extras().items():
        if extra in OUTSIDE_EXTRAS:
            continue
        for requirement in requirements:
            name = _requirement_name(requirement)
            if name == DISTRIBUTION:
                continue  # another extra, checked itself
            modules = provides.get(name, set())
            assert modules & imported, f"extra {extra!r}: {name} ({modules}) is never imported"


def _run(code: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MOMENTUM_DATABASE_URL": "memory://"}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env, cwd=cwd
    )


@pytest.mark.parametrize(
    ("module", "missing", "extra"),
    [
        ("momentum.kafka", "confluent_kafka", "kafka"),
        ("momentum.postgres", "psycopg", "postgres"),
        ("momentum.postgres", "psycopg_pool", "postgres"),
        ("momentum.sqlite", "aiosqlite", "sqlite"),
        ("momentum.cli", "typer", "cli"),
        ("momentum.cli", "rich", "cli"),
        ("momentum.docs", "docstring_parser", "docs"),
        ("momentum.otel", "opentelemetry", "otel"),
    ],
)
def test_importing_an_adapter_without_its_extra_names_the_extra(
    module: str, missing: str, extra: str
) -> None:
    assert extra in _extras()
    done = _run(
        f"import sys; sys.modules[{missing!r}] = None\n"
        f"try:\n    import {module}\nexcept ImportError as e:\n    print(e)\n"
    )
    assert done.returncode == 0, done.stderr
    assert f"pip install '{DISTRIBUTION}[{extra}]'" in done.stdout
    assert missing.replace("_", "-") in done.stdout  # which package is missing


@pytest.mark.parametrize(
    ("missing", "setting", "extra"),
    [
        ("confluent_kafka", "kafka_bootstrap_servers='127.0.0.1:9092'", "kafka"),
        ("psycopg", "database_url='postgresql://u@127.0.0.1:1/db'", "postgres"),
        ("aiosqlite", "database_url='sqlite:///svc.db'", "sqlite"),
        ("opentelemetry", "telemetry=True", "otel"),
        ("opentelemetry", "telemetry={'enabled': True}", "otel"),
    ],
)
def test_settings_naming_an_adapter_that_is_not_installed_name_the_extra(
    missing: str, setting: str, extra: str, tmp_path: Path
) -> None:
    done = _run(
        f"import sys; sys.modules[{missing!r}] = None\n"
        "from momentum import ConfigurationError, Service\n"
        f"try:\n    Service('svc', 'Shop', {setting})\n"
        "except ConfigurationError as e:\n    print(e)\n",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert f"pip install '{DISTRIBUTION}[{extra}]'" in done.stdout


@pytest.mark.parametrize(
    ("missing", "extra", "command"),
    [
        ("typer", "cli", ["topics", "app_domain"]),
        ("rich", "cli", ["topics", "app_domain"]),
        ("docstring_parser", "docs", ["docs", "app_domain", "--output", "catalog"]),
    ],
)
def test_the_command_without_the_cli_extra_says_which_extra_to_install(
    missing: str, extra: str, command: list[str], tmp_path: Path
) -> None:
    done = _run(
        f"import sys; sys.modules[{missing!r}] = None\n"
        f"sys.argv = {['momentum', *command]!r}\n"
        "from momentum.__main__ import main\n"
        "main()\n",
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert f"pip install '{DISTRIBUTION}[{extra}]'" in line
    assert missing.replace("_", "-") in line


def test_python_dash_m_momentum_runs_the_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "momentum", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "provision" in done.stdout
