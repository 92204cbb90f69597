"""Trigger sweep throughput: 100 000 rows of which 1 000 are due.

For SQLite (a file on disk, WAL, synchronous=FULL) and for PostgreSQL (a
throwaway local server with fsync on, when its binaries are installed), this
measures one `TriggerSweeper.sweep()` that fires the 1 000 due rows, split
into listing, deciding and claiming; the sweep after it, when nothing is due;
and claims per second, batched (``claim_many``, what the sweeper uses) and one
``claim()`` call per row. Dispatch is a no-op, so the times are tickwork's and
the database's.

Run: ``python benchmarks/trigger_sweep.py [--rows N] [--due N] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from _common import print_table, progress, write_results
from tickwork.triggers import (
    PostgresTriggerStore,
    SQLiteTriggerStore,
    TriggerRow,
    TriggerStore,
    TriggerSweeper,
)
from tickwork.triggers._model import format_timestamp

if TYPE_CHECKING:
    from collections.abc import Callable

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
INTERVALS = ("1m", "5m", "15m", "1h", "6h", "1d")


def make_rows(count: int, due: int) -> list[tuple[str, str, str, bool, str]]:
    """*count* rows; the first *due* are overdue by a little, the rest not due."""
    rows = []
    for i in range(count):
        interval = INTERVALS[i % len(INTERVALS)]
        seconds = {"m": 60, "h": 3600, "d": 86400}[interval[-1]] * int(interval[:-1])
        # Due rows are 1.5 intervals old (due, not a catch-up); others 0.5.
        # Every timestamp differs (by i µs), so none is parsed only once: in
        # production the rows fired by one sweep share their text.
        age = seconds * (1.5 if i < due else 0.5) + i * 1e-6
        last = format_timestamp(NOW - timedelta(seconds=age))
        rows.append((f"id{i:07}", f"trigger-{i:07}", interval, True, last))
    return rows


def fill_sqlite(path: Path, rows: list[tuple[str, str, str, bool, str]]) -> None:
    """Bulk-load rows into a file whose schema the store created."""
    with sqlite3.connect(path) as connection:
        connection.execute("DELETE FROM tickwork_triggers")
        connection.executemany(
            "INSERT INTO tickwork_triggers VALUES (?, ?, ?, ?, ?)", rows
        )
    connection.close()


def fill_postgres(dsn: str, rows: list[tuple[str, str, str, bool, str]]) -> None:
    """Bulk-load rows with COPY into tables the store created."""
    import psycopg  # noqa: PLC0415 - only when PostgreSQL is measured

    with psycopg.connect(dsn) as connection:
        connection.execute("TRUNCATE tickwork_triggers")
        with connection.cursor().copy(
            "COPY tickwork_triggers (id, name, interval, enabled, last_fired_at) "
            "FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
        connection.execute("ANALYZE tickwork_triggers")


def check(condition: bool, message: object) -> None:  # noqa: FBT001
    """Stop the benchmark if what it measured is not what it meant to."""
    if not condition:
        raise RuntimeError(message)


class Timed:
    """Wraps a store to time its listing and claiming inside a real sweep."""

    def __init__(self, store: TriggerStore) -> None:
        """Wrap *store*."""
        self.store = store
        self.listing = 0.0
        self.claiming = 0.0
        self.claim_calls = 0

    async def enabled(self) -> list[TriggerRow]:
        """Time the listing."""
        start = time.perf_counter()
        rows = await self.store.enabled()
        self.listing += time.perf_counter() - start
        return list(rows)

    async def claim(self, trigger_id: str, seen: str | None, fired_at: str) -> bool:
        """Not used: the stores have claim_many."""
        raise NotImplementedError

    async def claim_many(
        self, claims: list[tuple[str, str | None]], fired_at: str
    ) -> frozenset[str]:
        """Time the claims."""
        start = time.perf_counter()
        won: frozenset[str] = await self.store.claim_many(claims, fired_at)  # type: ignore[attr-defined]
        self.claiming += time.perf_counter() - start
        self.claim_calls += 1
        return won


async def measure(
    store: TriggerStore, reload: Callable[[], None], count: int, due: int, repeat: int
) -> dict[str, Any]:
    """Sweep times and claim rates for one store, medians over *repeat* runs."""
    runs: list[dict[str, float]] = []
    for attempt in range(repeat):
        await store.all()  # creates the schema
        reload()
        fired = 0

        async def dispatch(_row: TriggerRow) -> None:
            nonlocal fired
            fired += 1

        timed = Timed(store)
        sweeper = TriggerSweeper(timed, dispatch, clock=lambda: NOW)  # type: ignore[arg-type]
        start = time.perf_counter()
        report = await sweeper.sweep()
        total = time.perf_counter() - start
        check(len(report.fired) == due == fired, (len(report.fired), fired))
        check(len(report.not_due) == count - due, len(report.not_due))
        listing, claiming, calls = timed.listing, timed.claiming, timed.claim_calls
        start = time.perf_counter()
        idle = await sweeper.sweep()
        steady = time.perf_counter() - start
        check(idle.fired == (), idle.fired)
        # One claim() per row, as a store without claim_many would be used.
        reload()
        rows = (await store.enabled())[:due]
        start = time.perf_counter()
        for row in rows:
            check(await store.claim(row.id, row.last_fired_at, "x"), row)
        single = time.perf_counter() - start
        runs.append(
            {
                "sweep_s": total,
                "listing_s": listing,
                "claiming_s": claiming,
                "deciding_s": total - listing - claiming,
                "claim_calls": calls,
                "idle_sweep_s": steady,
                "batched_claims_per_s": due / claiming,
                "single_claims_per_s": due / single,
            }
        )
        progress(f"run {attempt + 1}/{repeat}: sweep {total * 1000:.0f} ms")
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


async def bench_sqlite(count: int, due: int, repeat: int) -> dict[str, Any]:
    """SQLite in a temporary file on the working disk."""
    folder = Path(tempfile.mkdtemp(prefix="tickwork-bench-"))
    path = folder / "triggers.db"
    rows = make_rows(count, due)
    async with SQLiteTriggerStore(path) as store:
        return await measure(store, lambda: fill_sqlite(path, rows), count, due, repeat)


async def bench_postgres(dsn: str, count: int, due: int, repeat: int) -> dict[str, Any]:
    """PostgreSQL on a local throwaway server."""
    rows = make_rows(count, due)
    async with PostgresTriggerStore(dsn) as store:
        return await measure(
            store, lambda: fill_postgres(dsn, rows), count, due, repeat
        )


def main() -> None:
    """Measure each store, print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    progress(f"SQLite: {args.rows} rows, {args.due} due")
    results["sqlite"] = trio.run(bench_sqlite, args.rows, args.due, args.repeat)
    # The tests' throwaway-server helper; the repository root holds `tests`.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.pgserver import (  # noqa: PLC0415
        PostgresServer,
        PostgresUnavailableError,
    )

    try:
        server = PostgresServer(durable=True)
    except PostgresUnavailableError as exc:
        progress(f"PostgreSQL skipped: {exc}")
    else:
        try:
            server.start()
            progress(f"PostgreSQL {server.version()}: {args.rows} rows, {args.due} due")
            results["postgres"] = trio.run(
                bench_postgres, server.dsn, args.rows, args.due, args.repeat
            )
        finally:
            server.destroy()
    table = [
        [
            name,
            f"{r['sweep_s'] * 1000:.0f}",
            f"{r['listing_s'] * 1000:.0f}",
            f"{r['deciding_s'] * 1000:.0f}",
            f"{r['claiming_s'] * 1000:.0f} ({r['claim_calls']:.0f} calls)",
            f"{r['idle_sweep_s'] * 1000:.0f}",
            f"{r['batched_claims_per_s']:,.0f}",
            f"{r['single_claims_per_s']:,.0f}",
        ]
        for name, r in results.items()
    ]
    print_table(
        f"Trigger sweep: {args.rows:,} rows, {args.due:,} due "
        f"(median of {args.repeat}; goal: <= 1 s on SQLite)",
        [
            "store",
            "sweep ms",
            "list ms",
            "decide+dispatch ms",
            "claim ms",
            "idle sweep ms",
            "claims/s batched",
            "claims/s one by one",
        ],
        table,
    )
    write_results(
        "trigger_sweep",
        {"rows": args.rows, "due": args.due, "repeat": args.repeat, "stores": results},
    )


if __name__ == "__main__":
    main()
