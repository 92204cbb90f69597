"""Tick lateness, CPU and memory against the floor and the peers, in real time.

N loops (1, 100, 1 000, 10 000) tick every second in the same phase, each
variant in a fresh Python process (so peak RSS is its own):

- floor: raw ``deadline += interval; sleep_until(deadline)`` per task;
- tickwork with jitter 0 and with its default 0.1 (`Scheduler`; lateness
  from its ``on_run_started`` hook);
- trio-util ``periodic`` (lateness against its first iteration);
- APScheduler 4.0.0a6 on Trio (in-memory store, ``IntervalTrigger``;
  lateness against the job's ``scheduled_fire_time``, on the wall clock);
- the naive ``await trio.sleep(interval)`` loop.

The floor and the naive loop are ``benchmarks/_variants.py``'s.

Reports p50/p99/max lateness, CPU µs per run (process time while ticking /
runs), and peak RSS above the process's baseline per loop; writes
``benchmarks/results/peers.json`` and ``peers_lateness_cdf.png`` (the lateness
CDF at 1 000 loops). A variant that does not finish within its time limit is
reported as such, not dropped.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from _common import (
    percentile,
    print_table,
    progress,
    pyplot,
    run_in_phase,
    save_plot,
    write_results,
)
from _variants import naive, record_lateness

if TYPE_CHECKING:
    from pathlib import Path

VARIANTS = (
    "floor",
    "tickwork j=0",
    "tickwork j=0.1",
    "trio-util periodic",
    "APScheduler 4",
    "naive sleep",
)
WARM_UP = 0.5


def _rss_kb() -> int:
    """Peak resident set size of this process so far, in KiB (Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_floor(tasks: int, interval: float, ticks: int) -> tuple[list[float], float]:
    """The raw floor, as in scheduler.py."""
    from scheduler import floor_run  # noqa: PLC0415 - a sibling script

    return floor_run(tasks, interval, ticks)


def run_tickwork(
    tasks: int, interval: float, ticks: int, jitter: float
) -> tuple[list[float], float]:
    """tickwork's Scheduler, as in scheduler.py."""
    from scheduler import tickwork_run  # noqa: PLC0415 - a sibling script

    return tickwork_run(tasks, interval, ticks, jitter)


def run_naive(tasks: int, interval: float, ticks: int) -> tuple[list[float], float]:
    """``await trio.sleep(interval)`` in a loop: drifts by each tick's lateness."""
    lateness: list[float] = []
    task = partial(
        naive, interval=interval, ticks=ticks, on_tick=record_lateness(lateness)
    )
    return lateness, run_in_phase(tasks, task, WARM_UP)


def run_periodic(tasks: int, interval: float, ticks: int) -> tuple[list[float], float]:
    """trio-util's ``periodic(interval)``, started in the same phase."""
    from trio_util import periodic  # noqa: PLC0415 - a peer, bench group only

    lateness: list[float] = []

    async def task(anchor: float) -> None:
        await trio.sleep_until(anchor)
        first = None
        k = 0
        async for _ in periodic(interval):
            now = trio.current_time()
            if first is None:
                first = now
            else:
                lateness.append(now - (first + k * interval))
            if k == ticks:
                break
            k += 1

    return lateness, run_in_phase(tasks, task, WARM_UP)


def run_apscheduler(
    tasks: int, interval: float, ticks: int
) -> tuple[list[float], float]:
    """APScheduler 4 on Trio: N interval schedules, in-memory store, defaults."""
    from apscheduler import AsyncScheduler, current_job  # noqa: PLC0415 - a peer
    from apscheduler.triggers.interval import IntervalTrigger  # noqa: PLC0415

    # Adding schedules costs time; start ticking once all are in.
    start = datetime.now(timezone.utc) + timedelta(seconds=1 + tasks * 0.002)
    _APS["last"] = start + timedelta(seconds=(ticks - 0.5) * interval)
    _APS["current_job"] = current_job

    async def main() -> float:
        async with AsyncScheduler() as scheduler:
            for i in range(tasks):
                # A trigger keeps its own state: one per schedule.
                trigger = IntervalTrigger(seconds=interval, start_time=start)
                await scheduler.add_schedule(aps_job, trigger, id=f"j{i}")
            await scheduler.start_in_background()
            wait = (start - datetime.now(timezone.utc)).total_seconds() - 0.25
            await trio.sleep(max(0.0, wait))
            cpu = time.process_time()
            await trio.sleep(0.25 + (ticks - 0.5) * interval + 0.25)
            return time.process_time() - cpu

    cpu = trio.run(main)
    return _APS_LATENESS, cpu


# APScheduler stores a reference to the job function: it must be importable.
_APS: dict[str, Any] = {}
_APS_LATENESS: list[float] = []


async def aps_job() -> None:
    """APScheduler's job: record lateness against the scheduled fire time."""
    fire = _APS["current_job"].get().scheduled_fire_time
    if fire is not None and fire <= _APS["last"]:
        _APS_LATENESS.append((datetime.now(timezone.utc) - fire).total_seconds())


def child(variant: str, tasks: int, interval: float, ticks: int) -> dict[str, Any]:
    """Measure one variant in this process."""
    base = _rss_kb()
    if variant == "floor":
        lateness, cpu = run_floor(tasks, interval, ticks)
    elif variant.startswith("tickwork"):
        jitter = 0.0 if variant.endswith("j=0") else 0.1
        lateness, cpu = run_tickwork(tasks, interval, ticks, jitter)
    elif variant == "naive sleep":
        lateness, cpu = run_naive(tasks, interval, ticks)
    elif variant == "trio-util periodic":
        lateness, cpu = run_periodic(tasks, interval, ticks)
    else:
        lateness, cpu = run_apscheduler(tasks, interval, ticks)
    return {
        "lateness": lateness,
        "cpu": cpu,
        "rss_base_kb": base,
        "rss_peak_kb": _rss_kb(),
    }


def measure(variant: str, tasks: int, interval: float, ticks: int) -> dict[str, Any]:
    """Run *variant* in a fresh process; summarise what it measured."""
    limit = 60 + ticks * interval * 4
    command = [
        sys.executable,
        __file__,
        "--child",
        variant,
        str(tasks),
        str(interval),
        str(ticks),
    ]
    try:
        done = subprocess.run(  # noqa: S603 - our own script
            command, capture_output=True, text=True, timeout=limit, check=True
        )
    except subprocess.TimeoutExpired:
        return {"loops": tasks, "variant": variant, "status": f"over {limit:.0f} s"}
    except subprocess.CalledProcessError as exc:
        last = (exc.stderr.strip().splitlines() or ["?"])[-1]
        return {"loops": tasks, "variant": variant, "status": f"failed: {last[:60]}"}
    raw = json.loads(done.stdout.splitlines()[-1])
    lateness = sorted(raw["lateness"])
    runs = len(lateness)
    return {
        "loops": tasks,
        "variant": variant,
        "status": "ok",
        "runs": runs,
        "expected_runs": tasks * ticks,
        "p50_ms": percentile(lateness, 0.5) * 1e3,
        "p99_ms": percentile(lateness, 0.99) * 1e3,
        "max_ms": lateness[-1] * 1e3 if lateness else float("nan"),
        "cpu_us_per_run": raw["cpu"] / max(1, runs) * 1e6,
        "rss_kb_per_loop": (raw["rss_peak_kb"] - raw["rss_base_kb"]) / tasks,
        "lateness_ms": [value * 1e3 for value in lateness],
    }


def plot_cdf(results: list[dict[str, Any]], loops: int) -> Path | None:
    """The lateness CDF of each variant at *loops* loops, as a PNG."""
    plt = pyplot()
    if plt is None:
        return None
    figure, axes = plt.subplots(figsize=(8, 5))
    for result in results:
        if result["loops"] != loops or result["status"] != "ok":
            continue
        values = [max(v, 1e-3) for v in result["lateness_ms"]]
        share = [(i + 1) / len(values) for i in range(len(values))]
        axes.step(values, share, where="post", label=result["variant"])
    axes.set_xscale("log")
    axes.set_xlabel("lateness, ms (log)")
    axes.set_ylabel("share of runs started by then")
    axes.set_title(f"Tick lateness CDF, {loops} loops at 1 s, same phase")
    axes.grid(visible=True, which="both", alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend()
    return save_plot(plt, figure, "peers_lateness_cdf.png")


def main() -> None:
    """Run every variant at every size; print, plot and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", default="1,100,1000,10000")
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--ticks", type=int, default=5)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument(
        "--child", nargs=4, metavar=("VARIANT", "N", "INTERVAL", "TICKS")
    )
    args = parser.parse_args()
    if args.child:
        variant, tasks, interval, ticks = args.child
        print(json.dumps(child(variant, int(tasks), float(interval), int(ticks))))
        return
    results = []
    for tasks in (int(n) for n in args.loops.split(",")):
        for variant in args.variants.split(","):
            progress(f"peers: {variant}, {tasks} loop(s)")
            results.append(measure(variant, tasks, args.interval, args.ticks))
    table = []
    floors = {r["loops"]: r for r in results if r["variant"] == "floor"}
    for r in results:
        if r["status"] != "ok":
            table.append([str(r["loops"]), r["variant"], r["status"], *[""] * 7])
            continue
        floor = floors.get(r["loops"], {})
        p99_ratio = (
            r["p99_ms"] / floor["p99_ms"] if floor.get("p99_ms") else float("nan")
        )
        cpu_ratio = (
            r["cpu_us_per_run"] / floor["cpu_us_per_run"] if floor else float("nan")
        )
        r["p99_vs_floor"], r["cpu_vs_floor"] = p99_ratio, cpu_ratio
        table.append(
            [
                str(r["loops"]),
                r["variant"],
                f"{r['runs']}/{r['expected_runs']}",
                f"{r['p50_ms']:.2f}",
                f"{r['p99_ms']:.2f}",
                f"{r['max_ms']:.2f}",
                f"{p99_ratio:.2f}",
                f"{r['cpu_us_per_run']:.1f}",
                f"{cpu_ratio:.2f}",
                f"{r['rss_kb_per_loop']:.2f}" if r["loops"] >= 1000 else "-",
            ]
        )
    print_table(
        f"Lateness, CPU and memory vs the floor and the peers "
        f"({args.ticks} ticks at {args.interval} s, same phase)",
        [
            "loops",
            "variant",
            "runs",
            "p50 ms",
            "p99 ms",
            "max ms",
            "p99/floor",
            "CPU µs/run",
            "CPU/floor",
            "RSS KiB/loop",
        ],
        table,
    )
    plot_cdf(results, 1000)
    for r in results:
        r.pop("lateness_ms", None)
    write_results(
        "peers", {"interval": args.interval, "ticks": args.ticks, "results": results}
    )


if __name__ == "__main__":
    main()
