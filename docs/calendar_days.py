# ruff: noqa: INP001 - a script run by hand, not part of a package
"""Draw docs/img/dst-days.png: the gap and fold policies on two real days.

``30 2 * * *`` (daily at 02:30) and ``0 * * * *`` (hourly) in Europe/Berlin,
computed with `CronSchedule` under each policy, on the spring-forward day
2026-03-29 (at 01:00 UTC the clocks jump from 02:00 CET to 03:00 CEST, so
02:00-02:59 never happen) and on the fall-back day 2026-10-25 (at 01:00 UTC
they go back from 03:00 CEST to 02:00 CET, so 02:00-02:59 happen twice).
Each lane is one schedule on a UTC axis; the top axis gives the local time.

The script checks the fire times against the ones docs/calendar.md and the
tests state before it draws (the gap shifts 02:30 to 03:00 CEST, 01:00 UTC,
or skips it; the fold fires at 00:30 UTC, 01:30 UTC or both, ...), so the
picture cannot drift from the behaviour; a mismatch exits with the lane,
what fired and what was expected, and writes nothing.

Run it from a clone, with the bench dependency group (which has matplotlib)
installed, e.g. in the environment ``nox -s bench`` makes::

    python docs/calendar_days.py

The PNG is deterministic for a given matplotlib: fixed size and dpi, no
version or date in its metadata.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import attrs
import matplotlib as mpl

from tickwork._cron import CronSchedule

mpl.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

if TYPE_CHECKING:
    from matplotlib.axes import Axes

OUT = Path(__file__).parent / "img" / "dst-days.png"
UTC = timezone.utc
ZONE_NAME = "Europe/Berlin"
ZONE = ZoneInfo(ZONE_NAME)
DAILY, HOURLY = "30 2 * * *", "0 * * * *"
HOURS = 6  # each panel shows 6 hours of UTC, the change in the middle


@attrs.frozen
class Day:
    """One transition day: its panel's window and the policies it shows."""

    title: str
    start: datetime  # the panel's left edge, UTC
    change: datetime  # the instant of the offset change, UTC
    policies: tuple[tuple[str, dict[str, str]], ...]


@attrs.frozen
class Lane:
    """One schedule's fires inside a panel's window."""

    expression: str
    policy: str
    fires: list[datetime]


SPRING = Day(
    "2026-03-29, spring forward: 02:00-02:59 never happen",
    datetime(2026, 3, 28, 22, tzinfo=UTC),
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    (('on_gap="shift" (default)', {}), ('on_gap="skip"', {"on_gap": "skip"})),
)
AUTUMN = Day(
    "2026-10-25, fall back: 02:00-02:59 happen twice",
    datetime(2026, 10, 24, 22, tzinfo=UTC),
    datetime(2026, 10, 25, 1, tzinfo=UTC),
    (
        ('on_fold="first" (default)', {}),
        ('on_fold="last"', {"on_fold": "last"}),
        ('on_fold="both"', {"on_fold": "both"}),
    ),
)


def _utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def _lanes(day: Day) -> list[Lane]:
    """Every (expression, policy) of *day*, its fires in the window."""
    end = day.start + timedelta(hours=HOURS)
    lanes = []
    for expression in (DAILY, HOURLY):
        for label, options in day.policies:
            schedule = CronSchedule(expression, timezone=ZONE_NAME, **options)  # type: ignore[arg-type]
            fires = []
            for fire in schedule.fire_times(day.start - timedelta(microseconds=1)):
                if fire >= end:
                    break
                fires.append(fire)
            lanes.append(Lane(expression, label, fires))
    return lanes


def _check(spring: list[Lane], autumn: list[Lane]) -> None:
    """Exit (writing nothing) unless every lane fired as the docs say it does."""
    hours = [_utc(3, 28, 22), _utc(3, 28, 23), _utc(3, 29, 0)]
    after = [_utc(3, 29, h) for h in range(1, 4)]
    expected = {
        (DAILY, spring[0].policy): [_utc(3, 29, 1)],  # 03:00 CEST
        (DAILY, spring[1].policy): [],
        # 02:00 shifts to 03:00 CEST, which fires once anyway: same either way.
        (HOURLY, spring[0].policy): hours + after,
        (HOURLY, spring[1].policy): hours + after,
        (DAILY, autumn[0].policy): [_utc(10, 25, 0, 30)],  # 02:30 CEST
        (DAILY, autumn[1].policy): [_utc(10, 25, 1, 30)],  # 02:30 CET
        (DAILY, autumn[2].policy): [_utc(10, 25, 0, 30), _utc(10, 25, 1, 30)],
    }
    # Hourly in the fold: 02:00 CEST is 00:00 UTC, 02:00 CET is 01:00 UTC.
    before = [_utc(10, 24, 22), _utc(10, 24, 23)]
    later = [_utc(10, 25, h) for h in (2, 3)]
    expected[HOURLY, autumn[0].policy] = [*before, _utc(10, 25, 0), *later]
    expected[HOURLY, autumn[1].policy] = [*before, _utc(10, 25, 1), *later]
    expected[HOURLY, autumn[2].policy] = [
        *before,
        _utc(10, 25, 0),
        _utc(10, 25, 1),
        *later,
    ]
    wrong = [
        f"{lane.expression} {lane.policy}: fired {lane.fires}, expected {want}"
        for lane in (*spring, *autumn)
        if lane.fires != (want := expected[lane.expression, lane.policy])
    ]
    if wrong:
        sys.exit("fire times differ from the docs:\n" + "\n".join(wrong))


