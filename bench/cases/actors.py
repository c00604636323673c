"""Stateful actors: messages handled by an actor vs. by a stateless handler (issue #19).

Two benchmarks, one per store (PostgreSQL in a fresh schema per candidate, dropped after;
SQLite in a temporary directory), each comparing the actor to the stateless durable handler
on the same store in the same run. Every op writes real rows, so ops are fixed (see
bench/cases/durable.py) and the records are built at setup (bench/subjects/durable_actors.py).
"""

from __future__ import annotations

from bench.cases.durable import _MACHINE, _fixed
from bench.framework import Benchmark

_S = "bench.subjects.durable_actors"

_STATELESS = (
    "a started `Service` with the store over an `InMemoryBroker` transport (4 lanes, "
    "records keyed by 24 tenants) and one handler `async def handle(event: PaymentReceived)`; "
    "`run(n)` hands n pre-built CloudEvents records of 1,000 invoices (taken in turn) to "
    "`broker.publish_record` and waits for the n-th handler and `settle` (every inbox row "
    "committed: the group commit)."
)
_ACTOR = (
    "as the stateless handler, handled by `InvoiceLedger(Actor[Ledger])` keyed by the "
    "invoice (`self.state.total += event.amount`): the activation's mailbox, the state "
    "serialized, then the actor saves (inbox rows and one `UPDATE ... WHERE version = "
    "expected` per invoice of a batch, one transaction per batch). The warm-up run activates "
    "the invoices."
)


def _benchmark(store: str, label: str) -> Benchmark:
    bench = Benchmark(
        name=f"actors-{store}",
        title=f"inbound messages handled by an actor vs. a stateless handler, {label} store",
        baseline=f"stateless handler, {label}",
        target="actor-handled messages at least 50% of the stateless durable throughput "
        "on the same store (at most 2x its time per message)",
        adjust=_fixed(300, 3_000, 5),
        show_rate=True,
    )
    bench.add(f"stateless handler, {label}", f"{_S}:stateless_{store}", note=_STATELESS)
    bench.add(
        f"actor ({label})",
        f"{_S}:actor_{store}",
        max_ratio=2.0,
        note=_ACTOR + (" " + _MACHINE if store == "postgres" else ""),
    )
    return bench


BENCHMARKS = [_benchmark("postgres", "PostgreSQL"), _benchmark("sqlite", "SQLite")]
