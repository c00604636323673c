"""Bad input at the command line: one line on stderr, exit code 2, no traceback, no secret.

Each case runs the installed ``momentum`` console script in its own working directory (so a
``momentum.toml`` there is the one the settings read), as an operator would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

MOMENTUM = str(Path(sys.executable).with_name("momentum"))
SERVICE = "app_domain.service:create_service"
SECRET = "hunter2-in-a-bad-value"

NOT_A_SERVICE = """\
class SomeClass:
    def __init__(self, required):
        self.required = required


class NoArguments:
    pass


def needs_arguments(name):
    raise AssertionError("never called")


def returns_a_number():
    return 42
"""


@dataclass(frozen=True)
class Case:
    args: list[str]
    expected: str  # in the error line
    env: dict[str, str | None] = field(default_factory=dict)  # None: unset
    toml: bytes | None = None  # written to momentum.toml in the working directory


CASES = {
    "bad TOML": Case(["run", SERVICE], "momentum.toml", toml=b"environment = \n"),
    "bad TOML, dlq": Case(["dlq", "list", SERVICE], "momentum.toml", toml=b"[store\n"),
    "bad TOML, provision": Case(
        ["provision", "app_domain", "--bootstrap", "127.0.0.1:9092", "--dry-run"],
        "momentum.toml",
        toml=b"kafka = [\n",
    ),
    "bad TOML, demo": Case(["demo"], "momentum.toml", toml=b"[local_queues\n"),
    "missing settings file": Case(
        ["run", SERVICE], "MOMENTUM_CONFIG_FILE", env={"MOMENTUM_CONFIG_FILE": "missing.toml"}
    ),
    "settings file is a directory": Case(
        ["outbox", "status", SERVICE], "MOMENTUM_CONFIG_FILE", env={"MOMENTUM_CONFIG_FILE": "."}
    ),
    "non-UTF-8 settings file": Case(["run", SERVICE], "UTF-8", toml=b'environment = "caf\xe9"\n'),
    "bad environment value": Case(
        ["run", SERVICE],
        "local_queues.concurrency",
        env={"MOMENTUM_LOCAL_QUEUES__CONCURRENCY": "zero"},
    ),
    "bad environment JSON": Case(
        ["outbox", "status", SERVICE], "store", env={"MOMENTUM_STORE": "schema=x"}
    ),
    "secret in a bad value": Case(
        ["run", SERVICE],
        "kafka.common.sasl.password",
        env={"MOMENTUM_KAFKA": json.dumps({"common": {"sasl.password": [SECRET]}})},
    ),
    "secret in a bad TOML value": Case(
        ["dlq", "list", SERVICE],
        "database_url",
        env={"MOMENTUM_DATABASE_URL": None},
        toml=b'[database_url]\nurl = "postgresql://ops:%s@db/x"\n' % SECRET.encode(),
    ),
    "bad value, provision": Case(
        ["provision", "app_domain", "--dry-run"],
        "kafka.partitions",
        env={"MOMENTUM_KAFKA__PARTITIONS": "0", "MOMENTUM_KAFKA_BOOTSTRAP_SERVERS": "b:9092"},
    ),
    "a class needing arguments": Case(["run", "notservice:SomeClass"], "not a momentum Service"),
    "a class": Case(["run", "notservice:NoArguments"], "not a momentum Service"),
    "a function needing arguments": Case(["run", "notservice:needs_arguments"], "arguments"),
    "a function returning something else": Case(
        ["run", "notservice:returns_a_number"], "not a momentum Service"
    ),
    "no such module": Case(["run", "no_such_module_here:service"], "no_such_module_here"),
    "no such attribute": Case(["run", "notservice:nothing"], "nothing"),
    "not MODULE:SERVICE": Case(["outbox", "status", "notservice"], "MODULE:SERVICE"),
    "unknown log level": Case(["run", SERVICE, "--log-level", "LOUD"], "--log-level"),
    "since out of range": Case(["dlq", "list", SERVICE, "--since", "99999999999d"], "--since"),
    "until out of range": Case(
        ["dlq", "purge", SERVICE, "--until", "99999999999999999999w", "--yes"], "--until"
    ),
    "since not a time": Case(["dlq", "list", SERVICE, "--since", "yesterday"], "--since"),
    "provision: bad environment": Case(
        ["provision", "app_domain", "--env", "pro d!", "--bootstrap", "127.0.0.1:9092"],
        "environment",
    ),
    "provision: bad topic config": Case(
        ["provision", "app_domain", "--bootstrap", "127.0.0.1:9092", "--config", "retention"],
        "KEY=VALUE",
    ),
    "topics: bad environment": Case(["topics", "app_domain", "--env", "pro d!"], "environment"),
    "settings naming PostgreSQL without its extra": Case(
        ["outbox", "status", SERVICE], "momentum-messaging[postgres]", env={"BLOCK": "psycopg"}
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_is_one_line_on_stderr_and_exit_code_2(case: Case, tmp_path: Path) -> None:
    (tmp_path / "notservice.py").write_text(NOT_A_SERVICE)
    if case.toml is not None:
        (tmp_path / "momentum.toml").write_bytes(case.toml)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MOMENTUM_") or k.startswith("MOMENTUM_TEST_")
    }
    env["MOMENTUM_DATABASE_URL"] = "memory://"
    for name, value in case.env.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    command = [MOMENTUM, *case.args]
    blocked = env.pop("BLOCK", None)
    if blocked is not None:  # the console script, with a package not installed
        env["MOMENTUM_DATABASE_URL"] = "postgresql://ops@127.0.0.1:1/db"
        argv = ["momentum", *case.args]
        command = [
            sys.executable,
            "-c",
            f"import sys; sys.modules[{blocked!r}] = None; sys.argv = {argv!r}\n"
            "from momentum.__main__ import main\nmain()\n",
        ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env
    )
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    assert done.returncode == 2, output
    assert done.stdout == "", output
    lines = done.stderr.splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("error: ") and case.expected in lines[0], lines[0]
    assert SECRET not in output


def test_errors_of_other_code_are_not_taken_for_settings_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A factory's own errors keep their traceback unless the settings file is at fault."""
    import pydantic

    from momentum.cli.errors import settings_problem

    class OwnConfig(pydantic.BaseModel):
        port: int

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MOMENTUM_CONFIG_FILE", raising=False)
    with pytest.raises(pydantic.ValidationError) as own:
        OwnConfig(port="eighty")  # type: ignore[arg-type]
    assert settings_problem(own.value) is None
    assert settings_problem(ValueError("a bug")) is None
    assert settings_problem(FileNotFoundError("their own file")) is None
    assert settings_problem(KeyError("x")) is None
    (tmp_path / "momentum.toml").write_text("environment = \n")
    problem = settings_problem(ValueError("raised while reading it"))
    assert problem is not None and "momentum.toml is not valid TOML" in problem
