"""Coordinated loops in real time: 1 000 loops on 4 replicas sharing one store.

Four `Scheduler` replicas in one process share one store (a
`MemoryTriggerStore`, or with ``--store sqlite`` one SQLite file that each
replica opens with its own `SQLiteTriggerStore`, as separate processes
would). Each runs the same 1 000 ``coordinated=True`` loops (1 s, jitter
0.1, an empty body), so every window is claimed by all four and run by one.
The comparisons are the same loops coordinated on one replica (what one
process of a real deployment pays: here the four replicas' CPU adds up in
one process, and their runs all fall in the same jitter band) and the same
1 000 loops, uncoordinated, in one `Scheduler`.

Over the measured seconds (after a warm-up that lets the first windows
pass), it reports windows run per second (all replicas together) against
the loops' rate, duplicates (a loop's window run twice: must be 0),
lateness p50/p99 (the ``on_run_started`` hook's, wall clock minus the fire
instant, so a coordinated run's includes its claim), CPU time per window,
and store round trips per window (calls counted on a thin wrapper: one
``claim_windows`` per batch of claims, one ``finish_windows`` per batch of
outcomes, lease renewals).

Run: ``python benchmarks/coordinated.py [--seconds N] [--loops N]
[--replicas N] [--store memory|sqlite]``. Writes
``benchmarks/results/coordinated.json``.
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from _common import percentile, print_table, progress, write_results
from tickwork import Loop, Scheduler, current_run
from tickwork.triggers import MemoryTriggerStore, SQLiteTriggerStore

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from tickwork._lease import Claim, Claimed
    from tickwork.triggers import TriggerRow, TriggerStore
    from tickwork.triggers._store import Kind

LEASE = 30.0
# Loops anchor at start (uncoordinated) or wait for their next window
# (coordinated, run_on_start=False): after this, every loop is in its rhythm.
WARM_UP = 1.5
# After the measured seconds, runs due in them may still start (late).
DRAIN = 2.0


class Calls:
    """Store calls by method, summed over the replicas' wrappers."""

    def __init__(self) -> None:
        """Start at zero."""
        self.claims = self.finishes = self.renewals = 0
        self.claimed = 0  # windows sent in claims

    def snapshot(self) -> tuple[int, int, int, int]:
        """The counters now."""
        return (self.claims, self.finishes, self.renewals, self.claimed)


class Counted:
    """A thin wrapper that counts a store's window calls: its round trips."""

    def __init__(self, store: TriggerStore, calls: Calls) -> None:
        """Count *store*'s calls in *calls*."""
        self.store = store
        self.calls = calls

    async def enabled(self) -> Sequence[TriggerRow]:
        """Pass through (a store must list; the scheduler never does)."""
        return await self.store.enabled()

    async def claim_windows(
        self, kind: Kind, claims: Sequence[Claim], *, lease: float, holder: str
    ) -> Sequence[Claimed]:
        """Count one claim round trip."""
        self.calls.claims += 1
        self.calls.claimed += len(claims)
        return await self.store.claim_windows(kind, claims, lease=lease, holder=holder)

    async def finish_windows(
        self, kind: Kind, outcomes: Sequence[tuple[str, int, str]]
    ) -> Sequence[bool]:
        """Count one outcome round trip."""
        self.calls.finishes += 1
        return await self.store.finish_windows(kind, outcomes)

    async def renew_leases(
        self, kind: Kind, leases: Sequence[tuple[str, int]], *, lease: float
    ) -> Sequence[bool]:
        """Count one renewal round trip."""
        self.calls.renewals += 1
        return await self.store.renew_leases(kind, leases, lease=lease)

    async def aclose(self) -> None:
        """Close the wrapped store."""
        await self.store.aclose()


class Runs:
    """What every run saw through `current_run`: its window, fire instant, lateness."""

    def __init__(self, clock: Callable[[], float]) -> None:
        """Runs timed on *clock*: the wall clock, or Trio's for in-process loops."""
        self.clock = clock
        self.scheduled: list[float] = []
        self.lateness: list[float] = []
        self.windows: collections.Counter[tuple[str, object]] = collections.Counter()

    async def body(self) -> None:
        """The loops' body: record this run, do nothing else."""
        run = current_run()
        when = run.scheduled
        self.scheduled.append(when if isinstance(when, float) else when.timestamp())
        self.lateness.append(run.lateness)
        self.windows[run.name, run.window] += 1


def stores(kind: str, replicas: int, folder: Path) -> list[TriggerStore]:
    """One shared memory store, or one SQLite store per replica on one file."""
    if kind == "memory":
        shared = MemoryTriggerStore(clock=time.time)
        return [shared] * replicas
    path = folder / "coordinated.db"
    return [SQLiteTriggerStore(path, clock=time.time) for _ in range(replicas)]


