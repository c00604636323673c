"""`momentum provision` creates the example's topics and dead-letter topics on real Kafka."""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from typer.testing import CliRunner

from momentum.cli import app

pytestmark = pytest.mark.kafka
runner = CliRunner()


@pytest.fixture
def environment(kafka_bootstrap: str) -> Iterator[str]:
    env = secrets.choice(string.ascii_lowercase) + "".join(
        secrets.choice(string.ascii_lowercase + string.digits) for _ in range(3)
    )
    yield env
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    topics = [t for t in admin.list_topics(timeout=30).topics if t.startswith(f"{env}.")]
    if topics:
        for future in admin.delete_topics(topics, operation_timeout=30).values():
            future.result(timeout=30)


def test_provision_is_idempotent_and_reports_json(kafka_bootstrap: str, environment: str) -> None:
    args = ["provision", "app_domain", "--env", environment, "--bootstrap", kafka_bootstrap]
    expected = [
        f"{environment}.appdomain.public.cashiers.v1",
        f"{environment}.appdomain.public.cashiers.v1.dlq",
        f"{environment}.appdomain.public.invoices.v1",
        f"{environment}.appdomain.public.invoices.v1.dlq",
        f"{environment}.appdomain.public.payments.v1",
        f"{environment}.appdomain.public.payments.v1.dlq",
    ]
    dry = runner.invoke(app, [*args, "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output) == {"topics": expected, "created": [], "dry_run": True}
    first = runner.invoke(
        app, [*args, "--partitions", "4", "--config", "retention.ms=3600000", "--json"]
    )
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["created"] == expected
    metadata = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=30)
    assert len(metadata.topics[expected[0]].partitions) == 4
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "0 created, 6 already existed" in again.output


def test_provision_reports_an_unreachable_broker_with_exit_code_1() -> None:
    result = runner.invoke(
        app,
        ["provision", "app_domain", "--bootstrap", "127.0.0.1:1", "--env", "zz", "--timeout", "1"],
        env={"MOMENTUM_KAFKA_BOOTSTRAP_SERVERS": ""},
    )
    assert result.exit_code == 1
    assert "error:" in result.output


def _topics_of(environment: str, bootstrap: str) -> list[str]:
    topics = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30).topics
    return sorted(t for t in topics if t.startswith(f"{environment}."))


def test_provision_connects_with_the_security_settings_of_the_services(
    kafka_bootstrap: str, environment: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`kafka.common` reaches the admin client: a SASL mechanism librdkafka refuses fails."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MOMENTUM_KAFKA__COMMON__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("MOMENTUM_KAFKA__COMMON__SASL_MECHANISM", "NOPE")
    monkeypatch.setenv("MOMENTUM_KAFKA__COMMON__SASL_PASSWORD", "hunter2-provision")
    result = runner.invoke(
        app,
        ["provision", "app_domain", "--env", environment, "--bootstrap", kafka_bootstrap],
    )
    assert result.exit_code == 1, result.output
    assert "error:" in result.stderr and "Unsupported SASL mechanism: NOPE" in result.stderr
    assert "hunter2-provision" not in result.output
    assert _topics_of(environment, kafka_bootstrap) == []  # nothing created in plaintext


def test_provision_reads_brokers_and_client_settings_from_the_settings_file(
    kafka_bootstrap: str, environment: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MOMENTUM_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    (tmp_path / "momentum.toml").write_text(
        f'kafka_bootstrap_servers = "{kafka_bootstrap}"\n'
        '[kafka.common]\n"security.protocol" = "PLAINTEXT"\n"socket.timeout.ms" = 20000\n'
    )
    result = runner.invoke(app, ["provision", "app_domain", "--env", environment, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["created"] == _topics_of(environment, kafka_bootstrap)
    assert len(_topics_of(environment, kafka_bootstrap)) == 6
    (tmp_path / "momentum.toml").write_text(
        f'kafka_bootstrap_servers = "{kafka_bootstrap}"\n'
        '[kafka.common]\n"security.protocol" = "SASL_PLAINTEXT"\n"sasl.mechanism" = "NOPE"\n'
    )
    refused = runner.invoke(app, ["provision", "app_domain", "--env", environment])
    assert refused.exit_code == 1 and "Unsupported SASL mechanism" in refused.stderr
