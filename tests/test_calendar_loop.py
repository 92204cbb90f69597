"""Calendar loops: `Loop(schedule=CronSchedule(...))`, in-process and coordinated.

Every test runs on MockClock with a wall clock derived from it (EPOCH plus
Trio's clock) that a test may step forward or back, as NTP or an operator
would.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import attrs
import pytest
import trio
import trio.testing
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tickwork import (
    CronSchedule,
    InvalidConfigError,
    Loop,
    LoopStats,
    Scheduler,
    WrongTypeError,
    current_run,
)
from tickwork.triggers import MemoryTriggerStore

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

UTC = timezone.utc
EPOCH = datetime(2026, 3, 28, 23, 58, tzinfo=UTC).timestamp()
"""Trio's clock 0: Saturday 23:58 UTC, two minutes before a whole hour."""
MINUTE = 60.0


@attrs.define
class Wall:
    """A wall clock that follows Trio's and can be stepped."""

    epoch: float = EPOCH
    step: float = 0.0

    def __call__(self) -> float:
        """Seconds since the epoch: Trio's clock from *epoch*, plus the steps."""
        return self.epoch + self.step + trio.current_time()


Runs = list[tuple[float, str, float]]
"""(Trio time at start, window in UTC as ISO text, lateness) of each run."""


def _job(runs: Runs, seconds: float = 0.0) -> Callable[[], Awaitable[None]]:
    async def job() -> None:
        run = current_run()
        assert isinstance(run.window, datetime)
        assert isinstance(run.scheduled, datetime)
        runs.append((trio.current_time(), f"{run.window:%d %H:%M}", run.lateness))
        await trio.sleep(seconds)

    return job


def _cron(expression: str, **options: object) -> CronSchedule:
    return CronSchedule(expression, **options)  # type: ignore[arg-type]


def _one_loop(
    runs: Runs,
    expression: str,
    *,
    seconds: float = 0.0,
    wall: Callable[[], float] | None = None,
    **options: object,
) -> Scheduler:
    """A scheduler of one calendar loop, "job", whose runs go to *runs*.

    Each run takes *seconds*; *options* are the `Loop`'s.
    """
    loop = Loop(
        name="job",
        fn=_job(runs, seconds),
        schedule=_cron(expression),
        **options,  # type: ignore[arg-type]
    )
    return Scheduler([loop], wall_clock=Wall() if wall is None else wall)


async def _play(
    scheduler: Scheduler,
    until: float,
    actions: dict[float, Callable[[], object]] | None = None,
) -> None:
    """Run *scheduler* until Trio time *until*, doing each action at its time."""
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        for at, action in sorted((actions or {}).items()):
            await trio.sleep_until(at)
            result = action()
            if inspect.isawaitable(result):
                await result
        await trio.sleep_until(until)
        scheduler.stop()


# --- construction --------------------------------------------------------------


async def _noop() -> None:
    pass


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "exactly one of 'interval' (seconds) and 'schedule'"),
        (
            {"interval": 60, "schedule": CronSchedule("@hourly")},
            (
                "exactly one of 'interval' (seconds) and 'schedule' "
                "(a CronSchedule); got both"
            ),
        ),
        (
            {"schedule": CronSchedule("@hourly"), "jitter": 0.1},
            (
                "'jitter' must be 0 for a calendar loop: CronSchedule(jitter=...) "
                "spreads its fire times (got 0.1)"
            ),
        ),
    ],
)
def test_a_loop_takes_exactly_one_of_interval_and_schedule(
    options: dict[str, object], message: str
) -> None:
    """Neither, both, or an interval loop's jitter on a calendar: refused by name."""
    with pytest.raises(InvalidConfigError, match=re.escape(message)):
        Loop(name="job", fn=_noop, **options)  # type: ignore[arg-type]


def test_a_schedule_that_is_not_a_cron_schedule_is_a_type_error() -> None:
    """Cron text where a CronSchedule belongs: refused, naming the type."""
    with pytest.raises(WrongTypeError, match=r"'schedule' must be a CronSchedule"):
        Loop(name="job", fn=_noop, schedule="0 3 * * *")  # type: ignore[arg-type]


def test_a_calendar_loop_defaults_to_no_run_on_start_and_no_tick_schedule() -> None:
    """A calendar loop waits for its first fire time; an interval loop runs at once."""
    loop = Loop(name="job", fn=_noop, schedule=CronSchedule("@daily"))
    assert (loop.interval, loop.jitter, loop.run_on_start, loop.calendar) == (
        None,
        0.0,
        False,
        True,
    )
    with pytest.raises(InvalidConfigError, match="is a calendar loop"):
        _ = loop.tick_schedule
    interval = Loop(name="job", fn=_noop, interval=5)
    assert (interval.jitter, interval.run_on_start, interval.calendar) == (
        0.1,
        True,
        False,
    )


