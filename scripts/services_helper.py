"""Small helpers for scripts/services (standard library only: runs before .venv exists).

services_helper.py kafka-ready HOST:PORT [--wait SECONDS] [--pid PID] [--quiet]
    Send a real ApiVersions + Metadata request over a raw socket. Exit 0 when the broker
    answers with at least one live broker, 1 when it does not (within --wait seconds),
    2 when --pid is given and that process exits while waiting.
services_helper.py parse-db-url URL
    Print shell assignments pg_host, pg_port, pg_user, pg_db, pg_admin_url.
services_helper.py cluster-id
    Print a random KRaft cluster id (22 characters of URL-safe base64, as Kafka's Uuid).
"""

from __future__ import annotations

import argparse
import base64
import os
import shlex
import socket
import struct
import sys
import time
import uuid
from urllib.parse import unquote, urlsplit, urlunsplit

API_METADATA = 3
API_VERSIONS = 18
CLIENT_ID = b"momentum-services"


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return int(value)

    def string(self) -> str | None:
        length = self.take(">h")
        if length < 0:
            return None
        value = self.data[self.pos : self.pos + length].decode()
        self.pos += length
        return value


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        chunks += chunk
    return bytes(chunks)


def _request(
    sock: socket.socket, api_key: int, version: int, correlation: int, body: bytes
) -> bytes:
    # Request header v1: api_key, api_version, correlation_id, client_id (nullable string).
    header = struct.pack(">hhih", api_key, version, correlation, len(CLIENT_ID)) + CLIENT_ID
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    response = _recv_exact(sock, size)
    (answered,) = struct.unpack_from(">i", response)
    if answered != correlation:
        raise ConnectionError(f"correlation id {answered} != {correlation}")
    return response[4:]  # response header v0: correlation id only


def kafka_metadata(host: str, port: int, timeout: float) -> dict[str, object]:
    """Ask the broker for its cluster metadata; raises OSError/ConnectionError when it cannot."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        reader = _Reader(_request(sock, API_VERSIONS, 0, 1, b""))
        error = reader.take(">h")
        if error:
            raise ConnectionError(f"ApiVersions error code {error}")
        versions = {}
        for _ in range(reader.take(">i")):
            key, low, high = reader.take(">h"), reader.take(">h"), reader.take(">h")
            versions[key] = (low, high)
        low, high = versions.get(API_METADATA, (0, -1))
        version = max(low, min(high, 8))  # v1..v8 share the layout read below (non-flexible)
        if version > high or version < 1:
            raise ConnectionError(f"no usable Metadata version in {low}..{high}")
        body = struct.pack(">i", 0)  # empty topic list: brokers only (v1+: -1 would mean all)
        if version >= 4:
            body += struct.pack(">b", 0)  # allow_auto_topic_creation
        if version >= 8:
            body += struct.pack(">bb", 0, 0)  # include cluster / topic authorized operations
        reader = _Reader(_request(sock, API_METADATA, version, 2, body))
        if version >= 3:
            reader.take(">i")  # throttle_time_ms
        brokers = []
        for _ in range(reader.take(">i")):
            node_id = reader.take(">i")
            broker_host = reader.string()
            broker_port = reader.take(">i")
            reader.string()  # rack
            brokers.append(f"{node_id}@{broker_host}:{broker_port}")
        cluster_id = reader.string() if version >= 2 else None
        controller = reader.take(">i")
        return {"brokers": brokers, "cluster_id": cluster_id, "controller": controller}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as dead.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kafka_ready(args: argparse.Namespace) -> int:
    """Exit status 0 when Kafka answers a metadata request, 1 when not, 2 when --pid died."""
    first = args.bootstrap.split(",")[0]
    host, _, port = first.rpartition(":")
    deadline = time.monotonic() + args.wait
    last_error = "not tried"
    while True:
        try:
            meta = kafka_metadata(host.strip("[]"), int(port), timeout=2.0)
            if meta["brokers"]:
                if not args.quiet:
                    print(
                        f"Kafka at {first} answers: cluster {meta['cluster_id']}, "
                        f"brokers {', '.join(meta['brokers'])}, controller {meta['controller']}"
                    )
                return 0
            last_error = "metadata lists no live broker yet"
        except (OSError, ConnectionError, struct.error, UnicodeDecodeError) as error:
            last_error = f"{type(error).__name__}: {error}"
        if args.pid and not _alive(args.pid):
            if not args.quiet:
                print(f"process {args.pid} exited while waiting for Kafka at {first}")
            return 2
        if time.monotonic() >= deadline:
            if not args.quiet:
                print(f"Kafka at {first} does not answer ({last_error})")
            return 1
        time.sleep(0.25)  # poll interval


def parse_db_url(args: argparse.Namespace) -> int:
    """Print the parts of a postgresql:// URL as shell assignments."""
    parts = urlsplit(args.url)
    if parts.scheme not in ("postgresql", "postgres"):
        print(f"not a postgresql:// URL: {args.url}", file=sys.stderr)
        return 1
    values = {
        "pg_host": parts.hostname or "127.0.0.1",
        "pg_port": str(parts.port or 5432),
        "pg_user": unquote(parts.username or "postgres"),
        "pg_db": unquote(parts.path.lstrip("/")) or "postgres",
        "pg_admin_url": urlunsplit(parts._replace(path="/postgres")),
    }
    for name, value in values.items():
        print(f"{name}={shlex.quote(value)}")
    return 0


def cluster_id(_: argparse.Namespace) -> int:
    """Print a random KRaft cluster id."""
    while True:
        value = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not value.startswith("-"):  # Kafka avoids ids that look like command-line options
            print(value)
            return 0


def main() -> int:
    """Dispatch the sub-command."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    ready = commands.add_parser("kafka-ready")
    ready.add_argument("bootstrap")
    ready.add_argument("--wait", type=float, default=0.0)
    ready.add_argument("--pid", type=int, default=0)
    ready.add_argument("--quiet", action="store_true")
    ready.set_defaults(run=kafka_ready)
    url = commands.add_parser("parse-db-url")
    url.add_argument("url")
    url.set_defaults(run=parse_db_url)
    commands.add_parser("cluster-id").set_defaults(run=cluster_id)
    args = parser.parse_args()
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
