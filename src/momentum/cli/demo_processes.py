"""The demo on real Kafka and PostgreSQL: the notifications service in its own process.

``momentum demo --kafka BOOTSTRAP --database-url postgresql://...`` runs app-domain in the
demo process and notifications as a child process (``python -m momentum.cli.demo_processes
worker ...``), each with its own schema, exchanging CloudEvents through Kafka topics of a
fresh environment. The child records every email it sends as a JSON line in a file the demo
reads; its dead letters are read from its schema. The fix of the bouncing mail server is
"deployed" by restarting the child without the bounce, then the dead letter is replayed.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import string
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from momentum.cli.demo import DemoFailedError, Story
from momentum.contracts.naming import environment_short_name
from momentum.runtime.store import DeadLetterFilter
from momentum.service import Service
from momentum.settings import KafkaSettings, MomentumSettings, StoreSettings

WAIT = 60.0


def settings_for(environment: str, bootstrap: str, database_url: str, schema: str) -> Any:
    """Settings of one demo service: Kafka with provisioning, PostgreSQL schema ``schema``."""
    return MomentumSettings(
        environment=environment,
        kafka_bootstrap_servers=bootstrap,
        kafka=KafkaSettings(provision=True, partitions=3),
        database_url=database_url,
        store=StoreSettings(schema_name=schema, poll_seconds=0.5),
    )


def notifications_service(
    environment: str, bootstrap: str, database_url: str, schema: str, emails: str, bouncing: bool
) -> Service:
    """The notifications service of the demo, as the child process (or a replay) runs it.

    Its ``EmailService`` also appends each email it sends to ``emails`` (JSON lines), which
    the demo process reads.
    """
    import notifications.service as notifications_service
    from notifications.email import EmailService

    class FileEmailService(EmailService):
        async def send(self, to: str, subject: str) -> None:
            await super().send(to, subject)
            line = json.dumps([to, subject]) + "\n"
            await asyncio.to_thread(_append, emails, line)

    sender = FileEmailService(bouncing_domains={"bounce.example"} if bouncing else set())
    return notifications_service.create_service(
        email=sender, settings=settings_for(environment, bootstrap, database_url, schema)
    )


def _append(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as out:
        out.write(line)


DATABASE_URL_VARIABLE = "MOMENTUM_DEMO_DATABASE_URL"
"""How the child process gets the database URL: its environment, not its command line (which
``ps`` shows to every user of the machine, password included)."""


async def worker(argv: list[str]) -> None:
    """Child process: run notifications until SIGTERM; print ``ready`` once started."""
    environment, bootstrap, schema, emails, bouncing = argv
    database_url = os.environ[DATABASE_URL_VARIABLE]
    service = notifications_service(
        environment, bootstrap, database_url, schema, emails, bouncing == "1"
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with service:
        print("ready", flush=True)
        await stop.wait()


class Child:
    """The notifications process of the demo."""

    def __init__(self, args: list[str], log: Path, database_url: str) -> None:
        self.args = args
        self.log = log
        self.database_url = database_url
        self.process: subprocess.Popen[str] | None = None

    def start(self, bouncing: bool) -> None:
        """Start the process (its email service bouncing or not); wait until it runs."""
        command = [sys.executable, "-m", "momentum.cli.demo_processes", "worker", *self.args]
        with open(self.log, "a", encoding="utf-8") as log:  # its logs, shown if it fails
            self.process = subprocess.Popen(
                [*command, "1" if bouncing else "0"],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env={**os.environ, DATABASE_URL_VARIABLE: self.database_url},
            )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            self.stop()
            tail = self.log.read_text(errors="replace")[-2000:]
            raise DemoFailedError(f"the notifications process did not start:\n{tail}")

    def stop(self) -> None:
        """Stop it gracefully (SIGTERM), killing it after a minute."""
        process, self.process = self.process, None
        if process is None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise DemoFailedError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)  # polling another process's output


def _emails(path: Path) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    return [tuple(json.loads(line)) for line in path.read_text().splitlines() if line]


async def run_processes(console: Console, bootstrap: str, database_url: str) -> int:
    """The story with notifications in a child process; returns the checks passed."""
    import app_domain.service as app_domain_service
    from app_domain.cashiers.commands import CreateCashier
    from momentum.postgres import PostgresStore

    story = Story(console)
    environment = secrets.choice(string.ascii_lowercase) + "".join(
        secrets.choice(string.ascii_lowercase + string.digits) for _ in range(3)
    )
    app_schema, notify_schema = f"demo_{environment}_app", f"demo_{environment}_notify"
    with tempfile.TemporaryDirectory(prefix="momentum-demo-") as directory:
        emails = Path(directory, "emails.jsonl")
        arguments = [environment, bootstrap, notify_schema, str(emails)]
        child = Child(arguments, Path(directory, "notifications.log"), database_url)
        app = app_domain_service.create_service(
            settings=settings_for(environment, bootstrap, database_url, app_schema)
        )
        notify_store = PostgresStore(database_url, schema=notify_schema)
        story.step(f"Start notifications in its own process, environment {environment!r}")
        child.start(bouncing=True)
        try:
            async with app:
                await notify_store.open()
                topics = ", ".join(s.topic for s in app.runtime.subscriptions()) or "-"
                story.say(f"{app.name} runs here on Kafka {bootstrap}, subscriptions: {topics}")
                story.say(
                    f"outboxes and inboxes in PostgreSQL schemas {app_schema}, {notify_schema}"
                )

                story.step("Invoke CreateCashier: CashierCreated travels through Kafka")
                tenant = uuid.uuid4()
                result = await app.bus.invoke(
                    CreateCashier(tenant, "Ada Lovelace", "ada@example.com")
                )
                story.expect(result.is_success, "CreateCashier succeeded")
                welcome = ("ada@example.com", "Welcome, Ada Lovelace!")
                await _until(lambda: welcome in _emails(emails), "the welcome email")
                story.expect(True, "the notifications process sent the welcome email")

                story.step("Invoke CreateCashier with bad input: validators answer")
                bad = await app.bus.invoke(CreateCashier(tenant, "", "not-an-email"))
                story.expect(
                    not bad.is_success and len(bad.failures) == 2, "two validation failures"
                )

                story.step("A handler in the other process keeps failing: dead-lettered")
                await app.bus.invoke(CreateCashier(tenant, "Bob", "bob@bounce.example"))
                this_run = DeadLetterFilter(tenant=str(tenant))

                async def dead() -> int:
                    return len(await notify_store.dead_letters(this_run))

                deadline = time.monotonic() + WAIT
                while await dead() < 1:
                    if time.monotonic() > deadline:
                        raise DemoFailedError("timed out waiting for the dead letter")
                    await asyncio.sleep(0.1)  # polling another process's store
                letters = await notify_store.dead_letters(this_run)
                story.expect(
                    len(letters) == 1 and letters[0].exception_type.endswith("EmailBouncedError"),
                    f"the dead letter is a row in {notify_schema} (and on the .dlq topic)",
                )

                story.step("Deploy the fix (restart without the bounce) and replay the dead letter")
                child.stop()
                child.start(bouncing=False)
                replayer = notifications_service(
                    environment, bootstrap, database_url, notify_schema, str(emails), False
                )
                async with replayer:
                    outcome = await replayer.replay_stored_dead_letters(this_run)
                    await asyncio.wait_for(replayer.runtime.wait_idle(), WAIT)
                story.say(f"republished: {outcome.republished}")
                bob = ("bob@bounce.example", "Welcome, Bob!")
                await _until(lambda: bob in _emails(emails), "the replayed welcome email")
                story.expect(
                    outcome.republished == 1 and await dead() == 0,
                    "the replay went through Kafka and Bob was welcomed; no dead letter left",
                )
                stats = await app.store.stats() if app.store is not None else None
                story.expect(
                    stats is not None and stats.backlog == 0, "app-domain's outbox is drained"
                )
        finally:
            child.stop()
            await _delete_topics(bootstrap, environment)
            await notify_store.drop_schema()
            await notify_store.close()
            app_store = PostgresStore(database_url, schema=app_schema)
            await app_store.drop_schema()
            await app_store.close()
    return story.checks


async def _delete_topics(bootstrap: str, environment: str) -> None:
    """Remove the topics of the demo's fresh environment (``{environment}.*``) from the broker."""
    from momentum.kafka import KafkaConfig
    from momentum.kafka.provisioning import delete_topics_sync

    config = KafkaConfig(bootstrap_servers=bootstrap)
    prefix = f"{environment_short_name(environment)}."
    await asyncio.to_thread(delete_topics_sync, config, prefix)


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        asyncio.run(worker(sys.argv[2:]))
