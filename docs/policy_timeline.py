# ruff: noqa: INP001 - a script run by hand, not part of a package
"""Draw docs/img/policies.png: the run policies' timelines, run for real.

Each lane is one loop (interval 1 s, jitter 0) run by a `Scheduler` on
Trio's ``MockClock`` from 0 and stopped (``grace=0``) just before the tick
at 10 s, as tests/test_policies.py does; a run in flight then ends at the
dotted line, cut by the stop. The lanes: ``overlap="skip"``,
``"buffer_one"`` and ``"replace"`` with runs of 2.5 s, then runs of 0.1 s
paused at 3.5 s and resumed at 7.2 s, and runs of 0.1 s whose interval
``Scheduler.update`` sets to 2 s at 3.5 s. Every bar is a run as it
happened: its start, its end and how it ended, recorded by the job and a
hook. The script checks the timelines against the ones the tutorial and
tests/test_policies.py state before it draws, so the picture cannot drift
from the behaviour; a mismatch exits with the lane, what ran and what was
expected, and writes nothing.

Run it from a clone, with the bench dependency group (which has
matplotlib) installed, e.g. in the environment ``nox -s bench`` makes::

    python docs/policy_timeline.py

The PNG is deterministic for a given matplotlib: fixed size and dpi, no
version or date in its metadata.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import matplotlib as mpl
import trio
import trio.testing

from tickwork import Loop, LoopStats, Scheduler, current_run

mpl.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from matplotlib.axes import Axes

OUT = Path(__file__).parent / "img" / "policies.png"
WATCH = 10.0  # the lanes show [0, WATCH); the scheduler stops just before it
STOP = WATCH - 1e-6
LONG_RUN = 2.5
SHORT_RUN = 0.1
PAUSE_AT, RESUME_AT = 3.5, 7.2
UPDATE_AT = 3.5

Action = tuple[float, "Callable[[Scheduler], Awaitable[object]]"]


@attrs.frozen
class Run:
    """One run as it happened."""

    window: float
    start: float
    end: float
    outcome: str  # the hook's: "succeeded", "replaced", "cancelled", ...


@attrs.frozen
class Lane:
    """One loop's timeline."""

    label: str
    runs: list[Run]
    stats: LoopStats
    ticks: list[float]  # the grid instants of [0, WATCH), run or not
    paused: tuple[float, float] | None = None
    updated_at: float | None = None


class _Outcomes:
    """A hook that keeps each finished run's outcome, in order."""

    def __init__(self) -> None:
        self.outcomes: list[str] = []

    def on_run_finished(self, *, outcome: str, **_: object) -> None:
        """Keep *outcome*."""
        self.outcomes.append(outcome)


async def _timeline(
    loop: Loop, actions: Sequence[Action]
) -> tuple[list[Run], LoopStats]:
    """Run *loop* alone from 0, doing *actions* at their instants, until WATCH."""
    seen: list[tuple[float, float, float]] = []
    run_for = loop.fn

    async def job() -> None:
        window = current_run().window
        if not isinstance(window, float | int):
            raise TypeError(window)
        start = trio.current_time()
        try:
            await run_for()
        finally:
            seen.append((float(window), start, trio.current_time()))

    hook = _Outcomes()
    scheduler = Scheduler([attrs.evolve(loop, fn=job)], hooks=[hook])
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        for at, action in actions:
            await trio.sleep_until(at)
            await action(scheduler)
        await trio.sleep_until(STOP)
        scheduler.stop(grace=0)
    if len(seen) != len(hook.outcomes):
        msg = f"{loop.name}: {len(seen)} runs ended but {len(hook.outcomes)} outcomes"
        raise RuntimeError(msg)
    runs = [
        Run(window, start, end, outcome)
        for (window, start, end), outcome in zip(seen, hook.outcomes, strict=True)
    ]
    return runs, scheduler.stats()[loop.name]


def _sleeps(seconds: float) -> Callable[[], Awaitable[None]]:
    async def job() -> None:
        await trio.sleep(seconds)

    return job


