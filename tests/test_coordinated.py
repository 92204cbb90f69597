"""Coordinated loops and current_run(), one behaviour at a time, on MockClock."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from tickwork import (
    InvalidConfigError,
    Loop,
    LoopStats,
    NotInRunError,
    RunContext,
    Scheduler,
    TickworkError,
    current_run,
)
from tickwork._context import utc
from tickwork.testing import FaultyStore
from tickwork.triggers import MemoryTriggerStore

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tickwork._lease import Claim, Claimed
    from tickwork.triggers._store import Kind

EPOCH = 1_800_000_000.0


def wall() -> float:
    """The wall clock: Trio's (mock) clock plus EPOCH."""
    return EPOCH + trio.current_time()


def coordinated(name: str, fn: object, **options: object) -> Loop:
    """A coordinated loop every 10 s without jitter, unless told otherwise."""
    settings: dict[str, object] = {"interval": 10, "jitter": 0, "coordinated": True}
    settings.update(options)
    return Loop(name=name, fn=fn, **settings)  # type: ignore[arg-type]


def replica(
    store: object, loops: list[Loop], name: str, **options: object
) -> Scheduler:
    """A Scheduler playing one replica on *store* with the true wall clock."""
    settings: dict[str, object] = {"wall_clock": wall, "lease": 6.0}
    settings.update(options)
    return Scheduler(loops, store=store, replica=name, **settings)  # type: ignore[arg-type]


async def test_current_run_in_an_in_process_loop_and_its_child_tasks(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A loop's run sees its window, fire instant and lateness; so do its tasks."""
    seen: list[RunContext] = []

    async def job() -> None:
        seen.append(current_run())
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: _note(seen))
        await trio.sleep(12)  # overruns: the next tick, at 10, is skipped

    async with trio.open_nursery() as nursery:
        scheduler = Scheduler([Loop(name="job", fn=job, interval=5, jitter=0)])
        await nursery.start(scheduler.run)
        await trio.sleep(16)
        scheduler.stop()
    assert [c.window for c in seen] == [0.0, 0.0, 15.0, 15.0]
    assert [c.scheduled for c in seen] == [0.0, 0.0, 15.0, 15.0]
    assert {c.name for c in seen} == {"job"}
    assert all(c.attempt == 1 and c.token is None for c in seen)
    assert all(c.lateness == 0 for c in seen)


async def _note(seen: list[RunContext]) -> None:
    seen.append(current_run())


def test_current_run_outside_a_run_is_a_lookup_error() -> None:
    """Outside a run it raises NotInRunError: a TickworkError and a LookupError."""
    with pytest.raises(NotInRunError) as caught:
        current_run()
    assert isinstance(caught.value, LookupError)
    assert isinstance(caught.value, TickworkError)


