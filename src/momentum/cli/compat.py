"""``momentum check --against REF`` and ``--export FILE``: contract compatibility in the CLI.

``REF`` is a contract file (``momentum check PKG --export FILE``, or the ``contracts.json``
that ``momentum docs`` writes) or a git revision (``main``, ``HEAD~1``, a tag): see
:mod:`momentum.docs.revisions`. Breaking changes make ``momentum check`` exit 1; safe ones
are information. A baseline that cannot be read is ``error: ...`` and exit 2.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import typer

from momentum.contracts.errors import MomentumError
from momentum.contracts.serialization import Casing
from momentum.docs.compatibility import Change, compare_contracts
from momentum.docs.contract_file import dumps, export_contracts
from momentum.docs.model import build_catalog
from momentum.docs.revisions import load_baseline


@dataclass(frozen=True, slots=True)
class Compatibility:
    """The comparison of the packages' contracts with a baseline.

    Attributes:
        against: What the baseline is (``git revision main (1a2b3c4d5e6f)``).
        changes: Every change, breaking ones first.
        events: Integration events in the current contracts.
    """

    against: str
    changes: list[Change]
    events: int

    @property
    def breaking(self) -> list[Change]:
        """The breaking changes."""
        return [change for change in self.changes if change.breaking]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the ``compatibility`` member of ``momentum check --json``)."""
        return {
            "against": self.against,
            "ok": not self.breaking,
            "breaking": len(self.breaking),
            "changes": [change.to_dict() for change in self.changes],
        }

    def report(self) -> str:
        """The text report: changes grouped by event, then a summary line."""
        lines = [f"Compatibility with {self.against}:"]
        if not self.changes:
            lines.append(f"  no changes in {self.events} integration event(s).")
            return "\n".join(lines)
        by_event: dict[str, list[Change]] = defaultdict(list)
        for change in self.changes:
            by_event[change.type_name].append(change)
        for type_name, changes in by_event.items():
            lines.append(type_name)
            lines.extend(f"  {change}" for change in changes)
        safe = len(self.changes) - len(self.breaking)
        lines.append(
            f"{len(self.breaking)} breaking change(s), {safe} safe change(s) in "
            f"{len(by_event)} event(s)."
        )
        return "\n".join(lines)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def compatibility(
    classes: list[type],
    packages: Sequence[str],
    *,
    against: str | None,
    export: Path | None,
    casing: Casing,
) -> Compatibility | None:
    """Export the current contracts (to ``export``) and compare them with ``against``."""
    try:
        baseline = load_baseline(against, packages, casing=casing) if against else None
    except MomentumError as exc:
        raise _fail(str(exc)) from exc
    wire_casing = cast(Casing, baseline.contracts["casing"]) if baseline else casing
    current = export_contracts(build_catalog(classes, packages, casing=wire_casing))
    if export is not None:
        try:
            export.write_text(dumps(current), encoding="utf-8")
        except OSError as exc:
            raise _fail(f"cannot write {str(export)!r}: {exc}") from exc
    if baseline is None:
        return None
    changes = compare_contracts(baseline.contracts, current)
    return Compatibility(baseline.description, changes, len(current["events"]))
