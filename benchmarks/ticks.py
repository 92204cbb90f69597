"""``async for`` loops in one's own task: tickwork.ticks vs trio-util vs naive.

Every variant runs in its own ``trio.run``, in real time, with an empty body:

- ``tickwork.ticks``: ``async for tick in ticks(interval, run_on_start=False)``;
- ``trio-util periodic``: ``async for _ in periodic(interval)``, which sleeps
  until its last wake-up plus the interval;
- ``naive sleep``: ``await trio.sleep(interval)`` after each wake-up
  (``benchmarks/_variants.py``'s, on the grid of its intended anchor);
- ``floor``: raw ``deadline += interval; sleep_until(deadline)``, the least
  a Trio loop can do per tick, for reference (``_variants.py``'s too).

Two measurements:

- Drift: one task, *K* ticks at a short interval. Lateness of tick *k* is
  the wake-up time minus the variant's grid instant ``origin + k *
  interval`` (the origin: the start of its iteration; for ``ticks``, its
  anchor). Drift per tick is the final lateness divided by *K*: a loop that
  adds each wake-up's latency to the next sleep grows it by about that
  latency per tick, a drift-free one stays at one wake-up's latency, so its
  figure shrinks as *K* grows. ``ticks`` reports the ticks it skipped too (a
  wake-up later than an interval skips, never bursts).
- CPU per tick: *N* tasks tick in phase for *K* ticks at a longer interval;
  process time from the common anchor to the last tick, divided by the
  ticks delivered. Each tick is a real sleep and wake-up, as in a service;
  a busy loop with a tiny interval would measure ``ticks``' skip path and
  Trio's past-deadline checkpoint instead of a tick, so it is not used.

``--quick`` runs a short version of both (a smoke test on a busy machine:
its numbers are noisy). Writes ``benchmarks/results/ticks.json``.

Usage: ``python benchmarks/ticks.py [--quick]``
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import trio

import _variants
from _common import percentile, print_table, progress, run_in_phase, write_results
from tickwork import ticks

# (anchor, interval, ticks, on_tick): wake *ticks* times after *anchor*,
# calling on_tick(k, grid instant) after wake-up k.
Variant = Callable[[float, float, int, _variants.OnTick], Awaitable[None]]

WARM_UP = 0.3


async def tickwork_ticks(
    anchor: float, interval: float, count: int, on_tick: _variants.OnTick
) -> None:
    """tickwork.ticks without run_on_start: tick k is due at anchor + k * interval."""
    await trio.sleep_until(anchor)
    async for tick in ticks(interval, run_on_start=False):
        # With jitter 0, `scheduled` is the grid instant of tick.index.
        on_tick(tick.index, tick.scheduled)
        if tick.index >= count:
            break


async def trio_util_periodic(
    anchor: float, interval: float, count: int, on_tick: _variants.OnTick
) -> None:
    """trio-util's periodic: its grid starts at its first (immediate) iteration."""
    from trio_util import periodic  # noqa: PLC0415 - a peer, bench group only

    await trio.sleep_until(anchor)
    origin = None
    k = 0
    async for _ in periodic(interval):
        if origin is None:
            origin = trio.current_time()
        else:
            on_tick(k, origin + k * interval)
        if k == count:
            break
        k += 1


async def naive(
    anchor: float, interval: float, count: int, on_tick: _variants.OnTick
) -> None:
    """``sleep(interval)`` after each wake-up."""
    await _variants.naive(anchor, interval, count, on_tick)


async def floor(
    anchor: float, interval: float, count: int, on_tick: _variants.OnTick
) -> None:
    """The raw floor: an accumulated deadline and sleep_until."""
    await _variants.floor(anchor, interval, count, on_tick)


VARIANTS: dict[str, Variant] = {
    "tickwork.ticks": tickwork_ticks,
    "trio-util periodic": trio_util_periodic,
    "naive sleep": naive,
    "floor": floor,
}


