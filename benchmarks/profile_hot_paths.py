"""Where the time goes: cProfile of the two paths behind the missed goals.

1. ``stop()`` of 10 000 idle loops, against Trio cancelling 10 000 bare
   sleeping tasks (the shutdown goal);
2. 20 000 runs of 100 same-phase loops on a MockClock (the per-run cost that
   sets the p99 of a same-phase batch).

For each, the share of profiled time spent in tickwork's own code, in Trio,
and in what Trio uses (contextlib, outcome, attrs-generated methods), and the
top functions. Not part of ``nox -s bench``'s default list (it measures under
a profiler, so its absolute times are inflated); run it with
``nox -s bench -- profile_hot_paths.py``. Writes
``benchmarks/results/profile_hot_paths.json``.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
from typing import TYPE_CHECKING, Any

import trio
import trio.testing

from _common import print_table, progress, write_results
from tickwork import Loop, Scheduler

if TYPE_CHECKING:
    from collections.abc import Callable


async def noop() -> None:
    """A run that does nothing."""


def _group(filename: str) -> str:
    for marker, name in (
        ("/tickwork/", "tickwork"),
        ("/trio/", "trio"),
        ("contextlib", "contextlib"),
        ("outcome", "outcome"),
        ("<attrs generated", "attrs-generated"),
    ):
        if marker in filename:
            return name
    return "other"


def profile(run: Callable[[cProfile.Profile], object], top: int) -> dict[str, Any]:
    """Profile what *run* profiles; own time per group and the *top* functions."""
    profiler = cProfile.Profile()
    run(profiler)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in stats.values()) or 1.0
    groups: dict[str, float] = {}
    rows = []
    for (filename, line, function), entry in stats.items():
        own = entry[2]
        groups[_group(filename)] = groups.get(_group(filename), 0.0) + own
        rows.append((own, f"{filename.rsplit('/', 1)[-1]}:{line}({function})"))
    rows.sort(reverse=True)
    return {
        "total_s": total,
        "share": {name: own / total for name, own in groups.items()},
        "top": [{"function": name, "own_s": own} for own, name in rows[:top]],
    }


def shutdown_case(loops: int, *, bare: bool) -> Callable[[cProfile.Profile], object]:
    """From stop() (or cancel) until the nursery is done, for *loops* idle tasks."""

    async def main(profiler: cProfile.Profile) -> None:
        async with trio.open_nursery() as nursery:
            if bare:
                for _ in range(loops):
                    nursery.start_soon(trio.sleep, 3600)
                await trio.testing.wait_all_tasks_blocked()
                profiler.enable()
                nursery.cancel_scope.cancel()
            else:
                scheduler = Scheduler(
                    Loop(name=f"l{i}", fn=noop, interval=3600, run_on_start=False)
                    for i in range(loops)
                )
                await nursery.start(scheduler.run)
                await trio.testing.wait_all_tasks_blocked()
                profiler.enable()
                scheduler.stop()
        profiler.disable()

    return lambda profiler: trio.run(main, profiler)


def ticks_case(loops: int, ticks: int) -> Callable[[cProfile.Profile], object]:
    """*loops* same-phase loops for *ticks* ticks on a MockClock, all profiled."""

    async def main(profiler: cProfile.Profile) -> None:
        profiler.enable()
        scheduler = Scheduler(
            Loop(name=f"l{i}", fn=noop, interval=1.0, jitter=0, run_on_start=False)
            for i in range(loops)
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(scheduler.run)
            await trio.sleep(ticks + 0.5)
            scheduler.stop()
        profiler.disable()

    clock = trio.testing.MockClock(autojump_threshold=0)
    return lambda profiler: trio.run(main, profiler, clock=clock)


def main() -> None:
    """Profile both paths, print a table each, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=10_000)
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args()
    cases = {
        f"Trio cancels {args.loops} sleeping tasks": shutdown_case(
            args.loops, bare=True
        ),
        f"stop() of {args.loops} idle loops": shutdown_case(args.loops, bare=False),
        "20 000 runs: 100 same-phase loops x 200 ticks, MockClock": ticks_case(
            100, 200
        ),
    }
    results = {}
    for title, run in cases.items():
        progress(f"profile: {title}")
        result = results[title] = profile(run, args.top)
        share = result["share"]
        print_table(
            f"{title}: {result['total_s'] * 1e3:.0f} ms profiled",
            ["where", "share of own time"],
            [
                [name, f"{share[name] * 100:.1f} %"]
                for name in sorted(share, key=share.__getitem__, reverse=True)
            ]
            + [
                [f"top: {row['function']}", f"{row['own_s'] * 1e3:.1f} ms"]
                for row in result["top"]
            ],
        )
    write_results("profile_hot_paths", results)


if __name__ == "__main__":
    main()
