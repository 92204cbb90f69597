"""Trigger sweep throughput: 100 000 rows of which 1 000 are due.

For SQLite (a file on disk, WAL, synchronous=FULL) and for PostgreSQL (a
throwaway local server with fsync on, when its binaries are installed), this
measures one `TriggerSweeper.sweep()` that fires the 1 000 due rows, split
into listing, claiming (``claim_windows``, batched), recording the outcomes
(``finish_windows``, batched) and the rest (deciding and dispatching); the
sweep after it, when nothing is due; and window claims per second, batched
as the sweeper sends them and one ``claim_windows`` call per window.
Dispatch is a no-op, so the times are tickwork's and the database's.

Every row carries its window state (schema version 2): anchored ten intervals
before the benchmark's clock, its last window the one before the current
(due) or the current one (not due), recorded as succeeded.

Run: ``python benchmarks/trigger_sweep.py [--rows N] [--due N] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from _common import print_table, progress, write_results
from tickwork._lease import WON, Claim
from tickwork.triggers import (
    PostgresTriggerStore,
    SQLiteTriggerStore,
    TriggerRow,
    TriggerStore,
    TriggerSweeper,
)
from tickwork.triggers._model import datetime_micros, micros_timestamp

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from tickwork._lease import Claimed
    from tickwork.triggers._store import Kind

# In the past, so that PostgreSQL's clock (now(), which the store judges
# claims by) has passed every window; SQLite is given this as its clock.
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
NOW_US = datetime_micros(NOW)
INTERVALS = ("1m", "5m", "15m", "1h", "6h", "1d")
SECONDS = {"m": 60, "h": 3600, "d": 86400}
COLUMNS = (
    "id",
    "name",
    "interval",
    "enabled",
    "last_fired_at",
    "anchor_us",
    "window_us",
    "token",
    "holder",
    "lease_until_us",
    "outcome",
    "attempt",
    "lost",
    "cron",
    "timezone",
)
LEASE = 30.0

Row = tuple[object, ...]


def make_rows(count: int, due: int) -> tuple[list[Row], list[Claim]]:
    """*count* rows in `COLUMNS` order, the first *due* due; and their claims.

    Row *i* is anchored ten intervals and *i* µs before `NOW`, so its current
    window started at ``NOW - i`` µs (every row's differs). A due row last
    claimed the window before (due, not a catch-up); the others the current
    one. Both were recorded as succeeded, with no lease held.
    """
    rows: list[Row] = []
    claims = []
    for i in range(count):
        interval = INTERVALS[i % len(INTERVALS)]
        interval_us = SECONDS[interval[-1]] * int(interval[:-1]) * 1_000_000
        current = NOW_US - i
        window = current - interval_us if i < due else current
        rows.append(
            (
                f"id{i:07}",
                f"trigger-{i:07}",
                interval,
                True,
                micros_timestamp(window),
                current - 10 * interval_us,
                window,
                1,
                "bench",
                None,
                "succeeded",
                1,
                0,
                None,
                None,
            )
        )
        if i < due:
            claims.append(Claim(f"id{i:07}", current, current))
    return rows, claims


def fill_sqlite(path: Path, rows: list[Row]) -> None:
    """Bulk-load rows into a file whose schema the store created."""
    marks = ", ".join("?" * len(COLUMNS))
    with sqlite3.connect(path) as connection:
        connection.execute("DELETE FROM tickwork_triggers")
        connection.executemany(
            f"INSERT INTO tickwork_triggers ({', '.join(COLUMNS)}) VALUES ({marks})",  # noqa: S608 - constants
            rows,
        )
    connection.close()


def fill_postgres(dsn: str, rows: list[Row]) -> None:
    """Bulk-load rows with COPY into tables the store created."""
    import psycopg  # noqa: PLC0415 - only when PostgreSQL is measured

    with psycopg.connect(dsn) as connection:
        connection.execute("TRUNCATE tickwork_triggers")
        with connection.cursor().copy(
            f"COPY tickwork_triggers ({', '.join(COLUMNS)}) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
        connection.execute("ANALYZE tickwork_triggers")


def check(condition: bool, message: object) -> None:  # noqa: FBT001
    """Stop the benchmark if what it measured is not what it meant to."""
    if not condition:
        raise RuntimeError(message)


class Timed:
    """Wraps a store to time its listing, claims and outcomes inside a sweep."""

    def __init__(self, store: TriggerStore) -> None:
        """Wrap *store*."""
        self.store = store
        self.listing = self.claiming = self.recording = 0.0
        self.claim_calls = self.finish_calls = self.recorded = 0

    async def enabled(self) -> Sequence[TriggerRow]:
        """Time the listing."""
        start = time.perf_counter()
        rows = await self.store.enabled()
        self.listing += time.perf_counter() - start
        return rows

    async def claim_windows(
        self, kind: Kind, claims: Sequence[Claim], *, lease: float, holder: str
    ) -> Sequence[Claimed]:
        """Time the claims."""
        start = time.perf_counter()
        answers = await self.store.claim_windows(
            kind, claims, lease=lease, holder=holder
        )
        self.claiming += time.perf_counter() - start
        self.claim_calls += 1
        return answers

    async def finish_windows(
        self, kind: Kind, outcomes: Sequence[tuple[str, int, str]]
    ) -> Sequence[bool]:
        """Time the outcomes."""
        start = time.perf_counter()
        done = await self.store.finish_windows(kind, outcomes)
        self.recording += time.perf_counter() - start
        self.finish_calls += 1
        self.recorded += sum(done)
        return done

    async def renew_leases(
        self, kind: Kind, leases: Sequence[tuple[str, int]], *, lease: float
    ) -> Sequence[bool]:
        """Pass through (a no-op dispatch never holds a lease long enough)."""
        return await self.store.renew_leases(kind, leases, lease=lease)


async def measure(
    store: TriggerStore,
    reload: Callable[[], None],
    claims: list[Claim],
    count: int,
    repeat: int,
) -> dict[str, Any]:
    """Sweep times and claim rates for one store, medians over *repeat* runs."""
    due = len(claims)
    runs: list[dict[str, float]] = []
    for attempt in range(repeat):
        await store.all()  # creates the schema
        reload()
        fired = 0

        async def dispatch(_row: TriggerRow) -> None:
            nonlocal fired
            fired += 1

        timed = Timed(store)
        sweeper = TriggerSweeper(
            timed,  # type: ignore[arg-type]
            dispatch,
            clock=lambda: NOW,
            lease=LEASE,
            replica="bench",
        )
        start = time.perf_counter()
        report = await sweeper.sweep()
        total = time.perf_counter() - start
        check(len(report.fired) == due == fired, (len(report.fired), fired))
        check(len(report.not_due) == count - due, len(report.not_due))
        check(timed.recorded == due, ("recorded", timed.recorded))
        listing, claiming, recording = timed.listing, timed.claiming, timed.recording
        start = time.perf_counter()
        idle = await sweeper.sweep()
        steady = time.perf_counter() - start
        check(idle.fired == () and len(idle.not_due) == count, idle.fired)
        # One claim_windows call per window, as an unbatched sweeper would.
        reload()
        start = time.perf_counter()
        for want in claims:
            (answer,) = await store.claim_windows(
                "trigger", [want], lease=LEASE, holder="bench"
            )
            check(answer.status == WON, answer)
        single = time.perf_counter() - start
        runs.append(
            {
                "sweep_s": total,
                "listing_s": listing,
                "claiming_s": claiming,
                "recording_s": recording,
                "deciding_s": total - listing - claiming - recording,
                "claim_calls": timed.claim_calls,
                "finish_calls": timed.finish_calls,
                "idle_sweep_s": steady,
                "batched_claims_per_s": due / claiming,
                "single_claims_per_s": due / single,
            }
        )
        progress(f"run {attempt + 1}/{repeat}: sweep {total * 1000:.0f} ms")
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


async def bench_sqlite(count: int, due: int, repeat: int) -> dict[str, Any]:
    """SQLite in a temporary file on the working disk, on the benchmark's clock."""
    rows, claims = make_rows(count, due)
    with tempfile.TemporaryDirectory(prefix="tickwork-bench-") as folder:
        path = Path(folder) / "triggers.db"
        async with SQLiteTriggerStore(path, clock=NOW.timestamp) as store:
            return await measure(
                store, lambda: fill_sqlite(path, rows), claims, count, repeat
            )


async def bench_postgres(dsn: str, count: int, due: int, repeat: int) -> dict[str, Any]:
    """PostgreSQL on a local throwaway server (its clock is past `NOW`)."""
    rows, claims = make_rows(count, due)
    async with PostgresTriggerStore(dsn) as store:
        return await measure(
            store, lambda: fill_postgres(dsn, rows), claims, count, repeat
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
            f"{r['recording_s'] * 1000:.0f} ({r['finish_calls']:.0f} calls)",
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
            "record ms",
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
