"""Framework-free pieces shared by every invoke candidate: the handler's work and services."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Thing:
    """What the command creates."""

    name: str


class Repo:
    """First injected service: the handler's only real work is ``repo.add(name)``."""

    def add(self, name: str) -> Thing:
        """Create a thing (in memory: the benchmark measures dispatch, not storage)."""
        return Thing(name)


class Notifier:
    """Second injected service for peers (momentum's handler takes a ``MessageBus`` instead)."""


NAME = "widget"
EXPECTED = Thing(NAME)
TOPIC = "things"


def check(actual: object, expected: object = EXPECTED) -> None:
    """Fail the candidate's setup when its first response is not what the handler returned."""
    if actual != expected:
        raise RuntimeError(f"unexpected response {actual!r}, expected {expected!r}")