async def test_windows_follow_the_wall_clock_grid_and_phase(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Windows start at phase + k*interval after the epoch, not at process start."""
    seen: list[RunContext] = []

    async def job() -> None:
        seen.append(current_run())

    await trio.sleep(3.5)  # the replica starts mid-window
    store = MemoryTriggerStore(clock=wall)
    scheduler = replica(store, [coordinated("j", job, phase=2.0)], "a")
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        await trio.sleep(25)
        scheduler.stop()
    starts = [c.window.timestamp() for c in seen]  # type: ignore[union-attr]
    # run_on_start: the window that began at 2 s runs at once, late.
    assert starts == [EPOCH + 2, EPOCH + 12, EPOCH + 22]
    assert seen[0].lateness == pytest.approx(1.5)
    assert [c.token for c in seen] == [1, 2, 3]
    assert seen[1].lateness == 0


async def test_a_replica_whose_clock_runs_ahead_waits_for_the_store(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A wall clock 5 s ahead cannot fire early: no run before fire - 1 s."""
    started: list[float] = []

    async def job() -> None:
        started.append(wall())

    store = MemoryTriggerStore(clock=wall)
    ahead = FaultyStore(store, skew=5.0, wall_clock=wall)
    scheduler = replica(
        ahead,
        [coordinated("j", job, run_on_start=False)],
        "a",
        wall_clock=ahead.wall_clock,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        await trio.sleep(30)
        scheduler.stop()
    # Windows at 10, 20, 30 (true time); each run starts at most 1 s early.
    assert started
    assert all((t - EPOCH) % 10 >= 9 or (t - EPOCH) % 10 == 0 for t in started)


async def test_a_run_that_cannot_renew_its_lease_is_fenced(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Store gone mid-run: the run is cut at 90 % of its lease, counted fenced."""
    fenced: list[tuple[str, str]] = []
    ended: list[float] = []

    class Hook:
        def on_run_fenced(self, *, name: str, duration: float, kind: str) -> None:
            fenced.append((name, kind))

    store = MemoryTriggerStore(clock=wall)
    faulty = FaultyStore(store, wall_clock=wall)

    async def job() -> None:
        faulty.go_down()
        try:
            await trio.sleep(100)
        finally:
            ended.append(trio.current_time())

    scheduler = replica(
        faulty,
        [coordinated("j", job, interval=60, run_on_start=True)],
        "a",
        hooks=[Hook()],
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        await trio.sleep(20)
        scheduler.stop()
    stats = scheduler.stats()["j"]
    assert ended == [pytest.approx(6.0 * 0.9)]
    assert (stats.fenced, stats.cancelled, stats.timed_out) == (1, 0, 0)
    assert stats.renewal_failures >= 1
    assert fenced == [("j", "loop")]


async def test_a_long_run_keeps_its_lease_by_renewing_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A run of three leases is renewed every lease/3 and never fenced."""
    store = MemoryTriggerStore(clock=wall)
    others: list[str] = []

    async def long() -> None:
        await trio.sleep(18)

    async def other() -> None:
        others.append("ran")  # pragma: no cover - must never run

    one = replica(store, [coordinated("j", long, interval=60)], "a")
    two = replica(
        store, [coordinated("j", other, interval=60, run_on_start=False)], "b"
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(one.run)
        await trio.sleep(0.5)
        await nursery.start(two.run)
        await trio.sleep(30)
        one.stop()
        two.stop()
    stats = one.stats()["j"]
    assert (stats.succeeded, stats.fenced, stats.renewal_failures) == (1, 0, 0)
    assert others == []
    [row] = await store.loops()
    assert (row.state.outcome, row.state.token) == ("succeeded", 1)


async def test_shutdown_releases_the_lease_so_at_least_once_reruns_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A run cut by shutdown records cancelled; another replica redoes it, attempt 2."""
    store = MemoryTriggerStore(clock=wall)
    runs: list[tuple[str, int, float]] = []

    def job(name: str) -> object:
        async def run() -> None:
            context = current_run()
            runs.append((name, context.attempt, trio.current_time()))
            await trio.sleep(4)

        return run

    def loop(name: str) -> Loop:
        return coordinated(
            "j", job(name), interval=30, delivery="at_least_once", run_on_start=True
        )

    first = replica(store, [loop("a")], "a", lease=20.0)
    second = replica(store, [loop("b")], "b", lease=20.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(first.run)
        await trio.sleep(1)
        first.stop(grace=0)  # cut at 1 s into its run
        await trio.sleep(1)
        await nursery.start(second.run)
        await trio.sleep(10)
        second.stop()
    assert runs[0][:2] == ("a", 1)
    assert runs[1][:2] == ("b", 2)
    assert runs[1][2] == 2.0  # at once, not after the 20 s lease
    assert first.stats()["j"].cancelled == 1


async def test_at_most_once_records_a_killed_holders_window_as_lost(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A holder killed mid-run: after its lease, the next claim records it lost."""
    store = MemoryTriggerStore(clock=wall)
    lost: list[object] = []

    class Hook:
        def on_window_lost(self, *, name: str, window: object, kind: str) -> None:
            lost.append((name, window, kind))

    async def slow() -> None:
        await trio.sleep(8)

    dying_store = FaultyStore(store, wall_clock=wall)
    dying = replica(dying_store, [coordinated("j", slow)], "dying")
    heir = replica(
        store, [coordinated("j", slow, run_on_start=False)], "heir", hooks=[Hook()]
    )
    async with trio.open_nursery() as nursery:
        kill = trio.CancelScope()

        async def live() -> None:
            with kill:
                await dying.run()

        nursery.start_soon(live)
        await trio.sleep(1)
        dying_store.go_down()
        kill.cancel()
        await nursery.start(heir.run)
        await trio.sleep(25)
        heir.stop()
    # Window 0 (0 s) was abandoned; window 10 s was held by its lease (6 s
    # from the claim: valid until 6 s) ... then expired: claimed at 10 s.
    assert lost == [("j", utc(int(EPOCH * 1_000_000)), "loop")]
    assert heir.stats()["j"].lost == 1
    assert "was lost" in caplog.text
    [row] = await store.loops()
    assert row.state.lost == 1


def test_coordinated_options_are_checked_by_name() -> None:
    """delivery must be one of two words; the store must be a store."""

    async def noop() -> None: ...

    with pytest.raises(InvalidConfigError, match="'delivery' must be 'at_most_once'"):
        Loop(name="x", fn=noop, interval=1, delivery="exactly_once")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="'store' must be a TriggerStore"):
        Scheduler(store="triggers.db")  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError, match="'lease' must be finite and > 0"):
        Scheduler(store=MemoryTriggerStore(), lease=0)


async def test_run_now_does_not_apply_to_a_coordinated_loop(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """run_now returns False: a window runs when its replica claims it, only."""

    async def noop() -> None: ...

    store = MemoryTriggerStore(clock=wall)
    scheduler = replica(store, [coordinated("j", noop)], "a")
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        assert scheduler.run_now("j") is False
        scheduler.stop()
    assert isinstance(scheduler.stats()["j"], LoopStats)


async def test_at_least_once_reruns_an_abandoned_window_however_old(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Killed holder, found 30 windows later: its window still runs, attempt 2."""
    store = MemoryTriggerStore(clock=wall)
    runs: list[tuple[float, int]] = []

    async def job() -> None:
        context = current_run()
        runs.append((context.window.timestamp() - EPOCH, context.attempt))  # type: ignore[union-attr]
        await trio.sleep(5)

    def loop(**options: object) -> Loop:
        return coordinated("j", job, interval=2, delivery="at_least_once", **options)

    dying_store = FaultyStore(store, wall_clock=wall)
    dying = replica(dying_store, [loop()], "dying", lease=30.0)
    kill = trio.CancelScope()

    async def live() -> None:
        with kill:
            await dying.run()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(live)
        await trio.sleep(1)
        dying_store.go_down()
        kill.cancel()
        await trio.sleep(59)  # 30 windows later; the lease ended at 30 s
        heir = replica(store, [loop()], "heir", lease=30.0)
        await nursery.start(heir.run)
        await trio.sleep(1)
        heir.stop()
    assert runs[0] == (0.0, 1)
    assert runs[1] == (0.0, 2)  # the abandoned window, run again first
    [row] = await store.loops()
    assert row.state.lost == 0


async def test_a_claim_that_returns_after_the_next_window_is_released(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """At most once: a claim slower than the interval is released, not run; once."""
    store = MemoryTriggerStore(clock=wall)
    windows: list[float] = []

    async def job() -> None:
        windows.append(current_run().window.timestamp() - EPOCH)  # type: ignore[union-attr]

    slow = FaultyStore(store, latency=12, wall_clock=wall)
    scheduler = replica(slow, [coordinated("j", job)], "slow", lease=60.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        await trio.sleep(60)
        scheduler.stop(grace=0)
    # Every call takes 12 s. Window 0's claim came back at 12, after window
    # 10 began: released (the release took until 24). The latest window then
    # was 20: its claim came back at 36, superseded too, but it runs: never
    # two releases in a row.
    assert windows[:1] == [20.0]
    assert 0.0 not in windows
    assert 10.0 not in windows
    assert scheduler.stats()["j"].skipped >= 1
    states = {row.name: row.state for row in await store.loops()}
    assert states["j"].lost == 0


async def test_a_failing_job_a_timeout_and_remove_are_counted_and_recorded(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Failed, timed out and removed runs: counted, their outcome in the store."""
    store = MemoryTriggerStore(clock=wall)

    async def boom() -> None:
        raise RuntimeError("boom")

    async def slow() -> None:
        await trio.sleep(100)

    scheduler = replica(
        store,
        [
            coordinated("boom", boom),
            coordinated("slow", slow, timeout=2),
            coordinated("gone", slow),
        ],
        "a",
        lease=600.0,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        await trio.sleep(1)
        scheduler.remove("gone")
        await trio.sleep(4)
        scheduler.stop()
    stats = scheduler.stats()
    assert (stats["boom"].failed, stats["slow"].timed_out) == (1, 1)
    states = {row.name: row.state for row in await store.loops()}
    assert states["boom"].outcome == "failed"
    assert states["slow"].outcome == "timed_out"
    assert states["gone"].outcome == "cancelled"


async def test_a_store_that_fails_is_retried_and_warned_about_once(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Claims fail for 3 s: one WARNING, retries, then the latest window runs."""
    caplog.set_level(logging.INFO, logger="tickwork")
    store = MemoryTriggerStore(clock=wall)
    faulty = FaultyStore(store, wall_clock=wall)
    faulty.outage(0, 3)
    windows: list[float] = []

    async def job() -> None:
        windows.append(current_run().window.timestamp() - EPOCH)  # type: ignore[union-attr]

    scheduler = replica(faulty, [coordinated("j", job, interval=1)], "a")
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        await trio.sleep(4.5)
        scheduler.stop()
    assert caplog.text.count("could not claim its window") == 1
    assert "the store answers again" in caplog.text
    assert windows[0] == 3.0  # the latest window once it answered, no burst
    assert windows == [3.0, 4.0]


async def test_an_outcome_that_cannot_be_recorded_is_logged(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The store goes away during the run: the outcome's failure is logged."""
    store = MemoryTriggerStore(clock=wall)
    faulty = FaultyStore(store, wall_clock=wall)

    async def job() -> None:
        faulty.go_down()

    scheduler = replica(faulty, [coordinated("j", job, interval=60)], "a")
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        await trio.sleep(5)
        scheduler.stop()
    assert "could not record the outcome of run 1" in caplog.text
    assert scheduler.stats()["j"].succeeded == 1


async def test_an_outcome_the_store_refuses_counts_as_fenced(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The window's outcome was settled behind the run's back: fenced, logged."""
    store = MemoryTriggerStore(clock=wall)
    fenced: list[str] = []

    class Hook:
        def on_run_fenced(self, *, name: str, duration: float, kind: str) -> None:
            fenced.append(name)

    async def job() -> None:
        token = current_run().token
        assert token is not None
        await store.finish_windows("loop", [("j", token, "failed")])

    scheduler = replica(
        store, [coordinated("j", job, interval=60)], "a", hooks=[Hook()]
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        await trio.sleep(5)
        scheduler.stop()
    assert scheduler.stats()["j"].fenced == 1
    assert fenced == ["j"]


async def test_a_renewal_the_store_refuses_cuts_the_run_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The keeper's renewal is refused (the window was settled): the run is cut."""
    store = MemoryTriggerStore(clock=wall)
    ended: list[float] = []

    async def job() -> None:
        token = current_run().token
        assert token is not None
        await store.finish_windows("loop", [("j", token, "failed")])
        try:
            await trio.sleep(100)
        finally:
            ended.append(trio.current_time())

    scheduler = replica(store, [coordinated("j", job, interval=60)], "a")
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        await trio.sleep(10)
        scheduler.stop()
    assert ended == [2.0]  # the first renewal, at lease / 3
    stats = scheduler.stats()["j"]
    assert (stats.fenced, stats.renewal_failures) == (1, 1)


async def test_a_slow_claim_whose_refresh_fails_is_not_run(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A claim that took over lease/3, then a failed renewal: the run never starts."""

    class Slow(MemoryTriggerStore):
        async def claim_windows(
            self, kind: Kind, claims: Sequence[Claim], *, lease: float, holder: str
        ) -> Sequence[Claimed]:
            await trio.sleep(3)
            return await super().claim_windows(kind, claims, lease=lease, holder=holder)

        async def renew_leases(
            self, kind: Kind, leases: Sequence[tuple[str, int]], *, lease: float
        ) -> Sequence[bool]:
            raise OSError("gone")

    ran: list[str] = []

    async def job() -> None:
        ran.append("ran")  # pragma: no cover - must not run

    scheduler = replica(Slow(clock=wall), [coordinated("j", job, interval=60)], "a")
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        await trio.sleep(5)
        scheduler.stop()
    assert ran == []
    assert scheduler.stats()["j"].fenced == 1