def drift(variant: Variant, interval: float, count: int) -> dict[str, Any]:
    """One task, *count* ticks: lateness of every tick and the final one."""
    lateness: list[float] = []
    indices: list[int] = []

    def on_tick(k: int, instant: float) -> None:
        lateness.append(trio.current_time() - instant)
        indices.append(k)

    async def main() -> None:
        await variant(trio.current_time() + WARM_UP, interval, count, on_tick)

    trio.run(main)
    ordered = sorted(lateness)
    final = lateness[-1]
    return {
        "ticks": len(lateness),
        "skipped": indices[-1] - len(indices),
        "p50_ms": percentile(ordered, 0.5) * 1e3,
        "max_ms": ordered[-1] * 1e3,
        "final_lateness_ms": final * 1e3,
        "drift_us_per_tick": final / count * 1e6,
    }


def cpu(variant: Variant, tasks: int, interval: float, count: int) -> dict[str, Any]:
    """*tasks* tasks in phase, *count* ticks each: process time per tick."""
    delivered = 0

    def on_tick(_k: int, _instant: float) -> None:
        nonlocal delivered
        delivered += 1

    seconds = run_in_phase(
        tasks,
        partial(variant, interval=interval, count=count, on_tick=on_tick),
        WARM_UP,
    )
    return {"ticks": delivered, "cpu_us_per_tick": seconds / max(1, delivered) * 1e6}


def main() -> None:
    """Measure drift and CPU of every variant; print both tables, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    args = parser.parse_args()
    if args.quick:
        drift_interval, drift_ticks = 0.005, 200
        cpu_tasks, cpu_interval, cpu_ticks, repeats = 100, 0.02, 20, 1
    else:
        drift_interval, drift_ticks = 0.005, 2000
        # 1000 tasks every 0.2 s load the event loop about a third: at
        # 0.05 s every variant saturated it and skipped, so the table
        # measured how each behaves behind, not what a tick costs.
        cpu_tasks, cpu_interval, cpu_ticks, repeats = 1000, 0.2, 40, 3

    drift_results: list[dict[str, Any]] = []
    for name, variant in VARIANTS.items():
        progress(f"ticks: drift, {name}, {drift_ticks} ticks at {drift_interval} s")
        drift_results.append(
            {"variant": name, **drift(variant, drift_interval, drift_ticks)}
        )
    print_table(
        f"Drift, one task, {drift_ticks} ticks at {drift_interval * 1e3:g} ms",
        ["variant", "p50 ms", "max ms", "final ms", "drift µs/tick", "skipped"],
        [
            [
                r["variant"],
                f"{r['p50_ms']:.3f}",
                f"{r['max_ms']:.3f}",
                f"{r['final_lateness_ms']:.3f}",
                f"{r['drift_us_per_tick']:.2f}",
                str(r["skipped"]),
            ]
            for r in drift_results
        ],
    )

    cpu_results: list[dict[str, Any]] = []
    for name, variant in VARIANTS.items():
        progress(f"ticks: CPU, {name}, {cpu_tasks} tasks x {cpu_ticks} ticks")
        runs = [
            cpu(variant, cpu_tasks, cpu_interval, cpu_ticks) for _ in range(repeats)
        ]
        per_tick = statistics.median(run["cpu_us_per_tick"] for run in runs)
        cpu_results.append(
            {"variant": name, "ticks": runs[0]["ticks"], "cpu_us_per_tick": per_tick}
        )
    print_table(
        f"CPU per tick, {cpu_tasks} tasks in phase, {cpu_ticks} ticks at "
        f"{cpu_interval * 1e3:g} ms (median of {repeats})",
        ["variant", "ticks", "CPU µs/tick"],
        [
            [r["variant"], str(r["ticks"]), f"{r['cpu_us_per_tick']:.1f}"]
            for r in cpu_results
        ],
    )
    write_results(
        "ticks",
        {
            "quick": args.quick,
            "drift": {
                "interval": drift_interval,
                "ticks": drift_ticks,
                "results": drift_results,
            },
            "cpu": {
                "tasks": cpu_tasks,
                "interval": cpu_interval,
                "ticks": cpu_ticks,
                "repeats": repeats,
                "results": cpu_results,
            },
        },
    )


if __name__ == "__main__":
    main()
