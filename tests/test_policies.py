"""Run policies on MockClock: overlap, pause, update, catch-up, exact timelines."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import TYPE_CHECKING

import attrs
import pytest
import trio
import trio.testing

from tickwork import InvalidConfigError, Loop, LoopStats, Scheduler, current_run
from tickwork.triggers import MemoryTriggerStore

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

EPOCH = 1_800_000_000.0  # a whole minute: windows of 60 s start on it
Action = tuple[float, "Callable[[Scheduler], Awaitable[object]]"]


def wall() -> float:
    """The wall clock: Trio's (mock) clock plus EPOCH."""
    return EPOCH + trio.current_time()


async def _timeline(
    loop: Loop, actions: Sequence[Action] = (), until: float = 10
) -> tuple[list[float], LoopStats]:
    """Run *loop* alone from 0 to *until*, doing *actions* at their instants."""
    starts: list[float] = []
    fn = loop.fn

    async def noted() -> None:
        starts.append(trio.current_time())
        await fn()

    scheduler = Scheduler([attrs.evolve(loop, fn=noted)])
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        for at, action in actions:
            await trio.sleep_until(at)
            await action(scheduler)
        await trio.sleep_until(until - 1e-6)
        scheduler.stop(grace=0)
    return starts, scheduler.stats()[loop.name]


async def _pause(scheduler: Scheduler) -> None:
    """An action: pause loop "job"."""
    await scheduler.pause("job")


async def _resume(scheduler: Scheduler) -> None:
    """An action: resume loop "job"."""
    await scheduler.resume("job")


def _runs_for(seconds: float) -> Callable[[], Awaitable[None]]:
    async def job() -> None:
        await trio.sleep(seconds)

    return job


def _loop(run: float, **options: object) -> Loop:
    settings: dict[str, object] = {"interval": 1, "jitter": 0}
    settings.update(options)
    return Loop(name="job", fn=_runs_for(run), **settings)  # type: ignore[arg-type]


async def test_skip_runs_at_0_3_6_9(autojump_clock: trio.testing.MockClock) -> None:
    """overlap="skip": a 2.5 s run every 1 s starts at 0, 3, 6, 9."""
    starts, stats = await _timeline(_loop(2.5))
    assert starts == [0, 3, 6, 9]
    assert stats.skipped == 6
    assert stats.replaced == 0


