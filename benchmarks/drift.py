"""Drift: lateness of the k-th tick against k, over a long run.

1. Real time: 100 loops per variant at 1 s for 60 s, every variant in one
   ``trio.run`` (so they share one event loop and its load): the raw floor,
   tickwork (jitter 0), trio-util ``periodic``, APScheduler 4 on Trio and the
   naive ``sleep(1)`` loop (the floor and the naive loop from
   ``_variants.py``). For each variant, the mean lateness over its loops
   at tick k, and the least-squares slope of that against k in µs per tick.
   Plot: ``benchmarks/results/drift_lateness.png``.
2. Virtual time: one loop per variant for 1 000 000 ticks at 0.1 s on Trio's
   MockClock, each run "working" 1 ms of virtual time (the clock jumps), with
   lateness against ``anchor + k * interval``: what remains is the schedule's
   own error, free of OS noise.

Writes ``benchmarks/results/drift.json``.
"""

from __future__ import annotations

import argparse
import logging
import statistics
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

import trio
import trio.testing

import _variants
from _common import print_table, progress, pyplot, save_plot, write_results
from tickwork import Loop, Scheduler


def slope_us_per_tick(series: list[float]) -> float:
    """Least-squares slope of *series* (seconds) against its index, in µs/tick."""
    count = len(series)
    if count < 2:
        return float("nan")
    mean_k = (count - 1) / 2
    mean_v = statistics.fmean(series)
    num = sum((k - mean_k) * (v - mean_v) for k, v in enumerate(series))
    den = sum((k - mean_k) ** 2 for k in range(count))
    return num / den * 1e6


def slope_stderr_us(series: list[float]) -> float:
    """Standard error of `slope_us_per_tick`: what noise alone would give."""
    count = len(series)
    if count < 3:
        return float("nan")
    slope = slope_us_per_tick(series) / 1e6
    mean_k = (count - 1) / 2
    mean_v = statistics.fmean(series)
    residuals = [v - (mean_v + slope * (k - mean_k)) for k, v in enumerate(series)]
    variance = sum(r * r for r in residuals) / (count - 2)
    den = sum((k - mean_k) ** 2 for k in range(count))
    return (variance / den) ** 0.5 * 1e6


def real_time(loops: int, seconds: float) -> dict[str, list[float]]:
    """Mean lateness per tick index, per variant, all in one event loop."""
    from apscheduler import AsyncScheduler, current_job  # noqa: PLC0415 - a peer
    from apscheduler.triggers.interval import IntervalTrigger  # noqa: PLC0415
    from trio_util import periodic  # noqa: PLC0415 - a peer

    ticks = int(seconds)
    samples: dict[str, defaultdict[int, list[float]]] = {
        name: defaultdict(list)
        for name in (
            "floor",
            "tickwork j=0",
            "trio-util periodic",
            "APScheduler 4",
            "naive sleep",
        )
    }

    def grid_lateness(name: str, anchor: float) -> _variants.OnTick:
        """Record each tick's lateness against the grid, by tick index."""

        def on_tick(k: int, _instant: float) -> None:
            samples[name][k].append(trio.current_time() - (anchor + k))

        return on_tick

    async def floor(anchor: float) -> None:
        on_tick = grid_lateness("floor", anchor)
        await _variants.floor(anchor, 1.0, ticks, on_tick)

    async def naive(anchor: float) -> None:
        on_tick = grid_lateness("naive sleep", anchor)
        await _variants.naive(anchor, 1.0, ticks, on_tick)

    async def util(anchor: float) -> None:
        await trio.sleep_until(anchor)
        k, first = 0, trio.current_time()
        async for _ in periodic(1.0):
            if k:
                samples["trio-util periodic"][k].append(
                    trio.current_time() - (first + k)
                )
            if k == ticks:
                break
            k += 1

    counts: dict[str, int] = defaultdict(int)

    class Hook:
        def on_run_started(self, *, loop: str, lateness: float) -> None:
            counts[loop] += 1
            if counts[loop] <= ticks:
                samples["tickwork j=0"][counts[loop]].append(lateness)

    async def aps_job() -> None:
        job = current_job.get()
        fire = job.scheduled_fire_time
        k = round((fire - aps_start).total_seconds())
        if 1 <= k <= ticks:
            samples["APScheduler 4"][k].append(
                (datetime.now(timezone.utc) - fire).total_seconds()
            )

    aps_start = datetime.now(timezone.utc) + timedelta(seconds=2)
    _JOBS["aps"] = aps_job

    async def main() -> None:
        anchor = trio.current_time() + 2
        scheduler = Scheduler(
            [
                Loop(
                    name=f"l{i}", fn=_noop, interval=1.0, jitter=0.0, run_on_start=False
                )
                for i in range(loops)
            ],
            hooks=[Hook()],
        )
        async with AsyncScheduler() as aps, trio.open_nursery() as nursery:
            for i in range(loops):
                trigger = IntervalTrigger(seconds=1.0, start_time=aps_start)
                await aps.add_schedule(run_aps_job, trigger, id=f"a{i}")
            await aps.start_in_background()
            for _ in range(loops):
                nursery.start_soon(floor, anchor)
                nursery.start_soon(naive, anchor)
                nursery.start_soon(util, anchor)
            await trio.sleep_until(anchor - 1)
            await nursery.start(scheduler.run)
            await trio.sleep_until(anchor + ticks + 0.5)
            scheduler.stop()
            await aps.stop()

    trio.run(main)
    return {
        name: [statistics.fmean(by_k[k]) for k in sorted(by_k)]
        for name, by_k in samples.items()
    }


