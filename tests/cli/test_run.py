"""`momentum run` starts a service, serves until SIGTERM/SIGINT, then stops gracefully."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

MOMENTUM = str(Path(sys.executable).with_name("momentum"))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_serves_until_signalled(sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [MOMENTUM, "run", "app_domain.service:create_service"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # blocks until the service reports it started
        assert "started app-domain (/app_domain/app-domain)" in first, first
        proc.send_signal(sig)
        rest, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, rest
    assert "stopping app-domain" in rest and "stopped app-domain" in rest


def test_run_rejects_a_target_that_is_not_a_service() -> None:
    done = subprocess.run(
        [MOMENTUM, "run", "app_domain.service:CashierRepository"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "not a momentum Service" in done.stdout + done.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_run_serves_health_with_the_store_backlog(tmp_path: Path) -> None:
    import json
    import os
    import urllib.error
    import urllib.request

    port = _free_port()
    env = {**os.environ, "MOMENTUM_DATABASE_URL": f"sqlite:///{tmp_path}/app.db"}
    proc = subprocess.Popen(
        [MOMENTUM, "run", "app_domain.service:create_service", "--health-port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert f"health on http://127.0.0.1:{port}/health" in first, first
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as response:
            assert response.status == 200
            report = json.loads(response.read())
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/live", timeout=10) as response:
            assert json.loads(response.read()) == {"status": "alive"}
        url = f"http://127.0.0.1:{port}/health/live"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert json.loads(response.read()) == {"status": "alive"}
        url = f"http://127.0.0.1:{port}/health/ready"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert json.loads(response.read()) == {"status": "ready", "problems": []}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            assert response.headers["Content-Type"].startswith("text/plain")
            exposition = response.read().decode()
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/nope", timeout=10)
            raise AssertionError("an unknown path answered")
        except urllib.error.HTTPError as missing:
            assert missing.code == 404
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, rest
    # the gauges the service measured at start, in Prometheus' format
    backlog = [
        line for line in exposition.splitlines() if line.startswith("momentum_outbox_backlog{")
    ]
    assert len(backlog) == 1 and 'momentum_service="app-domain"' in backlog[0], exposition
    assert backlog[0].endswith(" 0.0"), exposition
    assert report["service"] == "app-domain" and report["status"] == "ok"
    assert report["ready"] is True
    assert report["problems"] == []
    assert report["store"] == {
        "backlog": 0,
        "oldest_pending_age_seconds": 0.0,
        "dead_letters": 0,
        "inbox_size": 0,
    }