def _loop(run: float, **options: object) -> Loop:
    return Loop(
        name="job",
        fn=_sleeps(run),
        interval=1,
        jitter=0,
        **options,  # type: ignore[arg-type]
    )


async def _pause(scheduler: Scheduler) -> None:
    await scheduler.pause("job")


async def _resume(scheduler: Scheduler) -> None:
    await scheduler.resume("job")


async def _update(scheduler: Scheduler) -> None:
    scheduler.update("job", interval=2)


def _lanes() -> list[Lane]:
    """Every lane, each in a run of Trio of its own, so its clock starts at 0."""
    whole = [float(k) for k in range(int(WATCH))]
    lanes = [
        Lane(f'overlap="{overlap}"', *_run(_loop(LONG_RUN, overlap=overlap)), whole)
        for overlap in ("skip", "buffer_one", "replace")
    ]
    runs, stats = _run(_loop(SHORT_RUN), ((PAUSE_AT, _pause), (RESUME_AT, _resume)))
    lanes.append(
        Lane(
            f"pause at {PAUSE_AT:g},\nresume at {RESUME_AT:g}",
            runs,
            stats,
            whole,
            paused=(PAUSE_AT, RESUME_AT),
        )
    )
    runs, stats = _run(_loop(SHORT_RUN), ((UPDATE_AT, _update),))
    lanes.append(
        Lane(
            f"update(interval=2)\nat {UPDATE_AT:g}",
            runs,
            stats,
            [0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0],
            updated_at=UPDATE_AT,
        )
    )
    return lanes


def _run(loop: Loop, actions: Sequence[Action] = ()) -> tuple[list[Run], LoopStats]:
    """`_timeline` on a fresh MockClock that jumps to each next deadline."""
    clock = trio.testing.MockClock(autojump_threshold=0)
    return trio.run(_timeline, loop, actions, clock=clock)


def _check(lanes: list[Lane]) -> None:
    """Exit (writing nothing) unless every lane ran as the docs say it does."""
    skip, buffer_one, replace, paused, updated = lanes
    expected: list[tuple[str, object, object]] = [
        ("skip starts", [r.start for r in skip.runs], [0, 3, 6, 9]),
        ("buffer_one starts", [r.start for r in buffer_one.runs], [0, 2.5, 5, 7.5]),
        # The kept tick runs as its own window, late.
        ("buffer_one windows", [r.window for r in buffer_one.runs], [0, 1, 3, 6]),
        ("replace starts", [r.start for r in replace.runs], list(range(10))),
        (
            "replace outcomes",
            [r.outcome for r in replace.runs],
            ["replaced"] * 9 + ["cancelled"],
        ),
        # A replaced run ends when the next one starts.
        (
            "replace cut at",
            [r.end for r in replace.runs[:-1]],
            [r.start for r in replace.runs[1:]],
        ),
        ("pause starts", [r.start for r in paused.runs], [0, 1, 2, 3, 8, 9]),
        ("paused windows", paused.stats.paused, 4),
        ("update starts", [r.start for r in updated.runs], [0, 1, 2, 3, 4, 6, 8]),
        ("update runs counted", updated.stats.runs, 7),
    ]
    # The long runs in flight at the stop are cut by it; every other run
    # ends by itself (or, with replace, at the next tick).
    in_flight = [r for lane in lanes for r in lane.runs if r.end == STOP]
    expected.append(
        (
            "cut by the stop",
            in_flight,
            [*skip.runs[-1:], *buffer_one.runs[-1:], *replace.runs[-1:]],
        )
    )
    expected.append(
        ("outcome at the stop", {r.outcome for r in in_flight}, {"cancelled"})
    )
    for lane in (skip, buffer_one, paused, updated):
        ended = [r for r in lane.runs if r not in in_flight]
        expected.append(
            (f"{lane.label} outcomes", {r.outcome for r in ended}, {"succeeded"})
        )
        expected.append(
            (
                f"{lane.label} durations",
                {round(r.end - r.start, 9) for r in ended},
                {LONG_RUN if lane in (skip, buffer_one) else SHORT_RUN},
            )
        )
    wrong = [
        f"{what}: ran {got}, expected {want}"
        for what, got, want in expected
        if got != want
    ]
    if wrong:
        sys.exit("timelines differ from the docs:\n" + "\n".join(wrong))


