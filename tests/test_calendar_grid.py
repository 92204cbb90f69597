"""`CalendarGrid`: a `CronSchedule`'s windows, as the runners and claims see them.

Each answer is checked against the schedule itself: the window starts are
the fire times of the same schedule without jitter, and a window fires at
the jittered schedule's fire time.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import zoneinfo

from hypothesis import given, settings
from hypothesis import strategies as st

from tickwork._cron import _NEVER, CalendarGrid, CronSchedule
from tickwork._lease import MAX_COUNTED

UTC = dt.timezone.utc
S = 1_000_000
EXPRESSIONS = (
    "* * * * *",
    "*/7 * * * *",
    "30 2 * * *",
    "0 9 * * 1-5",
    "0 0 29 2 *",
    "15,45 1-3 * * *",
    "@monthly",
)
ZONES = sorted(zoneinfo.available_timezones())
START = int(dt.datetime(1970, 1, 1, tzinfo=UTC).timestamp())
END = int(dt.datetime(2100, 1, 1, tzinfo=UTC).timestamp())


def _us(instant: dt.datetime) -> int:
    return round(instant.timestamp() * S)


def _at(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=us)


@st.composite
def grids(draw: st.DrawFn) -> tuple[CronSchedule, CalendarGrid, int]:
    """A schedule (any zone, either policy, jitter or none), its grid, an instant."""
    schedule = CronSchedule(
        draw(st.sampled_from(EXPRESSIONS)),
        timezone=draw(st.sampled_from(ZONES)),
        jitter=draw(st.sampled_from([0.0, 30.0, 600.0, 4e6])),
        on_gap=draw(st.sampled_from(["shift", "skip"])),
        on_fold=draw(st.sampled_from(["first", "last", "both"])),
        key=draw(st.sampled_from(["", "k"])),
    )
    instant = draw(st.integers(START, END)) * S + draw(st.integers(0, S - 1))
    return schedule, CalendarGrid(schedule), instant


def _nominal(schedule: CronSchedule) -> CronSchedule:
    return CronSchedule(
        schedule.expression,
        timezone=schedule.timezone,
        on_gap=schedule.on_gap,
        on_fold=schedule.on_fold,
    )


@settings(max_examples=150, deadline=None)
@given(grids(), st.integers(1, 4))
def test_starts_before_and_count_walk_the_unjittered_schedule(
    case: tuple[CronSchedule, CalendarGrid, int], n: int
) -> None:
    """Window starts are the schedule's fire times without jitter, whatever the walk."""
    schedule, grid, low = case
    expected = [_us(t) for t in _nominal(schedule).next_fire_times(_at(low - 1), 6)]

    def expected_from(instant: int) -> list[int]:
        return [_us(t) for t in _nominal(schedule).next_fire_times(_at(instant), 1)]

    starts = list(itertools.islice(grid.starts(low), 6))
    assert starts == expected
    high = starts[-1]
    assert grid.count(low, high) == 5
    assert grid.count(low, low) == 0
    before = grid.before(high, n)
    assert before == starts[5 - n : 5]
    assert grid.before(high, 0) == []
    for window, following in itertools.pairwise(starts):
        assert grid.following(window) == following
    # Any instant, in any order, whatever the grid walked before.
    for instant in (high - 1, low - 1, (low + high) // 2, starts[2], low - 10**9):
        assert grid.following(instant) == expected_from(instant)[0]
        assert grid.step(window) == following - window
        assert grid.index_of(window) == window
        assert grid.start(window) == window / S


@settings(max_examples=150, deadline=None)
@given(grids())
def test_a_window_fires_at_the_jittered_schedules_fire_time(
    case: tuple[CronSchedule, CalendarGrid, int],
) -> None:
    """fire(w) is the jittered fire time of w, before the next window's start."""
    schedule, grid, low = case
    window = next(grid.starts(low))
    [fire] = schedule.next_fire_times(_at(window - 1), 1)
    assert grid.fire_us(window) == _us(fire)
    assert grid.fire(window) == grid.fire_us(window) / S
    assert window <= grid.fire_us(window) < grid.following(window)


@settings(max_examples=150, deadline=None)
@given(grids())
def test_last_due_and_first_after_bracket_an_instant(
    case: tuple[CronSchedule, CalendarGrid, int],
) -> None:
    """The latest window fired by *now*, and the first still to fire, are neighbours."""
    _, grid, now_us = case
    now = now_us / S
    due = grid.last_due(now)
    after = grid.first_after(now)
    assert after == grid.following(due)
    assert grid.fire(due) <= now < grid.fire(after)


def test_the_last_window_of_the_range_is_followed_by_one_that_never_fires() -> None:
    """Yearly: the last window is in 9998; the one after it fires at infinity."""
    grid = CalendarGrid(CronSchedule("0 0 1 1 *", jitter=60))
    last = _us(dt.datetime(9998, 1, 1, tzinfo=UTC))
    assert grid.before(_NEVER, 1) == [last]
    assert grid.following(last) == _NEVER
    assert grid.fire(_NEVER) == math.inf
    assert grid.fire_us(_NEVER) == _NEVER
    assert last <= grid.fire_us(last) < last + 60 * S
    assert grid.first_after(1e15) == _NEVER


def test_count_stops_at_the_cap() -> None:
    """Every minute for 200 000 minutes: counted as MAX_COUNTED, no more."""
    grid = CalendarGrid(CronSchedule("* * * * *"))
    low = _us(dt.datetime(2026, 1, 1, tzinfo=UTC))
    assert grid.count(low, low + 200_000 * 60 * S) == MAX_COUNTED
    assert grid.count(low, low + 1_000 * 60 * S) == 1_000