_JOBS: dict[str, Any] = {}


async def run_aps_job() -> None:
    """APScheduler needs an importable job function; it calls the real one."""
    await _JOBS["aps"]()


async def _noop() -> None:
    """A loop body."""


def virtual_time(ticks: int, interval: float, work: float) -> dict[str, float]:
    """Lateness of the last tick and the slope, per variant, on a MockClock."""
    results: dict[str, float] = {}

    def run(variant: str) -> list[float]:
        clock = trio.testing.MockClock(autojump_threshold=0)
        lateness: list[float] = []
        every = max(1, ticks // 1000)  # keep 1 000 samples for the slope

        def sample_then_work(anchor: float) -> _variants.OnTick:
            """Sample lateness against the grid, then do the run's work."""

            def on_tick(k: int, _instant: float) -> None:
                if k % every == 0:
                    lateness.append(trio.current_time() - (anchor + k * interval))
                clock.jump(work)

            return on_tick

        async def floor() -> None:
            anchor = trio.current_time()
            await _variants.floor(anchor, interval, ticks, sample_then_work(anchor))

        async def naive() -> None:
            anchor = trio.current_time()
            await _variants.naive(anchor, interval, ticks, sample_then_work(anchor))

        async def tickwork() -> None:
            count = 0
            anchor = trio.current_time()
            done = trio.Event()

            async def body() -> None:
                nonlocal count
                count += 1
                if count % every == 0:
                    lateness.append(trio.current_time() - (anchor + count * interval))
                if count == ticks:
                    done.set()
                clock.jump(work)

            scheduler = Scheduler(
                [
                    Loop(
                        name="l",
                        fn=body,
                        interval=interval,
                        jitter=0.0,
                        run_on_start=False,
                    )
                ]
            )
            async with trio.open_nursery() as nursery:
                await nursery.start(scheduler.run)
                await done.wait()
                scheduler.stop()

        trio.run(
            {"floor": floor, "naive sleep": naive, "tickwork j=0": tickwork}[variant],
            clock=clock,
        )
        return lateness

    for variant in ("floor", "tickwork j=0", "naive sleep"):
        progress(f"drift: {variant}, {ticks} ticks on a MockClock")
        series = run(variant)
        results[variant] = {
            "last_lateness_us": series[-1] * 1e6,
            "slope_us_per_tick": slope_us_per_tick(series) / max(1, ticks // 1000),
        }
    return results


def plot(series: dict[str, list[float]]) -> None:
    """Mean lateness vs tick index per variant, as a PNG."""
    plt = pyplot()
    if plt is None:
        return
    figure, axes = plt.subplots(figsize=(8, 5))
    for name, values in series.items():
        axes.plot(range(1, len(values) + 1), [v * 1e3 for v in values], label=name)
    axes.set_yscale("symlog", linthresh=1.0)
    axes.set_xlabel("tick k")
    axes.set_ylabel("mean lateness at tick k, ms (symlog)")
    axes.set_title("Drift: 100 loops per variant at 1 s, one event loop")
    axes.grid(visible=True, alpha=0.3)
    axes.legend()
    save_plot(plt, figure, "drift_lateness.png")


def main() -> None:
    """Run both parts; print, plot and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--virtual-ticks", type=int, default=1_000_000)
    args = parser.parse_args()
    logging.getLogger("tickwork").setLevel(logging.ERROR)
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    progress(
        f"drift: {args.loops} loops per variant for {args.seconds:.0f} s, real time"
    )
    series = real_time(args.loops, args.seconds)
    rows = [
        [
            name,
            str(len(values)),
            f"{values[0] * 1e3:.2f}" if values else "-",
            f"{values[-1] * 1e3:.2f}" if values else "-",
            f"{slope_us_per_tick(values):+.2f}",
            f"{slope_stderr_us(values):.2f}",
        ]
        for name, values in series.items()
    ]
    print_table(
        f"Drift in real time: {args.loops} loops per variant at 1 s for "
        f"{args.seconds:.0f} s (goal: slope < 1 µs/tick)",
        ["variant", "ticks", "first ms", "last ms", "slope µs/tick", "± std. error"],
        rows,
    )
    plot(series)
    virtual = virtual_time(args.virtual_ticks, 0.1, 0.001)
    print_table(
        f"Drift in virtual time: {args.virtual_ticks:,} ticks at 0.1 s, each run "
        "working 1 ms (MockClock)",
        ["variant", "lateness of the last tick µs", "slope µs/tick"],
        [
            [name, f"{r['last_lateness_us']:.6f}", f"{r['slope_us_per_tick']:+.6f}"]
            for name, r in virtual.items()
        ],
    )
    write_results(
        "drift",
        {
            "real_time": {
                name: {
                    "mean_lateness_s": values,
                    "slope_us_per_tick": slope_us_per_tick(values),
                    "slope_stderr_us": slope_stderr_us(values),
                }
                for name, values in series.items()
            },
            "virtual_time": virtual,
        },
    )


if __name__ == "__main__":
    main()