async def measure(
    schedulers: list[Scheduler],
    runs: Runs,
    args: argparse.Namespace,
    calls: Calls | None = None,
) -> dict[str, Any]:
    """Run *schedulers* through the warm-up, the measured seconds and a drain.

    Windows and lateness are those of the runs whose fire instant falls in
    the measured seconds (the drain lets late ones start); CPU time is that
    of the measured seconds, per run started in them.
    """
    calls = calls or Calls()
    async with trio.open_nursery() as nursery:
        for scheduler in schedulers:
            await nursery.start(scheduler.run)
        await trio.sleep(WARM_UP)
        start, first = runs.clock(), len(runs.scheduled)
        before, cpu = calls.snapshot(), time.process_time()
        await trio.sleep(args.seconds)
        cpu = time.process_time() - cpu
        end, last, after = runs.clock(), len(runs.scheduled), calls.snapshot()
        await trio.sleep(DRAIN)
        for scheduler in schedulers:
            scheduler.stop()
    lateness = sorted(
        late
        for when, late in zip(runs.scheduled, runs.lateness, strict=True)
        if start <= when < end
    )
    started = max(last - first, 1)
    claims, finishes, renewals, claimed = (
        b - a for a, b in zip(before, after, strict=True)
    )
    stats = [s for scheduler in schedulers for s in scheduler.stats().values()]
    return {
        "windows": len(lateness),
        "windows_per_s": len(lateness) / args.seconds,
        "due_per_s": args.loops / args.interval,
        "p50_ms": percentile(lateness, 0.5) * 1e3,
        "p99_ms": percentile(lateness, 0.99) * 1e3,
        "max_ms": lateness[-1] * 1e3 if lateness else float("nan"),
        "cpu_s": cpu,
        "runs_started": started,
        "cpu_us_per_window": cpu / started * 1e6,
        "duplicates": sum(1 for count in runs.windows.values() if count > 1),
        "claim_calls": claims,
        "finish_calls": finishes,
        "renew_calls": renewals,
        "claims_per_call": claimed / max(claims, 1),
        "round_trips_per_window": (claims + finishes + renewals) / started,
        "claims_lost": sum(s.claims_lost for s in stats),
        "skipped": sum(s.skipped for s in stats),
        "fenced": sum(s.fenced for s in stats),
        "lost": sum(s.lost for s in stats),
    }


def make_loops(
    args: argparse.Namespace, runs: Runs, *, coordinated: bool
) -> list[Loop]:
    """The benchmark's loops: the first run one window after start."""
    return [
        Loop(
            name=f"loop-{i:05}",
            fn=runs.body,
            interval=args.interval,
            jitter=args.jitter,
            run_on_start=False,
            coordinated=coordinated,
        )
        for i in range(args.loops)
    ]


async def run_coordinated(args: argparse.Namespace, replicas: int) -> dict[str, Any]:
    """The loops on *replicas* schedulers sharing one store."""
    calls = Calls()
    runs = Runs(time.time)
    loops = make_loops(args, runs, coordinated=True)
    with tempfile.TemporaryDirectory(prefix="tickwork-bench-") as folder:
        wrapped = [
            Counted(s, calls) for s in stores(args.store, replicas, Path(folder))
        ]
        schedulers = [
            Scheduler(
                loops,
                store=store,  # type: ignore[arg-type]
                lease=LEASE,
                wall_clock=time.time,
                replica=f"replica-{k}",
            )
            for k, store in enumerate(wrapped)
        ]
        try:
            return await measure(schedulers, runs, args, calls)
        finally:
            for store in {id(s.store): s.store for s in wrapped}.values():
                await store.aclose()


async def run_uncoordinated(args: argparse.Namespace) -> dict[str, Any]:
    """The same loops, uncoordinated, in one scheduler."""
    runs = Runs(trio.current_time)
    scheduler = Scheduler(make_loops(args, runs, coordinated=False))
    result = await measure([scheduler], runs, args)
    for key in ("claim_calls", "finish_calls", "renew_calls", "claims_per_call"):
        del result[key]
    del result["round_trips_per_window"]
    return result


def main() -> None:
    """Measure both, print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=1_000)
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--jitter", type=float, default=0.1)
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="measured seconds per variant"
    )
    parser.add_argument("--store", choices=("memory", "sqlite"), default="memory")
    args = parser.parse_args()
    variants: dict[str, dict[str, Any]] = {}
    for replicas in dict.fromkeys((args.replicas, 1)):
        progress(
            f"coordinated: {args.loops} loops x {replicas} replica(s) "
            f"({args.store} store), {args.seconds:g} s"
        )
        name = f"coordinated, {replicas} replica(s) ({args.store})"
        variants[name] = trio.run(run_coordinated, args, replicas)
        if variants[name]["duplicates"]:
            progress(f"DUPLICATES: {variants[name]['duplicates']} window(s) ran twice")
    progress(f"uncoordinated: {args.loops} loops, {args.seconds:g} s")
    variants["uncoordinated, 1 scheduler"] = trio.run(run_uncoordinated, args)
    print_table(
        f"{args.loops:,} loops at {args.interval:g} s, jitter {args.jitter:g}, "
        f"{args.seconds:g} s measured (replicas share one process)",
        [
            "variant",
            "windows/s (run / due)",
            "duplicates",
            "lateness p50 ms",
            "p99 ms",
            "CPU µs/window",
            "store round trips/window",
            "claims per claim call",
        ],
        [
            [
                name,
                f"{r['windows_per_s']:,.0f} / {r['due_per_s']:,.0f}",
                str(r["duplicates"]),
                f"{r['p50_ms']:.2f}",
                f"{r['p99_ms']:.2f}",
                f"{r['cpu_us_per_window']:.0f}",
                f"{r['round_trips_per_window']:.2f}"
                if "round_trips_per_window" in r
                else "-",
                f"{r['claims_per_call']:.1f}" if "claims_per_call" in r else "-",
            ]
            for name, r in variants.items()
        ],
    )
    write_results(
        "coordinated",
        {
            "loops": args.loops,
            "replicas": args.replicas,
            "interval": args.interval,
            "jitter": args.jitter,
            "seconds": args.seconds,
            "store": args.store,
            "lease": LEASE,
            "variants": variants,
        },
    )


if __name__ == "__main__":
    main()
