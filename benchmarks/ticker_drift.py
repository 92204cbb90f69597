"""Tick lateness and drift: TickSchedule vs a naive sleep loop vs the raw floor.

N tasks (1, 100, 1 000) tick in the same phase for a fixed number of ticks,
in real time. Each variant runs on its own in a fresh `trio.run`:

- ``floor``: the raw-Trio floor, ``deadline += interval; sleep_until(deadline)``;
- ``tickwork j=0`` / ``tickwork j=0.1``: `TickSchedule.instants` with
  ``sleep_until`` (jitter 0 and the default 0.1);
- ``naive sleep``: ``await trio.sleep(interval)``, which drifts by the
  wake-up latency of every tick.

The floor and the naive loop are ``benchmarks/_variants.py``'s.

Lateness is the wake-up time minus the instant the task meant to wake at (for
the naive loop: its grid point). Drift is the lateness of the last tick minus
that of the first, averaged over tasks. Writes
``benchmarks/results/ticker_drift.json``.

Usage: ``python benchmarks/ticker_drift.py [--interval S] [--ticks K] [--tasks 1,100]``
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Awaitable, Callable

import trio

import _variants
from _common import percentile, print_table, progress, write_results
from tickwork import TickSchedule

Variant = Callable[[float, float, int, int, list[float]], Awaitable[None]]

# Every task starts ticking this long after the run begins, once all are ready.
WARM_UP = 0.2


def floor(
    anchor: float, interval: float, ticks: int, _seed: int, out: list[float]
) -> Awaitable[None]:
    """The raw-Trio floor: an accumulated deadline and sleep_until."""
    # The coroutine itself, not one awaiting it: no extra frame per wake-up.
    return _variants.floor(anchor, interval, ticks, _variants.record_lateness(out))


def tickwork_variant(jitter: float) -> Variant:
    """TickSchedule.instants with sleep_until."""

    async def run(
        anchor: float, interval: float, ticks: int, seed: int, out: list[float]
    ) -> None:
        instants = TickSchedule(interval=interval, jitter=jitter).instants(
            anchor, random.Random(seed)
        )
        for _ in range(ticks):
            instant = next(instants)
            await trio.sleep_until(instant)
            out.append(trio.current_time() - instant)

    return run


def naive(
    anchor: float, interval: float, ticks: int, _seed: int, out: list[float]
) -> Awaitable[None]:
    """The loop everyone writes first: sleep(interval) after each wake-up."""
    return _variants.naive(anchor, interval, ticks, _variants.record_lateness(out))


VARIANTS: dict[str, Variant] = {
    "floor": floor,
    "tickwork j=0": tickwork_variant(0.0),
    "tickwork j=0.1": tickwork_variant(0.1),
    "naive sleep": naive,
}


def measure(
    variant: Variant, tasks: int, interval: float, ticks: int
) -> dict[str, float]:
    """Run one variant with *tasks* tasks; return lateness and drift statistics."""
    per_task: list[list[float]] = [[] for _ in range(tasks)]

    async def main() -> float:
        anchor = trio.current_time() + WARM_UP
        async with trio.open_nursery() as nursery:
            for index, out in enumerate(per_task):
                nursery.start_soon(variant, anchor, interval, ticks, index, out)
            # Bill only the ticking to CPU, not Trio's start-up or task spawns.
            await trio.sleep_until(anchor)
            cpu_before = time.process_time()
        return time.process_time() - cpu_before

    cpu = trio.run(main)
    lateness = sorted(x for out in per_task for x in out)
    drift = statistics.fmean(out[-1] - out[0] for out in per_task)
    return {
        "p50_ms": percentile(lateness, 0.50) * 1e3,
        "p99_ms": percentile(lateness, 0.99) * 1e3,
        "max_ms": lateness[-1] * 1e3,
        "drift_ms": drift * 1e3,
        "drift_us_per_tick": drift / max(1, ticks - 1) * 1e6,
        "cpu_us_per_tick": cpu / (tasks * ticks) * 1e6,
        "wakeups": float(len(lateness)),
    }


def main() -> None:
    """Measure every variant at every N, print the table, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--ticks", type=int, default=100)
    parser.add_argument("--tasks", default="1,100,1000")
    args = parser.parse_args()
    counts = [int(n) for n in args.tasks.split(",")]

    results: list[dict[str, object]] = []
    rows: list[list[str]] = []
    for tasks in counts:
        for name, variant in VARIANTS.items():
            progress(f"ticker_drift: {name}, {tasks} task(s), {args.ticks} ticks")
            stats = measure(variant, tasks, args.interval, args.ticks)
            results.append({"variant": name, "tasks": tasks, **stats})
            rows.append(
                [
                    str(tasks),
                    name,
                    f"{stats['p50_ms']:.3f}",
                    f"{stats['p99_ms']:.3f}",
                    f"{stats['max_ms']:.3f}",
                    f"{stats['drift_ms']:+.3f}",
                    f"{stats['cpu_us_per_tick']:.1f}",
                ]
            )
    print_table(
        f"Tick lateness and drift ({args.ticks} ticks at {args.interval} s)",
        [
            "tasks",
            "variant",
            "p50 ms",
            "p99 ms",
            "max ms",
            "last-first ms",
            "CPU µs/tick",
        ],
        rows,
    )
    write_results(
        "ticker_drift",
        {"interval": args.interval, "ticks": args.ticks, "results": results},
    )


if __name__ == "__main__":
    main()
