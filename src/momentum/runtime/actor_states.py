"""Actor state rows: what the message store keeps of each stateful actor.

One row per actor (its type name and key): the serialized state, a version counting the
saves, the names of its pending reminders with the message id of the reminder that counts,
and the time of the last save. A save is optimistic: it names the version it read and
succeeds only while the row is still at that version (``UPDATE ... WHERE version =
expected``; ``expected_version`` 0 creates the row and fails when one exists), so a writer
whose view is stale (another process owns the key since a rebalance) is refused. Saves are
made in the transaction of the inbox rows and outbox rows of the messages they handled, so
the state, the effects and the acknowledgement move together.

The adapters implement :meth:`MessageStore.load_actor_states` and
:meth:`StoreTransaction.save_actor_states` on their ``actor_states`` table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ActorState:
    """The stored state of one actor.

    Attributes:
        actor_type: The actor's type name (``app_domain.invoices.actor.InvoiceActor``).
        key: The actor's key.
        version: How many saves the row has seen (1 after the first).
        state: The serialized state (JSON written by the actor's state codec).
        reminders: Pending reminders: name -> message id of the reminder that fires.
        updated_at: When it was last saved (POSIX seconds, the store's clock).
    """

    actor_type: str
    key: str
    version: int
    state: bytes
    reminders: Mapping[str, str]
    updated_at: float


@dataclass(frozen=True, slots=True)
class ActorStateWrite:
    """One optimistic save of an actor's state (see :meth:`StoreTransaction.save_actor_states`).

    Attributes:
        actor_type: The actor's type name.
        key: The actor's key.
        expected_version: The version the writer read (0: it found no row).
        state: The new serialized state.
        reminders: The actor's pending reminders after the save.
    """

    actor_type: str
    key: str
    expected_version: int
    state: bytes
    reminders: Mapping[str, str] = field(default_factory=dict)


def encode_reminders(reminders: Mapping[str, str]) -> str | None:
    """``reminders`` as the JSON text of the ``reminders`` column (``None`` when empty)."""
    return json.dumps(dict(reminders), sort_keys=True) if reminders else None


def decode_reminders(text: str | None) -> dict[str, str]:
    """The ``reminders`` column back as a mapping (empty for ``NULL``)."""
    if not text:
        return {}
    loaded = json.loads(text)
    return {str(name): str(token) for name, token in loaded.items()}


class ActorStateTransaction(Protocol):
    """The actor-state part of :class:`~momentum.runtime.store.StoreTransaction`."""

    async def save_actor_states(self, writes: Sequence[ActorStateWrite]) -> list[bool]:
        """Save actor states optimistically (at most one write per actor per call).

        A write succeeds when the actor's row is at ``expected_version`` (0: when there is
        no row), and leaves it at ``expected_version + 1``; a failed write changes nothing
        (the caller rolls the transaction back: another writer owns the actor).

        Returns:
            For each write, in order: whether it succeeded.
        """
        ...


class ActorStateReads(Protocol):
    """The actor-state part of :class:`~momentum.runtime.store.MessageStore`."""

    async def load_actor_states(
        self, actor_type: str, keys: Sequence[str]
    ) -> dict[str, ActorState]:
        """The committed states of the actors of ``actor_type`` with ``keys`` (one query).

        Returns:
            Key -> state, for the keys that have a row.
        """
        ...


__all__ = [
    "ActorState",
    "ActorStateReads",
    "ActorStateTransaction",
    "ActorStateWrite",
    "decode_reminders",
    "encode_reminders",
]
