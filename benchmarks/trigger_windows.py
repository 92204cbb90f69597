"""Trigger windows on PostgreSQL: 4 sweeper processes claiming, dispatching, recording.

20 000 triggers with interval ``1s`` (so 20 000 windows are due each
second) in one PostgreSQL database: a throwaway local server with fsync on
(``tests/pgserver.py``), or ``--dsn``. Four processes (separate processes,
since psycopg runs in worker threads under one GIL per process) each run a
`TriggerSweeper` (``min_interval=1``) as a `Scheduler` loop with a no-op
dispatch; they start together and run for the measured seconds after a
warm-up. Anchors are spread over the second (``--aligned``: all windows
start at once).

Reported, for the processes together over the measured seconds: windows
claimed, dispatched and recorded per second against the windows due;
duplicates (a trigger's window dispatched twice, over the whole run: must
be 0), checked against the fencing tokens in the database; claims lost to
another process; sweeps and listing time; claims per ``claim_windows``
call and outcomes per ``finish_windows`` call; SQL statements per window
call (from ``pg_stat_statements`` on the throwaway server); CPU time per
window in the sweepers and in the server.

Run: ``python benchmarks/trigger_windows.py [--seconds N] [--triggers N]
[--processes N] [--tick S] [--max-concurrent N] [--dsn DSN]``. Writes
``benchmarks/results/trigger_windows.json``.
"""

from __future__ import annotations

import argparse
import collections
import logging
import multiprocessing
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from _common import print_table, progress, write_results
from tickwork import Scheduler, current_run
from tickwork.triggers import PostgresTriggerStore, TriggerSweeper
from tickwork.triggers._model import datetime_micros

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime
    from multiprocessing.sharedctypes import Synchronized
    from multiprocessing.synchronize import Barrier

    from tickwork._lease import Claim, Claimed
    from tickwork.triggers import TriggerRow
    from tickwork.triggers._store import Kind

LEASE = 30.0
DRAIN = 2.0
"""Seconds after the measured ones before the sweepers stop."""
COLUMNS = (
    "id, name, interval, enabled, last_fired_at, anchor_us, window_us, token, "
    "holder, lease_until_us, outcome, attempt, lost"
)
# What each window call of the store sends, by the text it starts with.
STATEMENTS = {
    "begin": "BEGIN",
    "lock": "SELECT n.now_us",
    "write": "UPDATE tickwork_triggers AS t",
    "commit": "COMMIT",
}


class Counted:
    """A sweeper's store, counting and timing its calls."""

    def __init__(self, store: PostgresTriggerStore) -> None:
        """Wrap *store*."""
        self.store = store
        self.sweeps = self.claim_calls = self.finish_calls = self.renew_calls = 0
        self.claims = self.won = self.outcomes = self.recorded = 0
        self.listing = self.claiming = self.finishing = 0.0

    def snapshot(self) -> dict[str, float]:
        """The counters now."""
        return {
            key: value
            for key, value in vars(self).items()
            if isinstance(value, (int, float))
        }

    async def enabled(self) -> Sequence[TriggerRow]:
        """Count and time one listing: one sweep."""
        start = time.perf_counter()
        rows = await self.store.enabled()
        self.listing += time.perf_counter() - start
        self.sweeps += 1
        return rows

    async def claim_windows(
        self, kind: Kind, claims: Sequence[Claim], *, lease: float, holder: str
    ) -> Sequence[Claimed]:
        """Count and time one batch of claims."""
        start = time.perf_counter()
        answers = await self.store.claim_windows(
            kind, claims, lease=lease, holder=holder
        )
        self.claiming += time.perf_counter() - start
        self.claim_calls += 1
        self.claims += len(claims)
        self.won += sum(answer.won for answer in answers)
        return answers

    async def finish_windows(
        self, kind: Kind, outcomes: Sequence[tuple[str, int, str]]
    ) -> Sequence[bool]:
        """Count and time one batch of outcomes."""
        start = time.perf_counter()
        done = await self.store.finish_windows(kind, outcomes)
        self.finishing += time.perf_counter() - start
        self.finish_calls += 1
        self.outcomes += len(outcomes)
        self.recorded += sum(done)
        return done

    async def renew_leases(
        self, kind: Kind, leases: Sequence[tuple[str, int]], *, lease: float
    ) -> Sequence[bool]:
        """Count one batch of renewals (a no-op dispatch never needs one)."""
        self.renew_calls += 1
        return await self.store.renew_leases(kind, leases, lease=lease)


