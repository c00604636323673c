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
