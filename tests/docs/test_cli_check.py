"""``momentum check --against REF`` and ``--export FILE`` from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from typer.testing import CliRunner

import momentum.cli  # noqa: F401 - registers the commands on the app
from momentum.cli.app import app
from momentum.contracts.errors import ContractBaselineError
from momentum.docs.revisions import _extract

MOMENTUM = str(Path(sys.executable).with_name("momentum"))
CLEAN_ENV = {"MOMENTUM_CASING": None}


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), env=CLEAN_ENV)


# --- momentum check --export / --against FILE ------------------------------------------------


def exported(tmp_path: Path) -> Path:
    path = tmp_path / "contracts.json"
    result = invoke("check", "app_domain", "--export", str(path))
    assert result.exit_code == 0, result.output
    return path


def test_check_against_its_own_export_finds_no_change(tmp_path: Path) -> None:
    path = exported(tmp_path)
    result = invoke("check", "app_domain", "--against", str(path))
    assert result.exit_code == 0, result.output
    assert f"Compatibility with contract file {path}:" in result.stdout
    assert "no changes in 7 integration event(s)." in result.stdout


def test_check_against_an_older_contract_with_a_field_more_exits_1(tmp_path: Path) -> None:
    path = exported(tmp_path)
    data = json.loads(path.read_text())
    created = data["events"][0]
    assert created["type_name"].endswith("CashierCreated")
    created["schema"]["properties"]["legacyCode"] = {"type": "string"}
    path.write_text(json.dumps(data))
    result = invoke("check", "app_domain", "--against", str(path))
    assert result.exit_code == 1
    assert result.stdout.startswith("OK: 8 event(s) in app_domain, no problems.")
    assert "  breaking [removed-field] legacyCode was removed" in result.stdout
    assert "1 breaking change(s), 0 safe change(s) in 1 event(s)." in result.stdout
    result = invoke("check", "app_domain", "--against", str(path), "--json")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["ok"] is False and payload["problems"] == []
    assert payload["compatibility"]["breaking"] == 1
    assert payload["compatibility"]["changes"][0] == {
        "severity": "breaking",
        "code": "removed-field",
        "type_name": created["type_name"],
        "path": "legacyCode",
        "message": "legacyCode was removed: consumers that read it fail or lose data.",
    }


def test_check_against_safe_changes_exits_0(tmp_path: Path) -> None:
    path = exported(tmp_path)
    data = json.loads(path.read_text())
    data["events"] = data["events"][1:]  # CashierCreated did not exist then
    path.write_text(json.dumps(data))
    result = invoke("check", "app_domain", "--against", str(path))
    assert result.exit_code == 0, result.output
    assert "  safe [new-event] " in result.stdout
    assert "0 breaking change(s), 1 safe change(s) in 1 event(s)." in result.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('{"format": "other"}', "is not a momentum contract file"),
        ('{"format": "momentum-contracts", "version": 9}', "of version 9"),
        ('{"format": "momentum-contracts", "version": 1, "events": 3}', "damaged"),
    ],
)
def test_check_against_a_bad_file_exits_2(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    result = invoke("check", "app_domain", "--against", str(path))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and message in result.stderr


# --- momentum check --against REVISION (a git repository, the CLI in a subprocess) -------------

V1 = '''
"""Events."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from momentum import PartitionKey, event_topic


@event_topic("orders", domain="shop")
@dataclass(frozen=True)
class OrderPlaced:
    """Published when an order is placed.

    Attributes:
        order_id: The order.
        total: Amount due.{extra_doc}
    """

    order_id: Annotated[UUID, PartitionKey()]
    total: int{extra_field}