# --- one replica process ---------------------------------------------------------


class Warnings(logging.Handler):
    """Counts the sweepers' warnings by message, instead of printing each."""

    def __init__(self) -> None:
        """Start at zero."""
        super().__init__(logging.WARNING)
        self.counts: collections.Counter[str] = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        """Count *record* under its constant message."""
        self.counts[record.msg if isinstance(record.msg, str) else "?"] += 1


def replica_process(
    config: dict[str, Any],
    index: int,
    barrier: Barrier,
    start_at: Synchronized[float],
    out: str,
) -> None:
    """One sweeper process: wait for the others, sweep, write what it did to *out*."""
    warnings = Warnings()
    logger = logging.getLogger("tickwork")
    logger.addHandler(warnings)
    logger.propagate = False
    result = trio.run(_replica, config, index, barrier, start_at)
    result["warnings"] = dict(warnings.counts)
    Path(out).write_bytes(pickle.dumps(result))


async def _sleep_until_wall(instant: float) -> None:
    await trio.sleep(max(0.0, instant - time.time()))


async def _sweep_each_tick(
    sweeper: TriggerSweeper, tick: float, stop: trio.Event
) -> None:
    """Mode "sweep": `TriggerSweeper.sweep` every *tick* until *stop*.

    A sweep waits for its dispatches (the same crew of workers, bounded by
    ``max_concurrent``, with outcomes recorded up to 500 per call, as in the
    `Scheduler` loop, which hands them to the background instead). The
    sweep in progress at *stop* ends normally.
    """
    deadline = trio.current_time()
    while not stop.is_set():
        await sweeper.sweep()
        deadline = max(deadline + tick, trio.current_time())
        with trio.move_on_at(deadline):
            await stop.wait()


async def _replica(
    config: dict[str, Any],
    index: int,
    barrier: Barrier,
    start_at: Synchronized[float],
) -> dict[str, Any]:
    store = Counted(
        PostgresTriggerStore(config["dsn"], max_connections=config["connections"])
    )
    seen: list[tuple[str, datetime]] = []

    async def dispatch(row: TriggerRow) -> None:
        seen.append((row.id, current_run().window))  # type: ignore[arg-type]

    sweeper = TriggerSweeper(
        store,  # type: ignore[arg-type]
        dispatch,
        tick_interval=config["tick"],
        min_interval=1,
        max_concurrent=config["max_concurrent"],
        lease=LEASE,
        replica=f"replica-{index}",
    )
    await store.store.enabled()  # opens the pool and checks the schema
    await trio.to_thread.run_sync(barrier.wait)  # all ready: the parent resets
    await trio.to_thread.run_sync(barrier.wait)  # and sets start_at: go
    begin = start_at.value
    measured_from = begin + config["warm_up"]
    measured_to = measured_from + config["seconds"]
    await _sleep_until_wall(begin)
    scheduler = Scheduler([sweeper.loop()])
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        if config["mode"] == "loop":
            await nursery.start(scheduler.run)
        else:
            nursery.start_soon(_sweep_each_tick, sweeper, config["tick"], stop)
        await _sleep_until_wall(measured_from)
        before, dispatched, cpu = store.snapshot(), len(seen), time.process_time()
        await _sleep_until_wall(measured_to)
        after, cpu = store.snapshot(), time.process_time() - cpu
        dispatched = len(seen) - dispatched
        await trio.sleep(DRAIN)
        scheduler.stop()
        stop.set()
    await store.store.aclose()
    counts = {key: after[key] - before[key] for key in after}
    return {
        "counts": counts,
        "counts_all": store.snapshot(),
        "dispatched": dispatched,
        "cpu_s": cpu,
        "claims_lost": sweeper.claims_lost,
        "skipped": sweeper.skipped,
        "fenced": sweeper.fenced,
        "lost": sweeper.lost,
        "windows": [(key, datetime_micros(window)) for key, window in seen],
    }


# --- the parent: the server, the rows, the processes, the sums ----------------------


