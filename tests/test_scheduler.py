"""Scheduler and open_scheduler under Trio's MockClock, with exact times."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest
import trio
import trio.lowlevel
import trio.testing

from tickwork import (
    InvalidConfigError,
    Loop,
    Scheduler,
    SchedulerStateError,
    ShutdownReport,
    TickworkError,
    UnknownLoopError,
    open_scheduler,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


class Recorder:
    """A loop body that records when it started and takes a fixed time."""

    def __init__(
        self, takes: float = 0.0, *, error: BaseException | None = None
    ) -> None:
        """Each run sleeps *takes* seconds, then raises *error* if given."""
        self.takes = takes
        self.error = error
        self.starts: list[float] = []

    async def __call__(self) -> None:
        """One run."""
        self.starts.append(trio.current_time())
        await trio.sleep(self.takes)
        if self.error is not None:
            raise self.error


async def run_for(
    scheduler: Scheduler, seconds: float, *, grace: float = 0.0
) -> ShutdownReport:
    """Run *scheduler*, stop it after *seconds* with *grace*, return its report."""

    async def stop_later() -> None:
        await trio.sleep(seconds)
        scheduler.stop(grace=grace)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(stop_later)
        return await scheduler.run()


def every(
    name: str,
    fn: Callable[[], Awaitable[object]],
    interval: float = 1.0,
    **kwargs: object,
) -> Loop:
    """A loop with jitter 0 unless asked otherwise."""
    options: dict[str, object] = {"jitter": 0.0, **kwargs}
    return Loop(name=name, fn=fn, interval=interval, **options)  # type: ignore[arg-type]


# --- ticking ---------------------------------------------------------------


async def test_run_on_start_runs_at_once_then_on_the_grid(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With run_on_start the first run is at 0, then at every interval."""
    body = Recorder()
    await run_for(Scheduler([every("a", body, 2.5)]), 10.5)
    assert body.starts == [0, 2.5, 5, 7.5, 10]