# --- in-process ----------------------------------------------------------------


async def test_a_calendar_loop_runs_at_its_fire_times_with_utc_windows(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Every 5 minutes from 23:58: 00:00, 00:05, 00:10, on time."""
    runs: Runs = []
    scheduler = _one_loop(runs, "*/5 * * * *")
    await _play(scheduler, 13 * MINUTE)
    assert runs == [
        (2 * MINUTE, "29 00:00", 0.0),
        (7 * MINUTE, "29 00:05", 0.0),
        (12 * MINUTE, "29 00:10", 0.0),
    ]
    assert scheduler.stats()["job"].skipped == 0


async def test_run_on_start_runs_the_latest_fire_time_that_passed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """At 23:58, 23:55's run comes at once, 3 minutes late; then 00:00 on time."""
    runs: Runs = []
    loop = Loop(
        name="job", fn=_job(runs), schedule=_cron("*/5 * * * *"), run_on_start=True
    )
    await _play(Scheduler([loop], wall_clock=Wall()), 3 * MINUTE)
    assert runs == [(0.0, "28 23:55", 3 * MINUTE), (2 * MINUTE, "29 00:00", 0.0)]


async def test_a_wall_clock_step_forward_runs_the_latest_once_and_counts_skips(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """At 00:08:30 the wall clock jumps an hour: the latest window runs once.

    The next recheck (Trio minute 11, now 01:09) runs 01:05, 4 minutes late,
    and skips 00:10 ... 01:00.
    """
    caplog.set_level(logging.WARNING, "tickwork")
    runs: Runs = []
    wall = Wall()
    scheduler = _one_loop(runs, "*/5 * * * *", wall=wall)

    def jump() -> None:
        wall.step += 3600

    await _play(scheduler, 16 * MINUTE, {10.5 * MINUTE: jump})
    assert runs == [
        (2 * MINUTE, "29 00:00", 0.0),
        (7 * MINUTE, "29 00:05", 0.0),
        (11 * MINUTE, "29 01:05", 4 * MINUTE),
        (12 * MINUTE, "29 01:10", 0.0),
    ]
    assert scheduler.stats()["job"].skipped == 11  # 00:10 ... 01:00
    [line] = [r.getMessage() for r in caplog.records if "behind" in r.getMessage()]
    assert line == (
        "loop 'job' is 3540.000 s behind its calendar (the wall clock stepped "
        "forward, or a late wake): its latest fire time runs now and the 11 before "
        "it were skipped"
    )


async def test_a_wall_clock_step_back_never_runs_a_window_twice(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """At 00:06 the wall clock goes back 10 minutes: 00:00 and 00:05 do not rerun."""
    runs: Runs = []
    wall = Wall()
    scheduler = _one_loop(runs, "*/5 * * * *", wall=wall)

    def back() -> None:
        wall.step -= 10 * MINUTE

    await _play(scheduler, 20 * MINUTE, {8 * MINUTE: back})
    # Back at 00:06 -> 23:56: 00:10 comes at Trio time 2 + 10 + 10 = 22 min.
    assert [(start, window) for start, window, _ in runs] == [
        (2 * MINUTE, "29 00:00"),
        (7 * MINUTE, "29 00:05"),
    ]
    stats = scheduler.stats()["job"]
    assert (stats.runs, stats.skipped) == (2, 0)


async def test_a_step_during_a_long_sleep_is_noticed_within_60_seconds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Daily at 03:00; at 23:58 + 10 s the clock jumps to 03:00:30 next day."""
    runs: Runs = []
    wall = Wall()
    scheduler = _one_loop(runs, "0 3 * * *", wall=wall)

    def jump() -> None:
        wall.step += 3 * 3600 + 2 * MINUTE + 20  # 23:58:10 -> 03:00:30

    await _play(scheduler, 200, {10: jump})
    [(start, window, lateness)] = runs
    assert window == "29 03:00"
    assert 10 < start <= 10 + 60
    assert lateness == pytest.approx(start - 10 + 30)  # 30 s past 03:00 at the jump


async def test_spring_forward_shifts_and_fall_back_fires_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """30 2 * * * in Berlin from 2026-03-28: 01:00Z on 03-29 (shifted), then 00:30Z."""
    runs: Runs = []
    loop = Loop(
        name="job",
        fn=_job(runs),
        schedule=_cron("30 2 * * *", timezone="Europe/Berlin"),
    )
    await _play(Scheduler([loop], wall_clock=Wall()), 2 * 86400)
    assert [window for _, window, _ in runs] == ["29 01:00", "30 00:30"]
    fall = datetime(2026, 10, 24, 12, tzinfo=UTC).timestamp()
    runs.clear()
    loop = attrs.evolve(loop, schedule=_cron("30 2 * * *", timezone="Europe/Berlin"))
    later = Wall(epoch=fall - trio.current_time())
    await _play(Scheduler([loop], wall_clock=later), 4 * 86400)
    assert [window for _, window, _ in runs] == ["25 00:30", "26 01:30"]


@pytest.mark.parametrize(
    ("overlap", "expected", "counters"),
    [
        ("skip", [(1, "23:59"), (4, "00:02")], (4, 0)),  # 2, then 2 as it ends
        ("buffer_one", [(1, "23:59"), (3.5, "00:00"), (6, "00:02")], (3, 0)),
        (
            "replace",
            [(1, "23:59"), *((m, f"00:0{m - 2}") for m in range(2, 7))],
            (0, 5),
        ),
    ],
)
async def test_overlap_policies_on_a_calendar(
    autojump_clock: trio.testing.MockClock,
    overlap: str,
    expected: list[tuple[float, str]],
    counters: tuple[int, int],
) -> None:
    """Every minute from 23:59 (Trio minute 1), runs of 150 s, as interval loops do."""
    runs: Runs = []
    scheduler = _one_loop(runs, "* * * * *", seconds=150, overlap=overlap)
    await _play(scheduler, 6.2 * MINUTE)
    assert [(start / MINUTE, window[3:]) for start, window, _ in runs] == expected
    stats = scheduler.stats()["job"]
    assert (stats.skipped, stats.replaced) == counters


async def test_pause_resume_and_update_a_calendar_loop(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Every minute from 23:59; paused 00:01:30-00:04:12; hourly after 00:05:30."""
    runs: Runs = []
    scheduler = _one_loop(runs, "* * * * *")

    def update() -> None:
        scheduler.update("job", schedule=_cron("0 * * * *"))

    await _play(
        scheduler,
        70 * MINUTE,
        {
            3.5 * MINUTE: lambda: scheduler.pause("job"),
            6.2 * MINUTE: lambda: scheduler.resume("job"),
            7.5 * MINUTE: update,
        },
    )
    assert [window for _, window, _ in runs] == [
        "28 23:59",
        "29 00:00",
        "29 00:01",
        "29 00:05",
        "29 00:06",  # the window due after the update still fires
        "29 01:00",
    ]
    stats = scheduler.stats()["job"]
    assert (stats.paused, stats.runs) == (3, 6)  # 00:02, 00:03, 00:04


async def test_update_keeps_a_loops_kind(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """An interval loop takes no schedule, a calendar loop no interval."""
    calendar = Loop(name="cal", fn=_noop, schedule=_cron("@daily"))
    interval = Loop(name="int", fn=_noop, interval=5)
    scheduler = Scheduler([calendar, interval], wall_clock=Wall())
    with pytest.raises(InvalidConfigError, match="is a calendar loop and stays one"):
        scheduler.update("cal", interval=5)
    with pytest.raises(InvalidConfigError, match="is an interval loop and stays one"):
        scheduler.update("int", schedule=_cron("@daily"))
    assert scheduler.update("cal", timeout=3).timeout == 3


async def test_run_now_runs_a_calendar_loop_at_once_as_its_own_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """run_now at 23:58:10: its window is the instant it ran, not a fire time."""
    runs: Runs = []
    scheduler = _one_loop(runs, "0 3 * * *")
    await _play(scheduler, 20, {10: lambda: scheduler.run_now("job")})
    assert runs == [(10.0, "28 23:58", 0.0)]


# --- coordinated ---------------------------------------------------------------

COORDINATED_EPOCH = 1_800_000_000.0  # a whole minute: 10:00 of the outage


async def _outage(
    *, catch_up: str, limit: int = 10
) -> tuple[list[tuple[float, float, bool]], LoopStats]:
    """Every replica of a "* * * * *" loop down from 10:00:30 to 10:05:10."""
    wall = Wall(epoch=COORDINATED_EPOCH)
    store = MemoryTriggerStore(clock=wall)
    runs: list[tuple[float, float, bool]] = []

    async def job() -> None:
        run = current_run()
        assert isinstance(run.window, datetime)
        window = run.window.timestamp() - COORDINATED_EPOCH
        runs.append((trio.current_time(), window, run.catching_up))

    def replica(name: str) -> Scheduler:
        loop = Loop(
            name="report",
            fn=job,
            schedule=_cron("* * * * *"),
            run_on_start=True,
            coordinated=True,
            catch_up=catch_up,  # type: ignore[arg-type]
            catch_up_limit=limit,
        )
        return Scheduler([loop], store=store, wall_clock=wall, replica=name)

    await _play(replica("a"), 30)
    await trio.sleep_until(310)
    second = replica("b")
    await _play(second, 390)
    return runs, second.stats()["report"]


@pytest.mark.parametrize(
    ("catch_up", "limit", "windows", "counts"),
    [
        ("latest", 10, [(310, 300, True)], (1, 4, 0)),
        ("skip", 10, [], (0, 5, 0)),
        ("all", 10, [(310, m * MINUTE, True) for m in range(1, 6)], (5, 0, 0)),
        ("all", 3, [(310, m * MINUTE, True) for m in (3, 4, 5)], (3, 0, 2)),
    ],
)
async def test_a_coordinated_calendar_loop_catches_up_as_its_policy_says(
    autojump_clock: trio.testing.MockClock,
    catch_up: str,
    limit: int,
    windows: list[tuple[float, float, bool]],
    counts: tuple[int, int, int],
) -> None:
    """The interval loop's outage timeline, on a calendar: the same runs."""
    runs, stats = await _outage(catch_up=catch_up, limit=limit)
    assert runs == [(0, 0, False), *windows, (360, 360, False)]
    assert (stats.caught_up, stats.missed, stats.lost) == counts


async def test_two_replicas_run_each_calendar_window_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Two replicas of an every-5-minutes loop with jitter: each window runs once."""
    wall = Wall()
    store = MemoryTriggerStore(clock=wall)
    runs: Runs = []
    schedule = _cron("*/5 * * * *", jitter=20, key="k")

    def replica(name: str) -> Scheduler:
        loop = Loop(name="job", fn=_job(runs), schedule=schedule, coordinated=True)
        return Scheduler([loop], store=store, wall_clock=wall, replica=name)

    a, b = replica("a"), replica("b")
    async with trio.open_nursery() as nursery:
        await nursery.start(a.run)
        await nursery.start(b.run)
        await trio.sleep_until(33 * MINUTE)
        a.stop()
        b.stop()
    windows = [window for _, window, _ in runs]
    assert windows == [f"29 00:{m:02}" for m in range(0, 31, 5)]
    fires = schedule.next_fire_times(datetime.fromtimestamp(EPOCH, UTC), 7)
    starts = [EPOCH + start for start, _, _ in runs]
    assert starts == pytest.approx([t.timestamp() for t in fires], abs=1e-3)
    total = a.stats()["job"].claims_lost + b.stats()["job"].claims_lost
    assert total == 7


# --- properties ------------------------------------------------------------------

EXPRESSIONS = ("* * * * *", "*/7 * * * *", "0 * * * *", "30 2 * * *", "0 9 * * 1-5")
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe")
DAY = 86400.0


@attrs.frozen
class Steps:
    """A calendar loop's setting and the wall-clock steps made while it runs."""

    expression: str
    zone: str
    start: float
    """The wall clock at Trio time 0."""
    steps: list[tuple[float, float]]
    """(Trio time, seconds added to the wall clock)."""
    run: float
    overlap: str


@st.composite
def stepped(draw: st.DrawFn) -> Steps:
    """A loop on one of a few calendars, started in 2026, and up to 4 steps."""
    start = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    return Steps(
        expression=draw(st.sampled_from(EXPRESSIONS)),
        zone=draw(st.sampled_from(ZONES)),
        start=start + draw(st.integers(0, 364 * 86400)),
        steps=sorted(
            draw(
                st.lists(
                    st.tuples(
                        st.floats(0, DAY),
                        st.sampled_from([-7200.0, -600.0, -30.0, 45.0, 3600.0, DAY]),
                    ),
                    max_size=4,
                )
            )
        ),
        run=draw(st.sampled_from([0.0, 1.0, 90.0])),
        overlap=draw(st.sampled_from(["skip", "buffer_one", "replace"])),
    )


def _day_of(schedule: CronSchedule, start: float) -> list[datetime]:
    """The fire times of *schedule* in the day from *start* on."""
    first = datetime.fromtimestamp(start, UTC)
    return list(
        itertools.takewhile(
            lambda t: t.timestamp() <= start + DAY - 1, schedule.fire_times(first)
        )
    )


def _once_each_never_early(
    schedule: CronSchedule, starts: list[tuple[datetime, float]]
) -> None:
    """Each window once, in order, a fire time, never started before it."""
    windows = [window for window, _ in starts]
    assert windows == sorted(set(windows))
    for window, at in starts:
        before = datetime.fromtimestamp(window.timestamp() - 1, UTC)
        assert schedule.next_fire_time(before) == window
        assert at >= window.timestamp()


def _stepped_run(
    s: Steps, *, coordinated: bool
) -> tuple[CronSchedule, list[tuple[float, datetime, float]]]:
    """Run *s*'s loop for a day of MockClock, stepping the wall clock.

    Returns the schedule and (Trio time, window, wall clock) of each run's
    start; a coordinated loop claims its windows in a store on that wall
    clock.
    """
    schedule = CronSchedule(s.expression, timezone=s.zone)
    wall = Wall(epoch=s.start)
    starts: list[tuple[float, datetime, float]] = []

    async def job() -> None:
        run = current_run()
        assert isinstance(run.window, datetime)
        starts.append((trio.current_time(), run.window, wall()))
        await trio.sleep(s.run)

    async def main() -> None:
        loop = Loop(
            name="job",
            fn=job,
            schedule=schedule,
            coordinated=coordinated,
            overlap=s.overlap,  # type: ignore[arg-type]
        )
        store = MemoryTriggerStore(clock=wall) if coordinated else None
        scheduler = Scheduler([loop], store=store, wall_clock=wall)
        async with trio.open_nursery() as nursery:
            await nursery.start(scheduler.run)
            for at, seconds in s.steps:
                await trio.sleep_until(at)
                wall.step += seconds
            await trio.sleep_until(DAY - 0.5)  # no fire time: whole seconds
            scheduler.stop(grace=0)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return schedule, starts


def _a_step_forward_runs_within_a_minute(
    s: Steps, schedule: CronSchedule, starts: list[float], since: float = 0.0
) -> None:
    """After a step forward past a fire time, a run starts within 60 s.

    Or as the run in flight ends (or is cut). Not checked for steps before
    *since*, when a step back came first (the fire time may then be one
    that the loop, already past it, rightly never runs) or when another
    step came before the watch's look, which sees only the sum.
    """
    for i, (at, seconds) in enumerate(s.steps):
        if (
            seconds <= 0
            or at < since
            or any(x < 0 for _, x in s.steps[:i])
            or any(t <= at + 60 for t, _ in s.steps[i + 1 :])
        ):
            continue
        moved = s.start + sum(x for _, x in s.steps[: i + 1]) + at
        passed = schedule.next_fire_time(datetime.fromtimestamp(moved - seconds, UTC))
        bound = at + 60 + s.run
        if passed.timestamp() <= moved and bound + 1 < DAY:
            assert any(at <= t <= bound for t in starts), (at, seconds)


@settings(max_examples=40, deadline=None)
@given(stepped())
def test_whatever_the_wall_clock_does_no_window_runs_twice_or_early(s: Steps) -> None:
    """Each window runs at most once, in order, never before its fire time.

    Every run is a fire time of the schedule; with no step every fire time of
    the day runs (short runs, skip); after a step forward past a fire time a
    run starts within 60 s, or as the run in flight ends.
    """
    schedule, starts = _stepped_run(s, coordinated=False)
    windows = [window for _, window, _ in starts]
    _once_each_never_early(schedule, [(window, at) for _, window, at in starts])
    if not s.steps and s.run <= 1 and s.overlap == "skip":
        assert windows == _day_of(schedule, s.start)
    _a_step_forward_runs_within_a_minute(s, schedule, [t for t, _, _ in starts])


async def test_a_step_back_at_the_checkpoint_before_a_due_run_starts_no_stray_run(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """run_on_start at 23:58, wall back 10 min before the loop's first look.

    The due 23:55 window is no longer due: the loop sleeps for it again and
    never runs a window that is not a fire time.
    """
    runs: Runs = []
    wall = Wall()
    loop = Loop(
        name="job", fn=_job(runs), schedule=_cron("*/5 * * * *"), run_on_start=True
    )
    scheduler = Scheduler([loop], wall_clock=wall)
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        await trio.lowlevel.checkpoint()  # the loop read the wall: 23:55 is due
        wall.step -= 10 * MINUTE  # 23:58 -> 23:48, before the loop's checkpoint
        await trio.sleep_until(15 * MINUTE)
        scheduler.stop()
    assert [window for _, window, _ in runs] == ["28 23:55", "29 00:00"]


# --- steps during a run, run_now and replace ------------------------------------


@pytest.mark.parametrize(
    ("overlap", "expected", "replaced"),
    [
        ("skip", [(2, "29 00:00", 0.0), (3.5, "29 01:00", 90.0)], 0),
        ("buffer_one", [(2, "29 00:00", 0.0), (3.5, "29 01:00", 90.0)], 0),
        # The cut comes at the recheck that sees 00:05 passed (01:01).
        ("replace", [(2, "29 00:00", 0.0), (3, "29 01:00", 60.0)], 1),
    ],
)
async def test_a_step_forward_during_a_run_runs_the_latest_whatever_the_overlap(
    autojump_clock: trio.testing.MockClock,
    overlap: str,
    expected: list[tuple[float, str, float]],
    replaced: int,
) -> None:
    """00:00's run takes 90 s; 30 s in, the wall clock jumps an hour.

    The fire times passed are not the run's doing: 01:00 runs next, once,
    and 00:05 ... 00:55 are skipped, for every overlap policy.
    """
    runs: Runs = []
    wall = Wall()
    scheduler = _one_loop(runs, "*/5 * * * *", seconds=90, overlap=overlap, wall=wall)

    def jump() -> None:
        wall.step += 3600

    await _play(scheduler, 5.5 * MINUTE, {2.5 * MINUTE: jump})
    assert [(start / MINUTE, window, late) for start, window, late in runs] == expected
    stats = scheduler.stats()["job"]
    assert (stats.skipped, stats.replaced) == (11, replaced)


async def test_a_replace_run_is_cut_when_the_wall_clock_reaches_the_next_fire_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Hourly, runs of 2 hours, replace; steps forward 50 min, then back.

    00:00's run (Trio minute 2) sees the wall clock jump to 00:58 at minute
    10: it is cut at 01:00 wall time, minute 12, not at minute 62. 01:00's
    run sees the wall clock go back 30 minutes: its cut follows, to 02:00
    wall time, at minute 102 rather than 72.
    """
    runs: Runs = []
    wall = Wall()
    scheduler = _one_loop(runs, "0 * * * *", seconds=7200, overlap="replace", wall=wall)

    def forward() -> None:
        wall.step += 50 * MINUTE

    def back() -> None:
        wall.step -= 30 * MINUTE

    await _play(scheduler, 103 * MINUTE, {10 * MINUTE: forward, 20 * MINUTE: back})
    assert [(start / MINUTE, window, late) for start, window, late in runs] == [
        (2, "29 00:00", 0.0),
        (12, "29 01:00", 0.0),
        (102, "29 02:00", 0.0),
    ]
    stats = scheduler.stats()["job"]
    assert (stats.replaced, stats.skipped) == (2, 0)


async def test_a_paused_replace_run_is_cut_at_the_resume(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Every minute, runs of 5 minutes, replace; paused from 23:59:30 to 00:00:30.

    00:00 passes while paused: the run goes on; the resume cuts it and
    00:00's run starts then, as for an interval loop.
    """
    runs: Runs = []
    scheduler = _one_loop(runs, "* * * * *", seconds=300, overlap="replace")
    await _play(
        scheduler,
        2.8 * MINUTE,
        {
            1.5 * MINUTE: lambda: scheduler.pause("job"),
            2.5 * MINUTE: lambda: scheduler.resume("job"),
        },
    )
    assert [(start / MINUTE, window) for start, window, _ in runs] == [
        (1, "28 23:59"),
        (2.5, "29 00:00"),
    ]
    assert scheduler.stats()["job"].replaced == 1


@pytest.mark.parametrize(
    ("overlap", "expected", "counters"),
    [
        ("skip", [(1, "28 23:59"), (7, "29 00:05")], (1, 0)),
        ("buffer_one", [(1, "28 23:59"), (2.5, "29 00:00"), (7, "29 00:05")], (0, 0)),
        ("replace", [(1, "28 23:59"), (2, "29 00:00"), (7, "29 00:05")], (0, 1)),
    ],
)
async def test_a_fire_time_passing_during_a_run_now_run_follows_the_overlap_policy(
    autojump_clock: trio.testing.MockClock,
    overlap: str,
    expected: list[tuple[float, str]],
    counters: tuple[int, int],
) -> None:
    """run_now at 23:59 runs 90 s, past 00:00: skipped, buffered or replacing."""
    runs: Runs = []
    scheduler = _one_loop(runs, "*/5 * * * *", seconds=90, overlap=overlap)
    await _play(scheduler, 7.5 * MINUTE, {MINUTE: lambda: scheduler.run_now("job")})
    assert [(start / MINUTE, window) for start, window, _ in runs] == expected
    stats = scheduler.stats()["job"]
    assert (stats.skipped, stats.replaced) == counters


async def test_an_update_while_paused_counts_the_new_calendars_windows(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Every minute, paused from 23:58:30; at 23:59:30 every 5 minutes.

    Paused: 23:59 (the old calendar), then 00:00, 00:05 and 00:10 (the new
    one, not the 11 minutes between); resumed at 00:10:30, 00:15 runs.
    """
    runs: Runs = []
    scheduler = _one_loop(runs, "* * * * *")

    def update() -> None:
        scheduler.update("job", schedule=_cron("*/5 * * * *"))

    await _play(
        scheduler,
        18 * MINUTE,
        {
            0.5 * MINUTE: lambda: scheduler.pause("job"),
            1.5 * MINUTE: update,
            12.5 * MINUTE: lambda: scheduler.resume("job"),
        },
    )
    assert [(start / MINUTE, window) for start, window, _ in runs] == [(17, "29 00:15")]
    assert scheduler.stats()["job"].paused == 4


async def test_loops_sharing_a_jittered_schedule_spread_apart_by_name(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """One CronSchedule with jitter and no key, two loops: keyed by their names.

    Each loop fires when its `fire_schedule` says, a copy renamed by
    `attrs.evolve` too; a schedule's own key is kept.
    """
    schedule = _cron("*/5 * * * *", jitter=240)
    starts: dict[str, list[float]] = {"a": [], "b": [], "c": []}

    def job(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            starts[name].append(EPOCH + trio.current_time())

        return run

    a = Loop(name="a", fn=job("a"), schedule=schedule)
    loops = [a, attrs.evolve(a, name="b", fn=job("b")), attrs.evolve(a, name="c")]
    loops[2] = attrs.evolve(loops[2], fn=job("c"), schedule=_cron("*/5 * * * *"))
    assert [loop.schedule for loop in loops[:2]] == [schedule, schedule]
    assert [loop.fire_schedule.key for loop in loops] == ["a", "b", ""]
    await _play(Scheduler(loops, wall_clock=Wall()), 31 * MINUTE)
    first = datetime.fromtimestamp(EPOCH, UTC)
    for loop in loops:
        fires = [t.timestamp() for t in loop.fire_schedule.next_fire_times(first, 6)]
        assert starts[loop.name] == pytest.approx(fires, abs=1e-3)
    assert starts["a"] != pytest.approx(starts["b"], abs=1.0)
    keyed = Loop(name="d", fn=_noop, schedule=_cron("@daily", jitter=60, key="mine"))
    assert keyed.fire_schedule == _cron("@daily", jitter=60, key="mine")
    with pytest.raises(InvalidConfigError, match="'d' is an interval loop"):
        _ = attrs.evolve(keyed, schedule=None, interval=60).fire_schedule


@pytest.mark.parametrize(
    ("step", "at", "expected", "missed"),
    [
        # 00:08:30 -> 01:08:30: the recheck at 01:09 runs 01:05, 4 min late;
        # 00:10 ... 01:00 passed unrun (catch_up="latest").
        (
            3600.0,
            10.5,
            [
                (2, "29 00:00"),
                (7, "29 00:05"),
                (11, "29 01:05"),
                *((m, f"29 01:{m - 2:02}") for m in (12, 17, 22)),
            ],
            11,
        ),
        # 00:06 -> 23:56: 00:00 and 00:05 do not rerun; 00:10 waits for 00:10.
        (-600.0, 8, [(2, "29 00:00"), (7, "29 00:05"), (22, "29 00:10")], 0),
    ],
)
async def test_a_coordinated_calendar_loop_follows_wall_clock_steps(
    autojump_clock: trio.testing.MockClock,
    step: float,
    at: float,
    expected: list[tuple[float, str]],
    missed: int,
) -> None:
    """A coordinated "*/5" loop, its wall clock stepped forward or back."""
    runs: Runs = []
    wall = Wall()
    store = MemoryTriggerStore(clock=wall)
    loop = Loop(
        name="job", fn=_job(runs), schedule=_cron("*/5 * * * *"), coordinated=True
    )
    scheduler = Scheduler([loop], store=store, wall_clock=wall)

    def move() -> None:
        wall.step += step

    await _play(scheduler, 23 * MINUTE, {at * MINUTE: move})
    assert [(start / MINUTE, window) for start, window, _ in runs] == expected
    stats = scheduler.stats()["job"]
    assert (stats.runs, stats.missed) == (len(expected), missed)


async def test_a_stop_lets_a_replace_run_keep_its_grace_not_its_fire_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Every minute, runs of 5 min, replace; stop(grace=90) at 23:59:30.

    The stop lifts the cut at 00:00: the run goes on until the grace ends
    (Trio minute 3) and is counted cancelled, not replaced; run ends cleanly.
    """
    runs: Runs = []
    scheduler = _one_loop(runs, "* * * * *", seconds=300, overlap="replace")
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        await trio.sleep_until(1.5 * MINUTE)
        scheduler.stop(grace=90)
    assert trio.current_time() == 3 * MINUTE
    stats = scheduler.stats()["job"]
    assert (stats.runs, stats.cancelled, stats.replaced) == (1, 1, 0)


async def test_a_drifting_wall_clock_keeps_fire_times_within_a_minutes_drift(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The wall clock runs 0.1 % fast: an hour's sleep would end 3.6 s late.

    The wall-clock watch converts the fire time again every minute the
    clocks part by more than 10 ms, so each hourly run is at most a
    minute's drift (60 ms) late.
    """
    runs: Runs = []

    def fast() -> float:
        return EPOCH + 1.001 * trio.current_time()

    loop = Loop(name="job", fn=_job(runs), schedule=_cron("0 * * * *"))
    await _play(Scheduler([loop], wall_clock=fast), 3 * 3600)
    assert [window for _, window, _ in runs] == ["29 00:00", "29 01:00", "29 02:00"]
    assert all(0 <= late <= 0.06 for _, _, late in runs), runs


async def test_a_calendar_loop_added_to_a_running_scheduler_follows_steps(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """An interval loop runs alone; a daily loop added later sees a step forward."""
    runs: Runs = []
    wall = Wall()
    ticker = Loop(name="tick", fn=_noop, interval=3600)
    scheduler = Scheduler([ticker], wall_clock=wall)

    def add() -> None:
        scheduler.add(Loop(name="job", fn=_job(runs), schedule=_cron("0 3 * * *")))

    def jump() -> None:
        wall.step += 3 * 3600 + 2 * MINUTE  # 23:58:20 -> 03:00:20

    await _play(scheduler, 200, {10: add, 20: jump})
    [(start, window, _)] = runs
    assert (window, 20 < start <= 20 + 60) == ("29 03:00", True)


@settings(max_examples=25, deadline=None)
@given(stepped())
@example(  # a step as 01:00's run ends: 02:00 runs, not 02:07
    Steps(
        expression="*/7 * * * *",
        zone="UTC",
        start=datetime(2026, 1, 1, tzinfo=UTC).timestamp(),
        steps=[(3601.0, 3600.0)],
        run=1.0,
        overlap="skip",
    )
)
def test_a_coordinated_calendar_loop_runs_no_window_twice_or_early(s: Steps) -> None:
    """The in-process property, for a coordinated loop on a store.

    Each window runs at most once, in order, never before its fire time,
    every run is a fire time of the schedule, and a step forward past a
    fire time runs within a minute, whatever the wall clock does (the
    store reads the same wall clock).
    """
    schedule, starts = _stepped_run(s, coordinated=True)
    windows = [window for _, window, _ in starts]
    _once_each_never_early(schedule, [(window, at) for _, window, at in starts])
    if not s.steps and s.run <= 1 and s.overlap == "skip":
        assert windows == _day_of(schedule, s.start)
    # A schedule no replica ever ran waits for its next window when it
    # does not run on start: steps before its first run are not catch-ups.
    first = starts[0][0] if starts else DAY
    _a_step_forward_runs_within_a_minute(
        s, schedule, [t for t, _, _ in starts], since=first
    )


@pytest.mark.parametrize("overlap", ["skip", "buffer_one"])
async def test_a_long_run_on_a_drifting_clock_is_an_overrun_not_a_step(
    autojump_clock: trio.testing.MockClock, overlap: str
) -> None:
    """Hourly, the wall clock 0.1 % fast, 00:00's run lasts 70 minutes.

    The wall clock gains 4.2 s during it: drift, not a step, so the overlap
    policy decides: skip skips 01:00 (the next run is 02:00), buffer_one
    runs it as the run ends.
    """
    runs: Runs = []

    def fast() -> float:
        return EPOCH + 1.001 * trio.current_time()

    job = _job(runs)

    async def first_long() -> None:
        await job()
        if len(runs) == 1:
            await trio.sleep(70 * MINUTE)

    loop = Loop(
        name="job",
        fn=first_long,
        schedule=_cron("0 * * * *"),
        overlap=overlap,  # type: ignore[arg-type]
    )
    scheduler = Scheduler([loop], wall_clock=fast)
    await _play(scheduler, 2.5 * 3600)
    windows = [window for _, window, _ in runs]
    if overlap == "skip":
        assert windows == ["29 00:00", "29 02:00"]
        assert scheduler.stats()["job"].skipped == 1
    else:
        assert windows == ["29 00:00", "29 01:00", "29 02:00"]


@given(
    elapsed=st.floats(0, 1e6),
    rate=st.floats(-0.002, 0.002),
    jump=st.floats(0.001, 1e5),
)
def test_a_step_is_what_drift_cannot_explain(
    elapsed: float, rate: float, jump: float
) -> None:
    """Drift up to 0.2 % is never a step; 1 s beyond 0.4 % of the run always is."""
    from tickwork._calendar_loop import stepped_forward  # noqa: PLC0415

    drifted = elapsed * (1 + rate)
    assert not stepped_forward(drifted, elapsed)
    assert stepped_forward(drifted + 1 + 0.004 * elapsed + jump, elapsed)
