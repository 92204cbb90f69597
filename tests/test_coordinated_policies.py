"""Coordinated loops' policies across replicas on MockClock: pause, replace, buffer."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import TYPE_CHECKING

import trio
import trio.testing

from tickwork import Loop, LoopStats, Scheduler, current_run
from tickwork.triggers import MemoryTriggerStore

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

EPOCH = 1_800_000_000.0


def wall() -> float:
    """The wall clock: Trio's (mock) clock plus EPOCH."""
    return EPOCH + trio.current_time()


Runs = list[tuple[str, float, float]]


def _job(runs: Runs, replica: str, seconds: float) -> Callable[[], Awaitable[None]]:
    """A job that notes (replica, start, window offset) and takes *seconds*."""

    async def job() -> None:
        window = current_run().window
        assert isinstance(window, datetime)
        runs.append((replica, trio.current_time(), window.timestamp() - EPOCH))
        await trio.sleep(seconds)

    return job


def _replica(
    store: MemoryTriggerStore,
    name: str,
    fn: Callable[[], Awaitable[None]],
    **options: object,
) -> Scheduler:
    settings: dict[str, object] = {"interval": 10, "jitter": 0, "coordinated": True}
    settings.update(options)
    loop = Loop(name="job", fn=fn, **settings)  # type: ignore[arg-type]
    return Scheduler([loop], store=store, wall_clock=wall, replica=name, lease=6.0)


