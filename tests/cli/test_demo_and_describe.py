"""The `momentum demo` story and `momentum describe` run through the real CLI."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from momentum.cli import app

runner = CliRunner()


def test_demo_runs_every_step_and_exits_zero() -> None:
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert "demo complete: all 12 checks passed" in result.output
    assert "✗" not in result.output


def test_describe_lists_decisions_as_json() -> None:
    result = runner.invoke(app, ["describe", "app_domain", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    create = rows["app_domain.cashiers.commands.handle"]
    assert create["accepted"] and "CreateCashier" in create["reason"]
    validator = rows["app_domain.cashiers.commands.UpdateCashierValidator.validate"]
    assert validator["role"] == "validator" and validator["accepted"]


def test_describe_reports_import_errors_with_exit_code_2() -> None:
    result = runner.invoke(app, ["describe", "no_such_package_for_momentum"])
    assert result.exit_code == 2
    assert "no_such_package_for_momentum" in result.output


def test_demo_needs_nothing_beyond_the_cli_extra() -> None:
    """`scripts/demo` installs only momentum[cli]: dev-only packages must not be needed."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "for name in ('fastapi', 'starlette', 'httpx', 'psycopg', 'confluent_kafka', 'pytest'):\n"
        "    sys.modules[name] = None  # import fails as if not installed\n"
        "from momentum.cli import main\n"
        "sys.argv = ['momentum', 'demo']\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "demo complete" in done.stdout