async def test_without_run_on_start_the_first_run_is_one_interval_later(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """run_on_start=False waits one interval for the first run."""
    body = Recorder()
    await run_for(Scheduler([every("a", body, 3, run_on_start=False)]), 10)
    assert body.starts == [3, 6, 9]


async def test_no_drift_over_two_thousand_ticks(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A run that takes time does not push later runs: run k starts at exactly k."""
    body = Recorder(takes=0.25)
    await run_for(Scheduler([every("a", body)]), 2000.5)
    assert body.starts == [float(k) for k in range(2001)]


async def test_jittered_runs_stay_in_their_band_and_seed_reproduces_them(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Each run is within jitter*interval/2 of its grid point; a seed repeats them."""
    runs: list[list[float]] = []
    for seed in (7, 7, 8):
        body = Recorder()
        start = trio.current_time()
        await run_for(Scheduler([every("a", body, 10, jitter=0.4)], seed=seed), 1000)
        runs.append([t - start for t in body.starts])
    first, again, other = runs
    # The runs are anchored at different clock values, so compare offsets to
    # within rounding.
    assert first == pytest.approx(again, abs=1e-9)
    assert first != pytest.approx(other, abs=1e-3)
    assert first[0] == 0
    for k, t in enumerate(first[1:], start=1):
        assert abs(t - 10 * k) <= 2 + 1e-9


async def test_overlap_is_skipped_not_queued(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The documented example: interval 1, 2.5 s runs: runs at 0, 3, 6, 9; 6 skips."""
    caplog.set_level(logging.WARNING, logger="tickwork")
    body = Recorder(takes=2.5)
    scheduler = Scheduler([every("slow", body)])
    report = await run_for(scheduler, 10)
    assert body.starts == [0, 3, 6, 9]
    stats = scheduler.stats()["slow"]
    assert stats.skipped == 6
    assert stats.runs == 4
    assert stats.succeeded == 3
    assert stats.cancelled == 1
    assert report == ShutdownReport(timed_out=True, cancelled=("slow",))
    overruns = [r for r in caplog.records if "overran" in r.getMessage()]
    assert len(overruns) == 3
    assert all(
        "'slow'" in r.getMessage() and "2.500 s" in r.getMessage() for r in overruns
    )
    assert all("2 tick(s)" in r.getMessage() for r in overruns)


async def test_a_1_2_second_run_on_a_1_second_loop_runs_every_other_tick(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The documented example: interval 1 with a 1.2 s run gives runs at 0, 2, 4, ..."""
    body = Recorder(takes=1.2)
    scheduler = Scheduler([every("a", body)])
    await run_for(scheduler, 9, grace=5)
    assert body.starts == [0, 2, 4, 6, 8]
    assert scheduler.stats()["a"].skipped == 5


async def test_a_late_wake_fires_late_and_skips_only_the_further_ticks(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A loop woken 1.5 s late runs at once (lateness), skipping only tick 2."""
    caplog.set_level(logging.WARNING, logger="tickwork")
    body = Recorder()
    events: list[tuple[str, float]] = []

    class Lateness:
        def on_run_started(self, *, loop: str, lateness: float) -> None:
            events.append((loop, lateness))

    scheduler = Scheduler([every("a", body)], hooks=[Lateness()])

    async def stall() -> None:
        await trio.sleep(0.5)
        autojump_clock.jump(2.0)  # the event loop was "blocked" until 2.5

    async with trio.open_nursery() as nursery:
        nursery.start_soon(stall)
        nursery.start_soon(run_for, scheduler, 4.5)
    assert body.starts == [0, 2.5, 3, 4]
    assert events == [("a", 0.0), ("a", 1.5), ("a", 0.0), ("a", 0.0)]
    assert scheduler.stats()["a"].skipped == 1
    # The skip is blamed on the late wake, not on a run that took 0 s.
    assert [r.getMessage() for r in caplog.records] == [
        (
            "loop 'a' woke 1.500 s late: its tick runs now and the 1 tick(s) "
            "that also passed meanwhile were skipped"
        )
    ]


# --- timeouts and errors -----------------------------------------------------


async def test_timeout_cuts_the_run_and_the_schedule_goes_on(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A run past its timeout is cancelled, counted and logged; the next is on time."""
    caplog.set_level(logging.WARNING, logger="tickwork")
    body = Recorder(takes=100)
    scheduler = Scheduler([every("stuck", body, 2, timeout=0.5)])
    await run_for(scheduler, 5)
    assert body.starts == [0, 2, 4]
    stats = scheduler.stats()["stuck"]
    assert (stats.timed_out, stats.skipped, stats.last_duration) == (3, 0, 0.5)
    timeouts = [r for r in caplog.records if "timed out" in r.getMessage()]
    assert len(timeouts) == 3
    assert all(
        r.levelno == logging.WARNING and "'stuck'" in r.getMessage() for r in timeouts
    )


async def test_an_exception_is_logged_counted_and_isolated(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A failing run logs ERROR with traceback; all loops keep their schedule."""
    caplog.set_level(logging.ERROR, logger="tickwork")
    failing = Recorder(error=RuntimeError("boom"))
    healthy = Recorder()
    scheduler = Scheduler([every("failing", failing), every("healthy", healthy)])
    await run_for(scheduler, 3.5)
    assert failing.starts == healthy.starts == [0, 1, 2, 3]
    assert scheduler.stats()["failing"].failed == 4
    assert scheduler.stats()["healthy"].succeeded == 4
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 4
    assert all("'failing'" in r.getMessage() for r in errors)
    assert all(r.exc_info is not None and r.exc_info[0] is RuntimeError for r in errors)


async def test_keyboard_interrupt_in_a_run_is_not_swallowed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A KeyboardInterrupt in a run leaves run() as itself, not in a group."""
    scheduler = Scheduler([every("a", Recorder(takes=1, error=KeyboardInterrupt()))])
    with pytest.raises(KeyboardInterrupt):
        await scheduler.run()
    assert trio.current_time() == 1


# --- shutdown ----------------------------------------------------------------


async def test_stop_with_nothing_in_flight_returns_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Idle loops end at once: run() returns at the instant of stop()."""
    scheduler = Scheduler(
        [every("a", Recorder(), 10), every("b", Recorder(), 7)], grace=30
    )
    report = await run_for(scheduler, 3, grace=30)
    assert trio.current_time() == 3
    assert report == ShutdownReport(timed_out=False, cancelled=())


async def test_stop_lets_in_flight_runs_finish_within_the_grace(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A run that ends before the grace deadline finishes and counts as succeeded."""
    body = Recorder(takes=4)
    scheduler = Scheduler([every("a", body, 10)])
    report = await run_for(scheduler, 1, grace=5)
    assert trio.current_time() == 4
    assert report == ShutdownReport(timed_out=False, cancelled=())
    assert scheduler.stats()["a"].succeeded == 1


async def test_stop_cancels_runs_still_in_flight_at_the_grace_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Runs past the grace are cancelled at stop + grace and named in the report."""
    slow, quick, idle = Recorder(takes=60), Recorder(takes=2), Recorder()
    scheduler = Scheduler(
        [every("slow", slow, 100), every("quick", quick, 100), every("idle", idle, 0.5)]
    )
    report = await run_for(scheduler, 1.25, grace=3)
    assert trio.current_time() == 4.25
    assert report == ShutdownReport(timed_out=True, cancelled=("slow",))
    stats = scheduler.stats()
    assert (stats["slow"].cancelled, stats["quick"].succeeded) == (1, 1)
    assert idle.starts == [0, 0.5, 1.0]


async def test_a_second_stop_can_shorten_the_grace(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """stop() is idempotent; a later stop(grace=0) cuts at once, never extends."""
    scheduler = Scheduler([every("slow", Recorder(takes=60), 100)], grace=30)

    async def stop_twice() -> None:
        await trio.sleep(1)
        scheduler.stop()
        scheduler.stop(grace=100)  # cannot extend
        await trio.sleep(2)
        scheduler.stop(grace=0)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(stop_twice)
        report = await scheduler.run()
    assert trio.current_time() == 3
    assert report.cancelled == ("slow",)


async def test_no_task_of_the_scheduler_is_left_after_run(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """After run() returns, Trio's task tree holds no loop task."""
    scheduler = Scheduler([every(f"l{i}", Recorder(takes=0.3), 1) for i in range(20)])
    await run_for(scheduler, 5.1)

    def walk(task: trio.lowlevel.Task) -> list[str]:
        names = [task.name]
        for nursery in task.child_nurseries:
            for child in nursery.child_tasks:
                names.extend(walk(child))
        return names

    names = walk(trio.lowlevel.current_root_task())  # type: ignore[arg-type]
    assert not [n for n in names if "tickwork" in n]


async def test_open_scheduler_leaving_normally_is_a_graceful_stop(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The block's end stops the scheduler with its grace and waits for runs."""
    body = Recorder(takes=3)
    async with open_scheduler([every("a", body, 10)], grace=5) as scheduler:
        await trio.sleep(1)
    assert trio.current_time() == 3
    assert scheduler.stats()["a"].succeeded == 1


async def test_open_scheduler_body_exception_cancels_at_once_and_propagates(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """An exception from the block cancels every run at once and is raised unwrapped."""
    body = Recorder(takes=60)
    error = ValueError("from the body")
    with pytest.raises(ValueError, match="from the body") as caught:  # noqa: PT012
        async with open_scheduler([every("a", body, 10)], grace=30) as scheduler:
            await trio.sleep(1)
            raise error
    assert caught.value is error
    assert trio.current_time() == 1
    assert scheduler.stats()["a"].cancelled == 1


async def test_outside_cancellation_cancels_everything(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Cancelling run() from outside cuts runs at once, without a grace period."""
    scheduler = Scheduler([every("a", Recorder(takes=60), 100)], grace=30)
    with trio.move_on_after(2):
        await scheduler.run()
    assert trio.current_time() == 2
    assert scheduler.stats()["a"].cancelled == 1


# --- add, remove, run_now ------------------------------------------------------


async def test_add_remove_and_run_now_while_running(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Loops can be added (anchored when added), run at once, and removed."""
    first, second = Recorder(), Recorder(takes=0.5)
    scheduler = Scheduler([every("first", first, 4)])

    async def drive() -> None:
        await trio.sleep(1)
        scheduler.add(every("second", second, 2, run_on_start=False))  # runs at 3, 5
        await trio.sleep(1)
        assert scheduler.run_now("first")  # at 2; schedule stays 4, 8
        await trio.sleep(1.25)  # 3.25: "second" is in flight
        assert not scheduler.run_now("second")
        await trio.sleep(3)  # 6.25
        scheduler.remove("second")
        await trio.sleep(3)  # 9.25
        scheduler.stop()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(drive)
        await scheduler.run()
    assert first.starts == [0, 2, 4, 8]
    assert second.starts == [3, 5]
    assert set(scheduler.stats()) == {"first"}


async def test_remove_cancels_the_run_in_flight(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """remove() cancels the in-flight run at once: outcome cancelled, not timed out."""
    outcomes: list[tuple[str, str]] = []

    class Outcomes:
        def on_run_finished(
            self, *, loop: str, outcome: str, duration: float, lateness: float
        ) -> None:
            outcomes.append((loop, outcome))

    body = Recorder(takes=60)
    scheduler = Scheduler(
        [every("a", body, 100, timeout=30), every("b", Recorder(), 100)],
        hooks=[Outcomes()],
    )

    async def drive() -> None:
        await trio.sleep(1)
        scheduler.remove("a")
        scheduler.stop(grace=10)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(drive)
        report = await scheduler.run()
    assert trio.current_time() == 1
    assert report == ShutdownReport(timed_out=False, cancelled=())
    assert sorted(outcomes) == [("a", "cancelled"), ("b", "succeeded")]


async def test_remove_ends_an_idle_loop(autojump_clock: trio.testing.MockClock) -> None:
    """A loop removed while asleep never runs again."""
    body = Recorder()
    scheduler = Scheduler([every("a", body, 2)])

    async def drive() -> None:
        await trio.sleep(3)
        scheduler.remove("a")
        await trio.sleep(10)
        scheduler.stop()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(drive)
        await scheduler.run()
    assert body.starts == [0, 2]


async def test_run_now_and_stop_at_the_instant_a_tick_is_due(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A wake that meets the sleep's own deadline wakes the loop once.

    Trio runs the driver and the loop in either order when both wake at once
    (it shuffles each batch): either way run_now at t=2 gives one run at 2,
    which is the tick due then (nothing skipped). stop at t=6 ends the loop
    with or without the tick due then, but never runs it twice.
    """
    body = Recorder()
    scheduler = Scheduler([every("a", body, 2)])

    async def drive() -> None:
        await trio.sleep_until(2)
        scheduler.run_now("a")
        await trio.sleep_until(6)
        scheduler.stop()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(drive)
        await scheduler.run()
    assert body.starts in ([0, 2, 4], [0, 2, 4, 6])
    assert trio.current_time() == 6
    stats = scheduler.stats()["a"]
    assert (stats.runs, stats.skipped, stats.next_fire) == (len(body.starts), 0, None)


async def test_run_now_is_false_before_run_and_after_stop(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """run_now only starts runs while the scheduler runs."""
    body = Recorder()
    scheduler = Scheduler([every("a", body, 100)])
    assert not scheduler.run_now("a")
    await run_for(scheduler, 1)
    assert not scheduler.run_now("a")
    assert body.starts == [0]


async def test_unknown_names_and_duplicates_are_refused(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Duplicate names are a ValueError; unknown names an UnknownLoopError."""
    scheduler = Scheduler([every("a", Recorder())])
    with pytest.raises(InvalidConfigError, match="'a' is already"):
        scheduler.add(every("a", Recorder()))
    with pytest.raises(UnknownLoopError, match="no loop named 'nope'") as caught:
        scheduler.remove("nope")
    assert isinstance(caught.value, KeyError)
    assert isinstance(caught.value, TickworkError)
    with pytest.raises(UnknownLoopError, match="no loop named 'nope'"):
        scheduler.run_now("nope")
    with pytest.raises(TypeError, match=r"must be a tickwork\.Loop"):
        scheduler.add("a")  # type: ignore[arg-type]


async def test_run_twice_and_add_while_stopping_are_refused(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """run() is single-use; add() after stop() raises SchedulerStateError."""
    scheduler = Scheduler()
    scheduler.stop()
    assert await scheduler.run() == ShutdownReport(timed_out=False, cancelled=())
    with pytest.raises(SchedulerStateError, match="only once"):
        await scheduler.run()
    with pytest.raises(SchedulerStateError, match="has ended"):
        scheduler.add(every("late", Recorder()))


async def test_stats_snapshot_fields(autojump_clock: trio.testing.MockClock) -> None:
    """LoopStats reports in_flight, last_started, last_duration and next_fire."""
    scheduler = Scheduler([every("a", Recorder(takes=0.5), 2)])
    seen = {}

    async def look() -> None:
        await trio.sleep(0.25)
        seen["running"] = scheduler.stats()["a"]
        await trio.sleep(1)
        seen["idle"] = scheduler.stats()["a"]
        scheduler.stop()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(look)
        await scheduler.run()
    running, idle = seen["running"], seen["idle"]
    assert (running.in_flight, running.runs, running.next_fire) == (True, 1, None)
    assert (running.last_started, running.last_duration) == (0, None)
    assert (idle.in_flight, idle.succeeded, idle.last_duration, idle.next_fire) == (
        False,
        1,
        0.5,
        2,
    )
    assert scheduler.stats()["a"].next_fire is None


# --- hooks ---------------------------------------------------------------------


async def test_hooks_see_every_event_and_a_raising_hook_breaks_nothing(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Hooks get every scheduler event; a hook that raises is only logged."""
    caplog.set_level(logging.ERROR, logger="tickwork")
    events: list[tuple[object, ...]] = []

    class Listener:
        def on_run_started(self, *, loop: str, lateness: float) -> None:
            events.append(("started", loop, lateness))

        def on_run_finished(
            self, *, loop: str, outcome: str, duration: float, lateness: float
        ) -> None:
            events.append(("finished", loop, outcome, duration))

        def on_tick_skipped(self, *, loop: str, count: int) -> None:
            events.append(("skipped", loop, count))

        def on_run_timed_out(self, *, loop: str, duration: float) -> None:
            events.append(("timed_out", loop, duration))

        def on_shutdown(self, *, report: ShutdownReport, duration: float) -> None:
            events.append(("shutdown", report.cancelled, duration))

    class Broken:
        def on_run_started(self, *, loop: str, lateness: float) -> None:
            raise RuntimeError("broken hook")

    body = Recorder(takes=1.5)
    scheduler = Scheduler(
        [every("a", body, 1, timeout=1.25)], hooks=[Broken(), Listener()]
    )
    await run_for(scheduler, 2.5, grace=0)
    assert body.starts == [0, 2]
    assert events == [
        ("started", "a", 0.0),
        ("finished", "a", "timed_out", 1.25),
        ("timed_out", "a", 1.25),
        ("skipped", "a", 1),
        ("started", "a", 0.0),
        ("finished", "a", "cancelled", 0.5),
        ("shutdown", ("a",), 0.0),
    ]
    broken = [r for r in caplog.records if "broken" in str(r.exc_info)]
    assert len(broken) == 2


# --- scale -----------------------------------------------------------------------


async def test_ten_thousand_loops_run_a_simulated_minute(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """10 000 jittered loops at 5 s: every loop runs 13 times in [0, 60.5)."""
    bodies = [Recorder() for _ in range(10_000)]
    loops = [Loop(name=f"l{i}", fn=b, interval=5.0) for i, b in enumerate(bodies)]
    scheduler = Scheduler(loops, seed=1)
    await run_for(scheduler, 60.5)
    assert {len(b.starts) for b in bodies} == {13}
    assert sum(s.skipped for s in scheduler.stats().values()) == 0