def fill(dsn: str, count: int, interval_us: int, *, aligned: bool) -> None:
    """*count* triggers that never fired, anchored a minute ago."""
    import psycopg  # noqa: PLC0415 - psycopg is the bench group's

    with psycopg.connect(dsn, autocommit=True) as connection:
        ((now_us,),) = connection.execute(
            "SELECT (extract(epoch FROM now()) * 1000000)::bigint"
        ).fetchall()
        base = (now_us // 1_000_000 - 60) * 1_000_000
        connection.execute("TRUNCATE tickwork_triggers")
        with connection.cursor().copy(
            f"COPY tickwork_triggers ({COLUMNS}) FROM STDIN"
        ) as copy:
            for i in range(count):
                offset = 0 if aligned else i * interval_us // count
                key = (f"t{i:07}", f"trigger-{i:07}", "1s", True, None)
                copy.write_row((*key, base + offset, None, 0, None, None, None, 0, 0))
        connection.execute("VACUUM ANALYZE tickwork_triggers")


def enable_statement_stats(server: Any) -> None:  # noqa: ANN401 - tests.pgserver's
    """Load pg_stat_statements into the throwaway server (one restart)."""
    import psycopg  # noqa: PLC0415

    with psycopg.connect(server.dsn, autocommit=True) as connection:
        connection.execute(
            "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
        )
    server.stop()
    server.start()
    with psycopg.connect(server.dsn, autocommit=True) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")


def statement_counts(dsn: str, *, reset: bool = False) -> dict[str, int] | None:
    """Calls of each window statement since the last reset (None: no extension).

    With *reset*, reset the counts instead.
    """
    import psycopg  # noqa: PLC0415

    with psycopg.connect(dsn, autocommit=True) as connection:
        try:
            if reset:
                connection.execute("SELECT pg_stat_statements_reset()")
                return None
            rows = connection.execute(
                "SELECT query, calls FROM pg_stat_statements"
            ).fetchall()
        except psycopg.Error:
            return None
    counts = dict.fromkeys(STATEMENTS, 0)
    for query, calls in rows:
        for name, start in STATEMENTS.items():
            if query.lstrip().startswith(start):
                counts[name] += calls
    return counts


def server_cpu(data: Path | None) -> float | None:
    """CPU seconds used so far by the server whose data directory is *data*.

    The postmaster and its children, read from /proc (Linux); None if that
    cannot be read. Backends that exited are not counted.
    """
    if data is None:
        return None
    try:
        root = int((data / "postmaster.pid").read_text().split()[0])
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(entry.name) == root or int(fields[1]) == root:
                total += int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return None
    return total / tick


def database_totals(dsn: str) -> dict[str, int]:
    """Claims won (the tokens) and windows left without an outcome."""
    import psycopg  # noqa: PLC0415

    with psycopg.connect(dsn, autocommit=True) as connection:
        ((tokens, open_windows, lost),) = connection.execute(
            "SELECT coalesce(sum(token), 0), "
            "count(*) FILTER (WHERE token > 0 AND outcome IS NULL), "
            "coalesce(sum(lost), 0) FROM tickwork_triggers"
        ).fetchall()
    return {
        "tokens": int(tokens),
        "without_outcome": int(open_windows),
        "lost": int(lost),
    }


async def create_schema(dsn: str) -> None:
    """Let the store create (or check) its tables."""
    async with PostgresTriggerStore(dsn) as store:
        await store.all()


def run(
    args: argparse.Namespace, mode: str, dsn: str, data: Path | None
) -> dict[str, Any]:
    """Fill the table, run the processes in *mode*, add up what they did."""
    interval_us = 1_000_000
    trio.run(create_schema, dsn)
    fill(dsn, args.triggers, interval_us, aligned=args.aligned)
    config = {
        "dsn": dsn,
        "tick": args.tick,
        "max_concurrent": args.max_concurrent if mode == "loop" else args.workers,
        "connections": args.connections,
        "warm_up": args.warm_up,
        "seconds": args.seconds,
        "mode": mode,
    }
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(args.processes + 1)
    start_at = context.Value("d", 0.0)
    with tempfile.TemporaryDirectory(prefix="tickwork-bench-") as folder:
        outs = [
            str(Path(folder) / f"replica-{k}.pickle") for k in range(args.processes)
        ]
        workers = [
            context.Process(
                target=replica_process,
                args=(config, k, barrier, start_at, outs[k]),
                name=f"replica-{k}",
            )
            for k in range(args.processes)
        ]
        for worker in workers:
            worker.start()
        barrier.wait(timeout=120)  # every process has its pool open
        statement_counts(dsn, reset=True)
        start_at.value = time.time() + 0.5
        barrier.wait(timeout=10)
        time.sleep(max(0.0, start_at.value + args.warm_up - time.time()))
        cpu_from = server_cpu(data)
        time.sleep(max(0.0, start_at.value + args.warm_up + args.seconds - time.time()))
        cpu_measured = server_cpu(data)
        for worker in workers:
            worker.join(timeout=args.seconds + 120)
            if worker.exitcode != 0:
                msg = f"{worker.name} ended with exit code {worker.exitcode}"
                raise RuntimeError(msg)
        results = [pickle.loads(Path(out).read_bytes()) for out in outs]  # noqa: S301 - our own files
    statements = statement_counts(dsn)
    return summarise(
        args,
        results,
        statements,
        database_totals(dsn),
        None if cpu_from is None or cpu_measured is None else cpu_measured - cpu_from,
    )


def summarise(
    args: argparse.Namespace,
    results: list[dict[str, Any]],
    statements: dict[str, int] | None,
    database: dict[str, int],
    server_cpu_s: float | None,
) -> dict[str, Any]:
    """The processes' counts added up, the duplicates found."""
    total: dict[str, float] = {}
    for result in results:
        for key, value in result["counts"].items():
            total[key] = total.get(key, 0) + value
    windows: dict[tuple[str, int], int] = {}
    for result in results:
        for key in result["windows"]:
            windows[key] = windows.get(key, 0) + 1
    dispatched_all = sum(len(result["windows"]) for result in results)
    warnings: collections.Counter[str] = collections.Counter()
    for result in results:
        warnings.update(result["warnings"])
    recorded = total["recorded"]
    seconds = args.seconds
    worker_cpu = sum(result["cpu_s"] for result in results)
    # Statements are counted over the whole run, and so are the window
    # calls (claims, renewals, outcomes) they served.
    per_call = None
    if statements is not None:
        calls = sum(
            result["counts_all"][key]
            for result in results
            for key in ("claim_calls", "finish_calls", "renew_calls")
        )
        per_call = {k: v / max(calls, 1) for k, v in statements.items()}
    return {
        "windows_due_per_s": args.triggers,
        "windows_per_s": recorded / seconds,
        "dispatched_per_s": sum(r["dispatched"] for r in results) / seconds,
        "duplicates": sum(1 for count in windows.values() if count > 1),
        "dispatched_total": dispatched_all,
        "claims_won_in_store": database["tokens"],
        "without_outcome": database["without_outcome"],
        "lost_in_store": database["lost"],
        "claims_lost_per_s": (total["claims"] - total["won"]) / seconds,
        "sweeps_per_s": total["sweeps"] / seconds,
        "listing_ms_per_sweep": total["listing"] / max(total["sweeps"], 1) * 1e3,
        "claim_ms_per_call": total["claiming"] / max(total["claim_calls"], 1) * 1e3,
        "finish_ms_per_call": total["finishing"] / max(total["finish_calls"], 1) * 1e3,
        "claims_per_claim_call": total["claims"] / max(total["claim_calls"], 1),
        "outcomes_per_finish_call": total["outcomes"] / max(total["finish_calls"], 1),
        "window_calls_per_s": (
            total["claim_calls"] + total["finish_calls"] + total["renew_calls"]
        )
        / seconds,
        "statements": statements,
        "statements_per_window_call": per_call,
        "worker_cpu_us_per_window": worker_cpu / max(recorded, 1) * 1e6,
        "server_cpu_us_per_window": (
            None if server_cpu_s is None else server_cpu_s / max(recorded, 1) * 1e6
        ),
        "catch_ups": sum(n for msg, n in warnings.items() if "catch-up" in msg),
        "warnings": dict(warnings),
        "per_process": [
            {k: v for k, v in r.items() if k != "windows"} for r in results
        ],
        "totals": total,
    }


MODES = {
    "loop": "Scheduler loop",
    "sweep": "sweep() each tick",
}


def main() -> None:
    """Start the server (or use --dsn), measure each mode, print, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triggers", type=int, default=20_000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument(
        "--seconds", type=float, default=15.0, help="measured seconds per mode"
    )
    parser.add_argument("--warm-up", type=float, default=3.0)
    parser.add_argument("--tick", type=float, default=0.5, help="tick_interval")
    parser.add_argument(
        "--max-concurrent",
        type=int,
        default=20_000,
        help="loop mode: claims no more than this many windows in flight",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=500,
        help="sweep mode's max_concurrent: at most this many dispatches at once",
    )
    parser.add_argument(
        "--connections", type=int, default=4, help="each store's pool size"
    )
    parser.add_argument(
        "--aligned", action="store_true", help="every window starts at once"
    )
    parser.add_argument(
        "--mode",
        choices=(*MODES, "both"),
        default="both",
        help="loop: TriggerSweeper.loop() in a Scheduler (one background task "
        "per window); sweep: sweep() each tick (a few dispatch workers)",
    )
    parser.add_argument("--dsn", help="an existing database (default: a throwaway)")
    args = parser.parse_args()
    modes = list(MODES) if args.mode == "both" else [args.mode]
    server = None
    if args.dsn is None:
        # The tests' throwaway-server helper; the repository root holds `tests`.
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.pgserver import PostgresServer  # noqa: PLC0415

        server = PostgresServer(durable=True)
    results: dict[str, dict[str, Any]] = {}
    try:
        if server is not None:
            server.start()
            enable_statement_stats(server)
            progress(f"PostgreSQL {server.version()} (throwaway, fsync on)")
        dsn = args.dsn or server.dsn  # type: ignore[union-attr]
        for mode in modes:
            progress(
                f"{mode} mode: {args.triggers} triggers at 1s, {args.processes} "
                f"processes, {args.warm_up:g} s warm-up + {args.seconds:g} s"
            )
            results[mode] = run(args, mode, dsn, server and server.data)
    finally:
        if server is not None:
            server.destroy()
    report(args, results)


def report(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> None:
    """Print the tables and write the JSON."""
    print_table(
        f"Trigger windows on PostgreSQL: {args.triggers:,} triggers at 1 s, "
        f"{args.processes} sweeper processes, {args.seconds:g} s "
        f"(tick_interval {args.tick:g} s, max_concurrent {args.max_concurrent:,} "
        f"in loop mode and {args.workers:,} in sweep mode, {args.connections} "
        "connections each; goal: >= 20 000 windows/s)",
        [
            "mode",
            "windows/s (recorded / due)",
            "duplicates",
            "claims lost/s",
            "sweeps/s",
            "list ms/sweep",
            "claims/claim call",
            "claim ms/call",
            "outcomes/finish call",
            "finish ms/call",
            "SQL statements/call",
            "sweeper CPU µs/window",
            "server CPU µs/window",
        ],
        [
            [
                MODES[mode],
                f"{r['windows_per_s']:,.0f} / {r['windows_due_per_s']:,.0f}",
                str(r["duplicates"]),
                f"{r['claims_lost_per_s']:,.0f}",
                f"{r['sweeps_per_s']:.1f}",
                f"{r['listing_ms_per_sweep']:.0f}",
                f"{r['claims_per_claim_call']:.0f}",
                f"{r['claim_ms_per_call']:.0f}",
                f"{r['outcomes_per_finish_call']:.0f}",
                f"{r['finish_ms_per_call']:.0f}",
                "-"
                if r["statements_per_window_call"] is None
                else f"{sum(r['statements_per_window_call'].values()):.2f}",
                f"{r['worker_cpu_us_per_window']:.0f}",
                "-"
                if r["server_cpu_us_per_window"] is None
                else f"{r['server_cpu_us_per_window']:.0f}",
            ]
            for mode, r in results.items()
        ],
    )
    for mode, r in results.items():
        per_call = r["statements_per_window_call"]
        statements = (
            ""
            if per_call is None
            else " SQL statements per window call (one transaction, pipelined: "
            "two round trips): "
            + ", ".join(f"{k} {v:.2f}" for k, v in per_call.items())
            + ";"
        )
        print(
            f"\n{MODES[mode]}:{statements} catch-ups (fired > 2 intervals late) "
            f"{r['catch_ups']:,}; dispatched {r['dispatched_total']:,} and claims "
            f"won in the store (sum of tokens) {r['claims_won_in_store']:,}, "
            f"windows left without an outcome {r['without_outcome']:,} "
            "(whole run)."
        )
    write_results(
        "trigger_windows",
        {
            "triggers": args.triggers,
            "processes": args.processes,
            "seconds": args.seconds,
            "warm_up": args.warm_up,
            "tick_interval": args.tick,
            "max_concurrent": args.max_concurrent,
            "sweep_workers": args.workers,
            "connections": args.connections,
            "aligned": args.aligned,
            "lease": LEASE,
            "modes": results,
        },
    )


if __name__ == "__main__":
    main()