'''


def events_source(extra_field: str = "", extra_doc: str = "") -> str:
    return textwrap.dedent(V1).format(extra_field=extra_field, extra_doc=extra_doc)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def cli(repo: Path, *args: str, pythonpath: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MOMENTUM_CASING", "PYTHONPATH")}
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run(
        [MOMENTUM, *args], cwd=repo, env=env, capture_output=True, text=True, timeout=120
    )


def write_package(root: Path, name: str, source: str) -> None:
    package = root / name
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text('"""A package."""\n')
    (package / "integration_events.py").write_text(source)


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    """A git repository with a src/ package at its first commit; unique package name."""
    root = tmp_path / "repo"
    name = f"momentum_rev_{uuid4().hex[:8]}"
    write_package(root / "src", name, events_source())
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "v1")
    return root, name


def test_check_against_a_revision_catches_a_committed_breaking_change(
    repo: tuple[Path, str],
) -> None:
    root, name = repo
    source = events_source().replace("    total: int\n", "    total: str\n")
    (root / "src" / name / "integration_events.py").write_text(source)
    git(root, "commit", "-q", "-am", "total becomes text")
    done = cli(root, "check", name, "--against", "HEAD~1", pythonpath="src")
    assert done.returncode == 1, done.stderr
    assert "Compatibility with git revision HEAD~1 (" in done.stdout
    assert "  breaking [changed-type] total changed type from integer to string." in done.stdout
    assert git(root, "status", "--porcelain") == ""  # the work tree is left alone


def test_check_against_a_revision_passes_an_uncommitted_additive_change(
    repo: tuple[Path, str],
) -> None:
    root, name = repo
    source = events_source("\n    note: str | None = None", "\n        note: A note.")
    (root / "src" / name / "integration_events.py").write_text(source)
    done = cli(root, "check", name, "--against", "main", pythonpath="src")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "  safe [new-optional-field] note is a new optional field." in done.stdout
    unchanged = cli(root, "check", name, "--against", "HEAD", "--json", pythonpath="src")
    report = json.loads(unchanged.stdout)["compatibility"]
    assert report["ok"] is True and report["changes"][0]["code"] == "new-optional-field"


def test_check_against_a_revision_with_a_flat_layout(tmp_path: Path) -> None:
    root = tmp_path / "flat"
    name = f"momentum_flat_{uuid4().hex[:8]}"
    write_package(root, name, events_source("\n    code: str", "\n        code: A code."))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "v1")
    (root / name / "integration_events.py").write_text(events_source())
    done = cli(root, "check", name, "--against", "HEAD")
    assert done.returncode == 1, done.stderr
    assert "  breaking [removed-field] code was removed" in done.stdout


@pytest.mark.parametrize("absolute", [False, True])
def test_check_against_a_revision_without_the_package_exits_2(
    repo: tuple[Path, str], absolute: bool
) -> None:
    root, name = repo
    newer = f"{name}_new"
    write_package(root / "src", newer, events_source())
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "a new package")
    path = str(root / "src") if absolute else "src"
    done = cli(root, "check", newer, "--against", "HEAD~1", pythonpath=path)
    assert done.returncode == 2
    assert done.stderr.startswith("error: cannot export the contracts of ")
    if absolute:  # the exporter finds the current one through PYTHONPATH, and says so
        assert f"package {newer!r} is not in the tree of the revision" in done.stderr
    else:
        assert f"No module named '{newer}'" in done.stderr


@pytest.mark.parametrize(
    ("revision", "message"),
    [
        ("no-such-branch", "'no-such-branch' is neither a contract file nor a known git revision"),
        ("HEAD~5", "'HEAD~5' is neither a contract file nor a known git revision"),
    ],
)
def test_check_against_an_unknown_revision_exits_2(
    repo: tuple[Path, str], revision: str, message: str
) -> None:
    root, name = repo
    done = cli(root, "check", name, "--against", revision, pythonpath="src")
    assert done.returncode == 2 and done.stderr.startswith("error: ")
    assert message in done.stderr


def test_check_against_outside_a_repository_exits_2(tmp_path: Path) -> None:
    name = f"momentum_norepo_{uuid4().hex[:8]}"
    write_package(tmp_path, name, events_source())
    done = cli(tmp_path, "check", name, "--against", "main")
    assert done.returncode == 2
    assert "is not in a git repository" in done.stderr


def test_a_tree_that_cannot_be_extracted_is_a_typed_error(
    repo: tuple[Path, str], tmp_path: Path
) -> None:
    root, _ = repo
    with pytest.raises(ContractBaselineError, match="cannot extract the tree of"):
        _extract(root, "0" * 40, tmp_path / "tree")