# A run cut by the stop at the right edge is drawn as a run: it was in flight.
COLOURS = {"succeeded": "tab:blue", "cancelled": "tab:blue", "replaced": "tab:orange"}


def _draw_lane(axes: Axes, y: float, lane: Lane) -> None:
    """Bars for the runs, tick marks under them, the pause and the update."""
    height = 0.5
    if lane.paused is not None:
        start, end = lane.paused
        axes.fill_between(
            [start, end], y - 0.45, y + 0.45, color="0.85", zorder=0, linewidth=0
        )
        axes.text(
            (start + end) / 2, y, "paused", ha="center", va="center", color="0.35"
        )
    for run in lane.runs:
        replaced = run.outcome == "replaced"
        axes.barh(
            y,
            run.end - run.start,
            left=run.start,
            height=height,
            color=COLOURS.get(run.outcome, "tab:gray"),
            edgecolor="white",
            linewidth=1,
            hatch="///" if replaced else None,
            zorder=2,
        )
        if run.window != run.start:  # a buffered tick, run late as its window
            axes.annotate(
                "",
                xy=(run.start, y - height / 2),
                xytext=(run.window, y - height / 2 - 0.2),
                arrowprops={"arrowstyle": "->", "color": "0.3", "linewidth": 0.8},
                zorder=3,
            )
    axes.vlines(lane.ticks, y - height / 2 - 0.22, y - height / 2 - 0.02, color="k")
    if lane.updated_at is not None:
        axes.plot(
            [lane.updated_at],
            [y + height / 2 + 0.12],
            marker="v",
            color="tab:green",
            markersize=9,
            linestyle="none",
            zorder=3,
        )


def draw(lanes: list[Lane]) -> None:
    """Write OUT: one lane per policy, top to bottom."""
    figure, axes = plt.subplots(figsize=(8, 5), dpi=110, layout="constrained")
    ys = list(range(len(lanes), 0, -1))
    for y, lane in zip(ys, lanes, strict=True):
        _draw_lane(axes, y, lane)
    axes.axvline(WATCH, color="0.3", linestyle=":", linewidth=1.2)
    axes.text(WATCH, len(lanes) + 0.5, "stop ", ha="right", va="center", color="0.3")
    axes.set_yticks(ys, [lane.label for lane in lanes])
    axes.set_ylim(0.4, len(lanes) + 0.6)
    axes.set_xlim(-0.2, WATCH + 0.2)
    axes.set_xticks(range(int(WATCH) + 1))
    axes.set_xlabel("time, s (interval 1 s, jitter 0)")
    axes.set_title(
        f"Run policies: runs of {LONG_RUN:g} s (top three) and {SHORT_RUN:g} s"
    )
    axes.grid(visible=True, axis="x", alpha=0.3)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    handles = [
        Patch(facecolor=COLOURS["succeeded"], label="run"),
        Patch(
            facecolor=COLOURS["replaced"],
            hatch="///",
            edgecolor="white",
            label="run cut by the next tick",
        ),
        Patch(facecolor="0.85", label="paused"),
        axes.vlines([], 0, 0, color="k", label="tick (grid instant)"),
        axes.plot(
            [],
            [],
            marker="v",
            color="tab:green",
            linestyle="none",
            label="update(interval=2)",
        )[0],
        Line2D(
            [],
            [],
            color="0.3",
            linewidth=0.8,
            marker=">",
            markersize=4,
            label="kept tick, run late",
        ),
    ]
    axes.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.14),
        ncols=3,
        frameon=False,
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(OUT, dpi=110, metadata={"Software": None})
    plt.close(figure)


def main() -> None:
    """Run the lanes, check them, draw them."""
    logging.getLogger("tickwork").setLevel(logging.ERROR)  # overruns are the point
    lanes = _lanes()
    _check(lanes)
    draw(lanes)
    print(f"wrote {OUT.relative_to(Path(__file__).parent.parent)}")  # noqa: T201


if __name__ == "__main__":
    main()