async def test_buffer_one_runs_the_first_missed_tick_when_the_run_ends(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """overlap="buffer_one": runs start at 0, 2.5, 5, 7.5; the rest are skipped."""
    starts, stats = await _timeline(_loop(2.5, overlap="buffer_one"))
    assert starts == [0, 2.5, 5, 7.5]
    # At 2.5 tick 1 is kept and tick 2 skipped; at 5, tick 3 kept, 4 and 5
    # skipped; at 7.5, tick 6 kept, 7 skipped.
    assert stats.skipped == 4
    assert stats.succeeded == 3


async def test_buffer_one_runs_the_kept_tick_as_that_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The buffered run's current_run() names the tick kept, with its lateness."""
    seen: list[tuple[float | datetime, float]] = []

    async def job() -> None:
        run = current_run()
        seen.append((run.window, run.lateness))
        await trio.sleep(2.5)

    loop = Loop(name="job", fn=job, interval=1, jitter=0, overlap="buffer_one")
    await _timeline(loop, until=6)
    assert seen == [(0, 0), (1, 1.5), (3, 2)]


async def test_replace_cancels_each_run_at_the_next_tick(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """overlap="replace": runs start at 0, 1, ..., 9; each is cut by the next."""
    starts, stats = await _timeline(_loop(2.5, overlap="replace"))
    assert starts == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert stats.replaced == 9
    assert stats.succeeded == 0
    assert stats.timed_out == 0
    assert stats.skipped == 0


async def test_replace_leaves_runs_that_end_in_time_alone(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A run shorter than the interval is never replaced."""
    starts, stats = await _timeline(_loop(0.5, overlap="replace"), until=3)
    assert starts == [0, 1, 2]
    assert (stats.replaced, stats.succeeded) == (0, 3)


async def test_a_timeout_before_the_next_tick_is_a_timeout_not_a_replace(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With replace, a timeout shorter than the interval still counts as timed out."""
    _, stats = await _timeline(_loop(5, overlap="replace", timeout=0.5), until=3)
    assert (stats.timed_out, stats.replaced) == (3, 0)


async def test_pause_and_resume_keep_the_grid_without_a_burst(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Paused at 3.5, resumed at 7.2: runs at 0, 1, 2, 3, 8, 9; 4 windows paused."""
    starts, stats = await _timeline(_loop(0.1), [(3.5, _pause), (7.2, _resume)])
    assert starts == [0, 1, 2, 3, 8, 9]
    assert stats.paused == 4
    assert stats.skipped == 0
    assert stats.runs == 6


async def test_a_paused_loop_refuses_run_now_and_pausing_twice_is_harmless(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """run_now is False while paused; a second pause or resume changes nothing."""
    answers: list[bool] = []

    async def pause(scheduler: Scheduler) -> None:
        await scheduler.pause("job")
        await scheduler.pause("job")
        answers.append(scheduler.run_now("job"))

    async def resume(scheduler: Scheduler) -> None:
        await scheduler.resume("job")
        await scheduler.resume("job")
        answers.append(scheduler.run_now("job"))

    starts, _ = await _timeline(_loop(0.1), [(1.5, pause), (2.5, resume)], until=4)
    assert answers == [False, True]
    assert starts == [0, 1, 2.5, 3]


async def test_a_pause_during_a_run_leaves_it_alone_and_its_overrun_counts_as_paused(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A run in flight finishes; replace does not cut it once the loop is paused."""
    starts, stats = await _timeline(
        _loop(2.5, overlap="replace"), [(0.5, _pause)], until=5
    )
    assert starts == [0]
    assert (stats.succeeded, stats.replaced) == (1, 0)
    assert stats.paused == 4  # ticks 1 ... 4


async def test_update_takes_effect_at_the_next_window_and_keeps_the_statistics(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """update(interval=2) at 3.5: runs at 0, 1, 2, 3, 4, 6, 8; the counts go on."""
    updated: list[Loop] = []

    async def update(scheduler: Scheduler) -> None:
        updated.append(scheduler.update("job", interval=2))

    starts, stats = await _timeline(_loop(0.1), [(3.5, update)])
    assert starts == [0, 1, 2, 3, 4, 6, 8]
    assert stats.runs == stats.succeeded == 7
    assert updated[0].interval == 2


async def test_update_does_not_disturb_a_run_in_flight(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A timeout given by update applies from the next run, not the one running."""

    async def update(scheduler: Scheduler) -> None:
        scheduler.update("job", timeout=0.5)

    starts, stats = await _timeline(_loop(0.8), [(0.1, update)], until=3)
    assert starts == [0, 1, 2]
    assert stats.succeeded == 1  # the run at 0, started before the update
    assert stats.timed_out == 2


async def test_updates_compose_and_bad_values_are_refused(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Two updates before the next window both apply; a bad one names the field."""
    errors: list[str] = []

    async def update(scheduler: Scheduler) -> None:
        scheduler.update("job", interval=2)
        scheduler.update("job", jitter=0.0, timeout=None)
        with pytest.raises(InvalidConfigError) as caught:
            scheduler.update("job", interval=0)
        errors.append(str(caught.value))

    starts, _ = await _timeline(_loop(0.1), [(0.5, update)], until=6)
    assert starts == [0, 1, 3, 5]
    assert "'interval'" in errors[0]
    assert "(got 0)" in errors[0]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "overlap",
            "queue",
            "'overlap' must be one of 'skip', 'buffer_one', 'replace'",
        ),
        ("catch_up", "every", "'catch_up' must be one of 'latest', 'skip', 'all'"),
        ("catch_up_limit", 0, "'catch_up_limit' must be >= 1 (got 0)"),
    ],
)
def test_bad_policies_are_refused_by_name(
    field: str, value: object, message: str
) -> None:
    """A policy out of its set names the field, the choices and the value."""
    with pytest.raises(InvalidConfigError, match=re.escape(message)):
        _loop(1, **{field: value})


# --- catch-up of coordinated loops --------------------------------------------

MINUTE = 60.0


async def _outage(
    *, catch_up: str, limit: int = 10, caplog: pytest.LogCaptureFixture | None = None
) -> tuple[list[tuple[float, float, bool]], LoopStats]:
    """Every replica down from 10:00:30 to 10:05:10 (10:00 is EPOCH).

    Returns (start, window offset, catching_up) of every run, and the second
    replica's statistics.
    """
    store = MemoryTriggerStore(clock=wall)
    runs: list[tuple[float, float, bool]] = []

    async def job() -> None:
        run = current_run()
        assert isinstance(run.window, datetime)
        runs.append(
            (trio.current_time(), run.window.timestamp() - EPOCH, run.catching_up)
        )

    def replica(name: str) -> Scheduler:
        loop = Loop(
            name="report",
            fn=job,
            interval=MINUTE,
            jitter=0,
            coordinated=True,
            catch_up=catch_up,  # type: ignore[arg-type]
            catch_up_limit=limit,
        )
        return Scheduler([loop], store=store, wall_clock=wall, replica=name)

    first = replica("a")
    async with trio.open_nursery() as nursery:
        await nursery.start(first.run)
        await trio.sleep_until(30)
        first.stop()
    await trio.sleep_until(310)
    second = replica("b")
    async with trio.open_nursery() as nursery:
        await nursery.start(second.run)
        await trio.sleep_until(390)
        second.stop()
    return runs, second.stats()["report"]


async def test_catch_up_latest_runs_the_most_recent_missed_window_once(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """With "latest", window 10:05 runs at 10:05:10 (catching up), then 10:06."""
    caplog.set_level(logging.WARNING, "tickwork")
    runs, stats = await _outage(catch_up="latest")
    assert runs == [(0, 0, False), (310, 300, True), (360, 360, False)]
    assert (stats.caught_up, stats.missed, stats.lost) == (1, 4, 0)
    [line] = [r for r in caplog.records if "catch-up" in r.getMessage()]
    assert line.levelno == logging.WARNING
    assert "5 window(s) passed" in line.getMessage()


async def test_catch_up_skip_runs_nothing_until_the_next_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With "skip", nothing runs for 10:01 ... 10:05; 10:06 fires on time."""
    runs, stats = await _outage(catch_up="skip")
    assert runs == [(0, 0, False), (360, 360, False)]
    assert (stats.caught_up, stats.missed, stats.lost) == (0, 5, 0)


async def test_catch_up_all_runs_every_missed_window_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With "all", 10:01 ... 10:05 run in order at 10:05:10, then 10:06."""
    runs, stats = await _outage(catch_up="all")
    assert runs == [
        (0, 0, False),
        *[(310, minute * MINUTE, True) for minute in range(1, 6)],
        (360, 360, False),
    ]
    assert (stats.caught_up, stats.missed, stats.lost) == (5, 0, 0)


async def test_catch_up_all_with_a_limit_records_the_oldest_as_lost_once(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """catch_up_limit=3: 10:03, 10:04, 10:05 run; 10:01 and 10:02 are lost."""
    caplog.set_level(logging.WARNING, "tickwork")
    runs, stats = await _outage(catch_up="all", limit=3)
    assert runs == [
        (0, 0, False),
        (310, 180, True),
        (310, 240, True),
        (310, 300, True),
        (360, 360, False),
    ]
    assert (stats.caught_up, stats.missed, stats.lost) == (3, 0, 2)
    lines = [r.getMessage() for r in caplog.records if "catch-up" in r.getMessage()]
    assert len(lines) == 1
    assert "2 recorded lost" in lines[0]


async def test_a_replace_run_in_flight_at_stop_finishes_within_the_grace(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """stop(grace=5) at 9.5: the run from 9 ends at 11.5, not cut as replaced at 10."""
    scheduler = Scheduler([_loop(2.5, overlap="replace")])
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        await trio.sleep_until(9.5)
        scheduler.stop(grace=5)
    assert trio.current_time() == 11.5
    stats = scheduler.stats()["job"]
    assert (stats.replaced, stats.succeeded, stats.cancelled) == (9, 1, 0)
    assert scheduler.shutdown_report is not None
    assert not scheduler.shutdown_report.timed_out


async def test_ticks_that_pass_during_a_run_after_a_pause_count_as_paused(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """overlap="skip", paused at 0.5 during a 2.5 s run: ticks 1 ... 4 are paused."""
    starts, stats = await _timeline(_loop(2.5), [(0.5, _pause)], until=5)
    assert starts == [0]
    assert (stats.paused, stats.skipped) == (4, 0)


async def test_a_replace_run_paused_and_resumed_is_cut_at_its_next_tick_again(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Pause at 0.5 and resume at 0.7 during a run: it is still replaced at 1."""
    starts, stats = await _timeline(
        _loop(2.5, overlap="replace"), [(0.5, _pause), (0.7, _resume)], until=5
    )
    assert starts == [0, 1, 2, 3, 4]
    assert stats.replaced == 4