async def test_a_stored_pause_holds_on_every_replica_and_resumes_on_the_grid(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Paused by replica a at 25, resumed by b at 47: 30 and 40 run nowhere."""
    store = MemoryTriggerStore(clock=wall)
    runs: Runs = []
    a = _replica(store, "a", _job(runs, "a", 1))
    b = _replica(store, "b", _job(runs, "b", 1))
    async with trio.open_nursery() as nursery:
        await nursery.start(a.run)
        await nursery.start(b.run)
        await trio.sleep_until(25)
        await a.pause("job")
        await trio.sleep_until(47)
        await b.resume("job")
        await trio.sleep_until(65)
        a.stop()
        b.stop()
    assert sorted(window for _, _, window in runs) == [0, 10, 20, 50, 60]
    stats: list[LoopStats] = [a.stats()["job"], b.stats()["job"]]
    assert [s.paused for s in stats] == [2, 2]  # each replica found 30, 40 paused
    assert sum(s.caught_up + s.missed for s in stats) == 0  # a resume is no catch-up
    [row] = await store.loops()
    assert not row.state.paused


async def test_a_pause_before_the_loop_ever_ran_holds_from_its_first_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """set_paused makes the loop's row; nothing runs until the resume."""
    store = MemoryTriggerStore(clock=wall)
    await store.set_paused("loop", "job", True)
    runs: Runs = []
    a = _replica(store, "a", _job(runs, "a", 1))
    async with trio.open_nursery() as nursery:
        await nursery.start(a.run)
        await trio.sleep_until(15)
        await a.resume("job")
        await trio.sleep_until(25)
        a.stop()
    assert [window for _, _, window in runs] == [20]
    assert a.stats()["job"].paused == 2  # windows 0 and 10


async def test_replace_on_one_replica_cuts_each_run_at_the_next_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A 25 s run every 10 s with overlap="replace": every window starts on time."""
    store = MemoryTriggerStore(clock=wall)
    runs: Runs = []
    a = _replica(store, "a", _job(runs, "a", 25), overlap="replace")
    async with trio.open_nursery() as nursery:
        await nursery.start(a.run)
        await trio.sleep_until(45)
        a.stop(grace=0)
    assert [(start, window) for _, start, window in runs] == [
        (0, 0),
        (10, 10),
        (20, 20),
        (30, 30),
        (40, 40),
    ]
    stats = a.stats()["job"]
    assert (stats.replaced, stats.fenced, stats.skipped) == (4, 0, 0)


async def test_replace_takes_a_held_lease_over_and_the_old_holder_is_fenced(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """b's replace claim wins window 10 from a's run; a is cut within lease / 3."""
    store = MemoryTriggerStore(clock=wall)
    runs: Runs = []
    ended: list[float] = []

    async def long_job() -> None:
        runs.append(("a", trio.current_time(), 0))  # its window: not looked at
        try:
            await trio.sleep(100)
        finally:
            ended.append(trio.current_time())

    a = _replica(store, "a", long_job)  # overlap="skip": it would hold on
    async with trio.open_nursery() as nursery:
        await nursery.start(a.run)
        await trio.sleep_until(5)
        b = _replica(store, "b", _job(runs, "b", 1), overlap="replace")
        await nursery.start(b.run)
        await trio.sleep_until(25)
        a.stop()
        b.stop()
    assert [(who, start) for who, start, _ in runs][:2] == [("a", 0), ("b", 10)]
    assert [start for _, start, _ in runs][2:] == [20]  # on either replica
    assert 10 < ended[0] <= 10 + 6.0 / 3 + 1e-9  # one renewal period (lease / 3)
    assert a.stats()["job"].fenced == 1
    assert b.stats()["job"].replaced == 0


async def test_buffer_one_runs_the_first_window_missed_during_an_overrun(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A 25 s run every 10 s: windows 0, 10, 30, 60 run at 0, 25, 50, 75."""
    store = MemoryTriggerStore(clock=wall)
    runs: Runs = []
    a = _replica(store, "a", _job(runs, "a", 25), overlap="buffer_one")
    async with trio.open_nursery() as nursery:
        await nursery.start(a.run)
        await trio.sleep_until(80)
        a.stop(grace=0)
    assert [(start, window) for _, start, window in runs] == [
        (0, 0),
        (25, 10),
        (50, 30),
        (75, 60),
    ]
    assert a.stats()["job"].skipped == 4  # 20; 40 and 50; 70


async def test_buffer_one_across_replicas_never_runs_two_windows_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Two replicas, runs longer than the interval: runs never overlap anywhere."""
    store = MemoryTriggerStore(clock=wall)
    spans: list[tuple[float, float]] = []

    def job_for(name: str) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            start = trio.current_time()
            await trio.sleep(17)
            spans.append((start, trio.current_time()))

        return job

    a = _replica(store, "a", job_for("a"), overlap="buffer_one")
    b = _replica(store, "b", job_for("b"), overlap="buffer_one")
    async with trio.open_nursery() as nursery:
        await nursery.start(a.run)
        await nursery.start(b.run)
        await trio.sleep_until(200)
        a.stop(grace=30)
        b.stop(grace=30)
    spans.sort()
    assert len(spans) >= 10
    assert all(end <= later for (_, end), (later, _) in itertools.pairwise(spans))


async def test_a_replace_run_in_flight_at_stop_finishes_within_the_grace(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """stop(grace=20) at 15: the run from 10 ends at 22, not cut at window 20."""
    store = MemoryTriggerStore(clock=wall)
    runs: Runs = []
    a = _replica(store, "a", _job(runs, "a", 12), overlap="replace")
    async with trio.open_nursery() as nursery:
        await nursery.start(a.run)
        await trio.sleep_until(15)
        a.stop(grace=20)
    assert trio.current_time() == 22
    stats = a.stats()["job"]
    assert (stats.replaced, stats.succeeded, stats.cancelled) == (1, 1, 0)


async def test_update_moves_a_coordinated_loop_to_its_new_grid_after_the_next_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """update(interval=20) at 15: window 20 runs as planned, then 40 and 60."""
    store = MemoryTriggerStore(clock=wall)
    runs: Runs = []
    a = _replica(store, "a", _job(runs, "a", 1))
    async with trio.open_nursery() as nursery:
        await nursery.start(a.run)
        await trio.sleep_until(15)
        loop = a.update("job", interval=20, timeout=5)
        await trio.sleep_until(65)
        a.stop()
    assert (loop.interval, loop.timeout) == (20, 5)
    assert [window for _, _, window in runs] == [0, 10, 20, 40, 60]
    assert a.stats()["job"].runs == 5


async def test_a_replace_run_cut_by_its_timeout_after_stop_is_timed_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """stop() lifts the replace deadline: a run cut by its timeout is timed out."""
    store = MemoryTriggerStore(clock=wall)
    runs: Runs = []
    a = _replica(store, "a", _job(runs, "a", 100), overlap="replace", timeout=5)
    async with trio.open_nursery() as nursery:
        await nursery.start(a.run)
        await trio.sleep_until(2)
        a.stop(grace=30)
    stats = a.stats()["job"]
    assert (stats.timed_out, stats.replaced) == (1, 0)