def _local(instant: datetime) -> str:
    local = instant.astimezone(ZONE)
    return f"{local:%H:%M} {local:%Z}"


def _x(day: Day, instant: datetime) -> float:
    return (instant - day.start) / timedelta(hours=1)


COLOURS = {DAILY: "tab:blue", HOURLY: "tab:orange"}


def _shade(axes: Axes, day: Day, top: float) -> None:
    """The change: a line for the gap, the two passes for the fold."""
    change = _x(day, day.change)
    if day is SPRING:
        axes.axvline(change, color="tab:red", linewidth=1.2, zorder=1)
        axes.text(
            change,
            top,
            " 02:00 CET becomes 03:00 CEST",
            color="tab:red",
            va="bottom",
            ha="left",
            fontsize=8,
        )
        return
    for start, label, colour in (
        (change - 1, "02:00-02:59\nCEST", "0.88"),
        (change, "02:00-02:59\nCET", "0.78"),
    ):
        axes.axvspan(start, start + 1, color=colour, zorder=0, linewidth=0)
        axes.text(start + 0.5, top, label, ha="center", va="bottom", fontsize=8)


def _panel(axes: Axes, day: Day, lanes: list[Lane]) -> None:
    ys = list(range(len(lanes), 0, -1))
    _shade(axes, day, len(lanes) + 0.45)
    for y, lane in zip(ys, lanes, strict=True):
        xs = [_x(day, fire) for fire in lane.fires]
        daily = lane.expression == DAILY
        axes.plot(
            xs,
            [y] * len(xs),
            marker="D" if daily else "o",
            markersize=8 if daily else 6,
            color=COLOURS[lane.expression],
            linestyle="none",
            zorder=3,
        )
        for fire, x in zip(lane.fires, xs, strict=True):
            if daily:
                axes.text(x, y + 0.22, _local(fire), ha="center", fontsize=8)
        if not lane.fires and daily:
            axes.text(_x(day, day.change), y, "  no fire", va="center", color="0.35")
    axes.set_yticks(ys, [f"{lane.expression}\n{lane.policy}" for lane in lanes])
    axes.set_ylim(0.4, len(lanes) + 1.1)
    axes.set_xlim(-0.15, HOURS + 0.15)
    ticks = [day.start + timedelta(hours=h) for h in range(HOURS + 1)]
    axes.set_xticks(range(HOURS + 1), [f"{t:%H:%M}" for t in ticks])
    axes.set_xlabel("UTC")
    local = axes.twiny()
    local.set_xlim(axes.get_xlim())
    local.set_xticks(range(HOURS + 1), [_local(t) for t in ticks], fontsize=8)
    local.set_xlabel(f"{ZONE_NAME} local time", fontsize=9)
    axes.set_title(day.title, fontsize=10, loc="left")
    axes.grid(visible=True, axis="x", alpha=0.3)
    axes.set_axisbelow(True)
    for each in (axes, local):
        each.spines["right"].set_visible(False)


def draw(spring: list[Lane], autumn: list[Lane]) -> None:
    """Write OUT: the spring-forward day above the fall-back day."""
    figure, (top, bottom) = plt.subplots(
        2,
        1,
        figsize=(8, 8.5),
        dpi=110,
        layout="constrained",
        height_ratios=[len(spring), len(autumn)],
    )
    _panel(top, SPRING, spring)
    _panel(bottom, AUTUMN, autumn)
    handles = [
        Line2D(
            [],
            [],
            marker="D",
            color=COLOURS[DAILY],
            linestyle="none",
            label=f"fire of {DAILY} (local time above it)",
        ),
        Line2D(
            [],
            [],
            marker="o",
            color=COLOURS[HOURLY],
            linestyle="none",
            label=f"fire of {HOURLY}",
        ),
        Patch(facecolor="0.83", label="a local hour that happens twice"),
        Line2D([], [], color="tab:red", label="a local hour that never happens"),
    ]
    figure.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(OUT, dpi=110, metadata={"Software": None})
    plt.close(figure)


def main() -> None:
    """Compute the lanes, check them, draw them."""
    spring, autumn = _lanes(SPRING), _lanes(AUTUMN)
    _check(spring, autumn)
    draw(spring, autumn)
    print(f"wrote {OUT.relative_to(Path(__file__).parent.parent)}")  # noqa: T201


if __name__ == "__main__":
    main()
