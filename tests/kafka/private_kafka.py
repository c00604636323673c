"""A private Kafka broker for tests that stop and restart the broker (never the shared one).

The same jars `scripts/services` resolved from Maven Central (``~/.cache/momentum/kafka-*``):
a single-node KRaft broker/controller with its own data directory in a temporary folder,
listening on free loopback ports. ``stop`` ends the JVM (its data stays), ``start`` brings it
back on the same ports with the same data.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

START_TIMEOUT = 90.0


def kafka_libs() -> Path:
    """The broker's jars, as `scripts/services up` left them."""
    cache = Path(os.environ.get("MOMENTUM_CACHE_DIR", Path.home() / ".cache" / "momentum"))
    version = os.environ.get("MOMENTUM_KAFKA_VERSION", "4.3.1")
    libs = cache / f"kafka-{version}" / "libs"
    if not (libs / ".complete").exists():
        raise RuntimeError(f"no Kafka jars in {libs}: run scripts/services up first")
    return libs


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateKafka:
    """One throw-away broker: ``start``, ``stop``, ``close``; ``bootstrap`` to connect."""

    def __init__(self, heap: str = "384m") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="momentum-kafka-"))
        self.port = _free_port()
        self.controller_port = _free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.config = self.dir / "server.properties"
        self.log = self.dir / "broker.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._java = [
            shutil.which("java") or "java",
            f"-Xms{heap}",
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-XX:TieredStopAtLevel=1",  # a short-lived test broker: start fast
            "-Djava.awt.headless=true",
            "-cp",
            f"{kafka_libs()}/*",
        ]
        self.config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                    f"CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT",
                    "controller.listener.names=CONTROLLER",
                    f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}",
                    f"log.dirs={self.dir / 'data'}",
                    "num.partitions=1",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=3",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=false",
                    "",
                ]
            )
        )
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        subprocess.run(
            [
                *self._java,
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "-t",
                cluster_id,
                "-c",
                str(self.config),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )

    @property
    def running(self) -> bool:
        """Whether the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the broker and wait until it answers a metadata request."""
        if self.running:
            return
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [*self._java, "kafka.Kafka", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._wait_until_answering()

    def _wait_until_answering(self) -> None:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        deadline = time.monotonic() + START_TIMEOUT
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        while True:
            process = self._process
            if process is None or process.poll() is not None:
                raise RuntimeError(f"the private broker exited; see {self.log}")
            try:
                metadata = admin.list_topics(timeout=2)
                if metadata.brokers:
                    return
            except KafkaException:
                pass  # not answering yet
            if time.monotonic() > deadline:
                raise RuntimeError(f"the private broker did not answer in time; see {self.log}")

    def stop(self) -> None:
        """Stop the broker (SIGTERM, a clean shutdown) and wait for the process to end."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)

    def close(self) -> None:
        """Stop the broker and delete its data."""
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
