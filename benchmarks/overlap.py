"""Overlap: a run that takes 2.5 intervals. Does each scheduler skip, queue or overlap?

One job at a 0.4 s interval whose every run takes 1.0 s (2.5 intervals), for
4.2 s of real time, first run at once. Expected under the skip policy: runs
start at 0, 1.2, 2.4, 3.6 s (4 runs), never two at once, and 6 ticks are
skipped by 4.2 s. Measured: runs started, the most runs in flight at once, and the
start times, for tickwork and for APScheduler 4.0.0a6 with its defaults
(``max_running_jobs=1`` per task), with ``misfire_grace_time=0.1`` and with
``max_running_jobs=None``.

Writes ``benchmarks/results/overlap.json``.
"""

from __future__ import annotations

import argparse
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import trio

from _common import print_table, progress, write_results
from tickwork import Loop, Scheduler

INTERVAL = 0.4
RUN = 1.0
SPAN = 4.2
_STATE: dict[str, Any] = {}


async def work() -> None:
    """One run: note its start and how many are in flight, then take RUN s."""
    _STATE["starts"].append(trio.current_time() - _STATE["t0"])
    _STATE["in_flight"] += 1
    _STATE["peak"] = max(_STATE["peak"], _STATE["in_flight"])
    try:
        await trio.sleep(RUN)
    finally:
        _STATE["in_flight"] -= 1


def _reset() -> None:
    _STATE.update(starts=[], in_flight=0, peak=0, t0=0.0)


def tickwork_run() -> dict[str, Any]:
    """tickwork: one Loop, jitter 0; skips are counted by the scheduler."""
    _reset()

    async def main() -> int:
        scheduler = Scheduler(
            [Loop(name="slow", fn=work, interval=INTERVAL, jitter=0.0)]
        )
        async with trio.open_nursery() as nursery:
            _STATE["t0"] = trio.current_time()
            await nursery.start(scheduler.run)
            await trio.sleep(SPAN)
            skipped = scheduler.stats()["slow"].skipped
            scheduler.stop(grace=0)
        return skipped

    skipped = trio.run(main)
    return {"variant": "tickwork", "skipped": skipped, **_summary()}


def apscheduler_run(name: str, **options: object) -> dict[str, Any]:
    """APScheduler 4 on Trio with *options* for the schedule (or the task)."""
    from apscheduler import AsyncScheduler  # noqa: PLC0415 - a peer
    from apscheduler.triggers.interval import IntervalTrigger  # noqa: PLC0415

    _reset()
    task_options = {k: options.pop(k) for k in list(options) if k == "max_running_jobs"}

    async def main() -> None:
        async with AsyncScheduler() as scheduler:
            # add_schedule(work, ...) would configure the task anew from the
            # defaults (max_running_jobs=1), undoing configure_task: schedule
            # the configured task by its id instead.
            task = await scheduler.configure_task(work, **task_options)
            start = datetime.now(timezone.utc) + timedelta(seconds=0.5)
            trigger = IntervalTrigger(seconds=INTERVAL, start_time=start)
            await scheduler.add_schedule(task.id, trigger, id="slow", **options)  # type: ignore[arg-type]
            await scheduler.start_in_background()
            await trio.sleep((start - datetime.now(timezone.utc)).total_seconds())
            _STATE["t0"] = trio.current_time()
            await trio.sleep(SPAN)
            await scheduler.stop()

    trio.run(main)
    return {"variant": name, "skipped": None, **_summary()}


def _summary() -> dict[str, Any]:
    starts = _STATE["starts"]
    return {
        "runs": len(starts),
        "peak_in_flight": _STATE["peak"],
        "starts_s": [round(s, 2) for s in starts],
    }


def main() -> None:
    """Run each variant; print and write JSON."""
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    logging.getLogger("tickwork").setLevel(logging.ERROR)
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    results = []
    progress("overlap: tickwork")
    results.append(tickwork_run())
    for name, options in (
        ("APScheduler 4 (defaults)", {}),
        ("APScheduler 4 misfire_grace_time=0.1", {"misfire_grace_time": 0.1}),
        ("APScheduler 4 max_running_jobs=None", {"max_running_jobs": None}),
    ):
        progress(f"overlap: {name}")
        results.append(apscheduler_run(name, **options))
    print_table(
        f"Overlap: {RUN} s runs on a {INTERVAL} s interval for {SPAN} s "
        "(skip policy: 4 runs at 0, 1.2, 2.4, 3.6 s; 6 skips; never 2 at once)",
        ["variant", "runs", "most in flight", "skipped", "run starts, s"],
        [
            [
                r["variant"],
                str(r["runs"]),
                str(r["peak_in_flight"]),
                "-" if r["skipped"] is None else str(r["skipped"]),
                " ".join(f"{s:.2f}" for s in r["starts_s"]),
            ]
            for r in results
        ],
    )
    write_results(
        "overlap", {"interval": INTERVAL, "run": RUN, "span": SPAN, "results": results}
    )


if __name__ == "__main__":
    main()
