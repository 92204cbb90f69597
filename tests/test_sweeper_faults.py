"""The sweeper under faults: a slow store, hung dispatches, broken rows."""

from __future__ import annotations

import functools
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from tests.trigger_helpers import START, Recorder
from tickwork import (
    InvalidConfigError,
    LeaseLostError,
    Scheduler,
    ShutdownReport,
    WrongTypeError,
    current_run,
)
from tickwork._lease import Claim
from tickwork.triggers import (
    MemoryTriggerStore as _MemoryTriggerStore,
)
from tickwork.triggers import (
    SweepReport,
    TriggerRow,
    TriggerSweeper,
)
from tickwork.triggers._model import datetime_micros

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from datetime import datetime

    from tickwork._lease import Claimed
    from tickwork.triggers._store import Kind


def row(name: str, interval: str = "15m", last: str | None = None) -> TriggerRow:
    """An enabled row whose id is its name."""
    return TriggerRow(name, name, interval, True, last)


def trio_wall() -> datetime:
    """A wall clock that follows Trio's (mock) clock from START."""
    return START + timedelta(seconds=trio.current_time())


def trio_seconds() -> float:
    """`trio_wall` in seconds since the epoch: the stores' clock here."""
    return trio_wall().timestamp()


class MemoryTriggerStore(_MemoryTriggerStore):
    """A memory store on `trio_seconds`, so leases and windows follow MockClock."""

    def __init__(
        self,
        rows: Iterable[TriggerRow] = (),
        *,
        clock: Callable[[], float] = trio_seconds,
    ) -> None:
        """Hold *rows*; the store's clock follows Trio's."""
        super().__init__(rows, clock=clock)


class TimedRecorder(Recorder):
    """A dispatch that records the Trio time of each call, by name."""

    def __init__(self, hang: frozenset[str] = frozenset()) -> None:
        """Dispatches of the names in *hang* never return."""
        super().__init__()
        self.hang = hang
        self.times: dict[str, list[float]] = {}

    async def __call__(self, row: TriggerRow) -> None:
        """Record, then hang if told to."""
        self.times.setdefault(row.name, []).append(trio.current_time())
        await super().__call__(row)
        if row.name in self.hang:
            await trio.sleep_forever()


class SlowFirstListing(MemoryTriggerStore):
    """A store whose first listing waits 5 s (a pool waiting for a server)."""

    listings = 0

    async def enabled(self) -> Sequence[TriggerRow]:
        """List; the first time only after 5 s."""
        self.listings += 1
        if self.listings == 1:
            await trio.sleep(5)
        return await super().enabled()


async def run_sweeper(sweeper: TriggerSweeper, seconds: float) -> ShutdownReport:
    """Run the sweeper's loop in a Scheduler for *seconds*, then stop, grace 1."""
    scheduler = Scheduler([sweeper.loop()], seed=7)
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        await trio.sleep(seconds)
        scheduler.stop(grace=1)
    assert scheduler.shutdown_report is not None
    return scheduler.shutdown_report


async def test_a_slow_listing_does_not_make_a_trigger_fire_twice(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The window is stamped with the time after listing: no second fire at 5.5."""
    caplog.set_level(logging.WARNING, logger="tickwork")
    store = SlowFirstListing([row("t", interval="2s")])
    dispatch = TimedRecorder()
    sweeper = TriggerSweeper(
        store, dispatch, tick_interval=0.5, min_interval=1, clock=trio_wall
    )
    await run_sweeper(sweeper, 9.9)
    times = dispatch.times["t"]
    assert times[0] == 5.0  # its window 0 starts when it is first claimed
    # Then once per 2 s window of that grid, at the first sweep in it (sweeps
    # every 0.5 s +- 0.025): never twice in one window, none missed.
    windows = [int((t - 5.0) // 2) for t in times]
    assert windows == list(range(len(times))), times
    assert len(times) == 3
    assert all(t - (5.0 + 2 * k) <= 0.55 for k, t in enumerate(times)), times
    assert not [r for r in caplog.records if "check the clocks" in r.getMessage()]


async def test_a_hung_dispatch_never_delays_the_other_triggers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """In a Scheduler, a dispatch that never returns stalls no other trigger."""
    store = MemoryTriggerStore([row("hung", interval="2s"), row("fast", interval="2s")])
    dispatch = TimedRecorder(hang=frozenset({"hung"}))
    sweeper = TriggerSweeper(
        store, dispatch, tick_interval=0.5, min_interval=1, clock=trio_wall
    )
    report = await run_sweeper(sweeper, 10.2)
    fast = dispatch.times["fast"]
    # Once per 2 s window from 0, at the first sweep in it (every 0.5 s,
    # each +-0.025 of jitter): no drift, none missed.
    assert [int(t // 2) for t in fast] == [0, 1, 2, 3, 4], fast
    assert all(t - 2 * k <= 0.55 for k, t in enumerate(fast)), fast
    # Never a second dispatch of a trigger whose dispatch is still running.
    assert dispatch.times["hung"] == [0.0]
    # The hung dispatch is a background task of the loop: shutdown names it.
    assert report == ShutdownReport(timed_out=True, cancelled=("triggers",))


async def test_dispatch_timeout_cuts_a_dispatch_into_errors(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A dispatch cut by dispatch_timeout is a TimeoutError in errors; others fire."""
    store = MemoryTriggerStore([row("hung"), row("ok")])
    dispatch = TimedRecorder(hang=frozenset({"hung"}))
    sweeper = TriggerSweeper(store, dispatch, dispatch_timeout=3, clock=trio_wall)
    report = await sweeper.sweep()
    assert trio.current_time() == 3
    assert report.fired == ("ok",)
    [(name, error)] = report.errors
    assert name == "hung"
    assert isinstance(error, TimeoutError)
    assert "dispatch_timeout=3" in str(error)
    assert any("'hung'" in r.getMessage() for r in caplog.records)


async def test_a_trigger_whose_dispatch_runs_is_busy_not_claimed_again(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A sweep beside a running dispatch of a trigger reports it busy."""
    store = MemoryTriggerStore([row("slow", interval="1m")])
    release = trio.Event()
    started = trio.Event()

    async def slow(_row: TriggerRow) -> None:
        started.set()
        await release.wait()

    sweeper = TriggerSweeper(store, slow, clock=trio_wall)
    reports = []

    async def sweep() -> None:
        reports.append(await sweeper.sweep())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sweep)
        await started.wait()
        await trio.sleep(120)  # two windows later, the first dispatch still runs
        second = await sweeper.sweep()
        release.set()
    assert second.busy == ("slow",)
    assert second.fired == ()
    assert reports[0].fired == ("slow",)


async def test_broken_rows_are_invalid_alone_and_the_others_fire(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A NULL id, bytes in place of text: each row invalid; the good one fires.

    (A name that is not text is pinned with the SQLite store, which can hold
    one; this store sorts by name.)
    """
    store = MemoryTriggerStore(
        [
            TriggerRow(None, "null-id", "1m", True, None),  # type: ignore[arg-type]
            TriggerRow("b1", "bad-interval", b"\xff1m", True, None),  # type: ignore[arg-type]
            TriggerRow("b2", "bad-stamp", "1m", True, b"\xff"),  # type: ignore[arg-type]
            TriggerRow("b3", "bad-enabled", "1m", "yes", None),  # type: ignore[arg-type]
            row("good"),
        ]
    )
    dispatch = Recorder()
    report = await TriggerSweeper(store, dispatch, clock=trio_wall).sweep()
    assert report.fired == ("good",)
    assert sorted(report.invalid) == [
        "bad-enabled",
        "bad-interval",
        "bad-stamp",
        "null-id",
    ]
    assert report.lost_claim == ()
    assert dispatch.names == ["good"]


async def test_huge_store_values_are_cut_in_log_lines(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A 1 MB last_fired_at logs a WARNING of at most a few hundred characters."""
    caplog.set_level(logging.DEBUG, logger="tickwork")
    huge = "9" * 1_000_000
    store = MemoryTriggerStore(
        [row("a", last=huge), row("b" * 10_000, interval="x" * 10_000)]
    )
    await TriggerSweeper(store, Recorder(), clock=trio_wall).sweep()
    assert caplog.records
    assert max(len(r.getMessage()) for r in caplog.records) < 700


def test_bad_sweeper_arguments_are_refused() -> None:
    """A sync dispatch, an async clock, a bad dispatch_timeout: refused by name."""

    def sync_dispatch(_row: TriggerRow) -> None: ...

    async def async_clock() -> datetime:
        return START  # pragma: no cover - refused before it is called

    store = MemoryTriggerStore()
    with pytest.raises(WrongTypeError, match="'dispatch' must be an async callable"):
        TriggerSweeper(store, sync_dispatch)  # type: ignore[arg-type]
    for clock in (async_clock, functools.partial(async_clock)):
        with pytest.raises(WrongTypeError, match="'clock' must be a synchronous"):
            TriggerSweeper(store, Recorder(), clock=clock)  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError, match="'dispatch_timeout' must be"):
        TriggerSweeper(store, Recorder(), dispatch_timeout=0)
    TriggerSweeper(store, Recorder(), clock=lambda: START)  # a lambda clock is fine


async def test_the_loops_fn_outside_a_scheduler_sweeps_and_waits(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Awaited directly, the sweeper's loop fn is a sweep that waits for dispatch."""
    store = MemoryTriggerStore([row("a")])
    dispatch = Recorder()
    report = await TriggerSweeper(store, dispatch, clock=trio_wall).loop().fn()
    assert isinstance(report, SweepReport)
    assert report.fired == ("a",)
    assert report.dispatching == ()


async def test_removing_the_sweeper_loop_cancels_its_background_dispatches(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """remove() of the sweeper's loop cancels its running dispatches at once."""
    cancelled: list[float] = []

    async def hangs(_row: TriggerRow) -> None:
        try:
            await trio.sleep_forever()
        finally:
            cancelled.append(trio.current_time())

    sweeper = TriggerSweeper(MemoryTriggerStore([row("a")]), hangs, clock=trio_wall)
    scheduler = Scheduler([sweeper.loop()])
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        await trio.sleep(5)
        scheduler.remove("triggers")
        await trio.sleep(1)
        assert cancelled == [5]
        scheduler.stop()
    assert scheduler.shutdown_report == ShutdownReport(timed_out=False, cancelled=())


async def test_a_name_that_is_not_text_makes_a_due_row_invalid(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A due row whose name is bytes (undecodable in the store) is invalid alone."""

    class Unsorted(MemoryTriggerStore):
        async def enabled(self) -> Sequence[TriggerRow]:
            broken = TriggerRow("b", b"\xff", "1m", True, None)  # type: ignore[arg-type]
            return [broken, *await super().enabled()]

    store = Unsorted([row("good")])
    report = await TriggerSweeper(store, Recorder(), clock=trio_wall).sweep()
    assert report.fired == ("good",)
    assert report.invalid == ("b'\\xff'",)


async def test_remove_right_after_the_hand_off_still_cancels_the_dispatch(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A dispatch handed off after remove() (the claim ignored it) never runs."""
    ended: list[str] = []
    scheduler = Scheduler()

    async def dispatch(row: TriggerRow) -> None:
        try:
            await trio.sleep(100)
            ended.append("finished")
        finally:
            ended.append("ended")

    class RemoveOnHandOff(MemoryTriggerStore):
        async def claim_windows(
            self, kind: Kind, claims: Sequence[Claim], *, lease: float, holder: str
        ) -> Sequence[Claimed]:
            won = await super().claim_windows(kind, claims, lease=lease, holder=holder)
            with trio.CancelScope(shield=True):  # like a claim in a worker thread
                await trio.sleep(2)
            return won

    sweeper = TriggerSweeper(RemoveOnHandOff([row("a")]), dispatch, clock=trio_wall)
    scheduler.add(sweeper.loop())
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        await trio.sleep(1)  # the sweep is in its shielded claim
        scheduler.remove("triggers")
        await trio.sleep(10)
        scheduler.stop()
    assert ended == []  # cancelled before the dispatch even began
    assert not sweeper._in_flight  # and the trigger is not left busy


async def test_dispatches_cut_by_an_outside_cancellation_are_named(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """An outer cancellation cutting a background dispatch names its loop."""

    async def hangs(_row: TriggerRow) -> None:
        await trio.sleep_forever()

    sweeper = TriggerSweeper(MemoryTriggerStore([row("a")]), hangs, clock=trio_wall)
    scheduler = Scheduler([sweeper.loop()])
    with trio.move_on_after(5):
        await scheduler.run()
    assert scheduler.shutdown_report == ShutdownReport(
        timed_out=True, cancelled=("triggers",)
    )


async def test_a_sweep_claims_no_more_than_can_start(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With every slot held by a hung dispatch, others stay busy and unclaimed.

    Once dispatch_timeout frees the slot, the waiting trigger fires.
    """
    store = MemoryTriggerStore([row("a-hung", interval="1m"), row("b", interval="1m")])
    dispatch = TimedRecorder(hang=frozenset({"a-hung"}))
    sweeper = TriggerSweeper(
        store,
        dispatch,
        tick_interval=1,
        max_concurrent=1,
        dispatch_timeout=5,
        clock=trio_wall,
    )
    await run_sweeper(sweeper, 7)
    assert dispatch.times["a-hung"] == [0.0]
    [b] = dispatch.times["b"]
    assert 5 <= b <= 6.1  # the first sweep after the slot came free
    # "b" was never claimed while it waited: its window is its own.
    [b_row] = [r for r in await store.all() if r.name == "b"]
    assert b_row.last_fired_at is not None
    assert b_row.last_fired_at.startswith("2026-11-23T12:00:0")


async def test_a_waiting_sweep_with_no_free_slot_claims_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """sweep() beside dispatches holding every slot reports all due rows busy."""
    store = MemoryTriggerStore([row("a")])
    release = trio.Event()

    async def held(_row: TriggerRow) -> None:
        await release.wait()

    sweeper = TriggerSweeper(store, held, max_concurrent=1, clock=trio_wall)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sweeper.sweep)  # takes "a", holds the one slot
        await trio.sleep(1)
        await store.add(name="b", interval="1m")
        second = await sweeper.sweep()
        assert trio.current_time() == 1  # returned at once, claimed nothing
        release.set()
    assert second.busy == ("b",)
    assert [r.last_fired_at for r in await store.all() if r.name == "b"] == [None]


async def test_dispatches_are_bounded_by_default(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With no dispatch_timeout given, a hung dispatch is cut after 600 s."""
    store = MemoryTriggerStore([row("hung")])
    sweeper = TriggerSweeper(
        store, TimedRecorder(hang=frozenset({"hung"})), clock=trio_wall
    )
    report = await sweeper.sweep()
    assert trio.current_time() == 600
    assert isinstance(report.errors[0][1], TimeoutError)


class Events:
    """Notes the lease events a sweeper's hooks hear."""

    def __init__(self) -> None:
        """Nothing heard yet."""
        self.heard: list[tuple[str, str]] = []

    def on_window_lost(self, *, name: str, window: datetime, kind: str) -> None:
        """Note a lost window."""
        self.heard.append(("lost", f"{name} {window:%H:%M:%S} {kind}"))

    def on_run_fenced(self, *, name: str, duration: float, kind: str) -> None:
        """Note a fenced dispatch."""
        self.heard.append(("fenced", f"{name} {duration:g} {kind}"))

    def on_lease_renewal_failed(self, *, name: str, kind: str) -> None:
        """Note a failed renewal."""
        self.heard.append(("renewal failed", f"{name} {kind}"))


async def ghost_claims(store: MemoryTriggerStore, name: str, lease: float) -> None:
    """Another replica claims *name*'s current window, then vanishes."""
    [stored] = [r for r in await store.all() if r.name == name]
    assert stored.anchor_us is not None
    start = stored.anchor_us
    [answer] = await store.claim_windows(
        "trigger", [Claim(stored.id, start, start)], lease=lease, holder="ghost"
    )
    assert answer.won


async def test_a_window_whose_holder_vanished_is_recorded_lost(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """At most once: the next window is won, the abandoned one reported lost."""
    store = MemoryTriggerStore()
    await store.add(name="t", interval="1m")
    await ghost_claims(store, "t", lease=5)
    events = Events()
    sweeper = TriggerSweeper(store, Recorder(), clock=trio_wall, hooks=[events])
    await trio.sleep(60)
    report = await sweeper.sweep()
    assert report.fired == report.lost == ("t",)
    assert sweeper.lost == 1
    assert events.heard == [("lost", "t 12:00:00 trigger")]
    assert any("was lost" in r.getMessage() for r in caplog.records)


async def test_at_least_once_runs_an_abandoned_window_again(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """At least once: the window the ghost left is claimed again, attempt 2."""
    store = MemoryTriggerStore()
    await store.add(name="t", interval="1m")
    await ghost_claims(store, "t", lease=5)
    seen: list[tuple[int, float | datetime]] = []

    async def dispatch(_row: TriggerRow) -> None:
        run = current_run()
        seen.append((run.attempt, run.window))

    sweeper = TriggerSweeper(store, dispatch, clock=trio_wall, delivery="at_least_once")
    await trio.sleep(10)  # the ghost's lease is over; still its window
    report = await sweeper.sweep()
    assert report.fired == ("t",)
    assert seen == [(2, START)]


async def test_a_window_the_store_finds_held_is_skipped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Held on the store's clock, though not on the sweeper's: held, no dispatch."""
    store = MemoryTriggerStore()
    await store.add(name="t", interval="1m")
    await ghost_claims(store, "t", lease=600)

    def ahead() -> datetime:  # ten minutes ahead of the store
        return trio_wall() + timedelta(minutes=10, seconds=1)

    dispatch = Recorder()
    sweeper = TriggerSweeper(store, dispatch, clock=ahead)
    report = await sweeper.sweep()
    assert report.held == ("t",)
    assert report.fired == report.lost_claim == ()
    assert dispatch.rows == []
    assert sweeper.skipped == 1


async def test_a_dispatch_whose_lease_cannot_be_renewed_is_fenced(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Renewals fail: the dispatch is cut at its fence, a LeaseLostError."""

    class NoRenewals(MemoryTriggerStore):
        async def renew_leases(
            self, kind: Kind, leases: Sequence[tuple[str, int]], *, lease: float
        ) -> Sequence[bool]:
            msg = "renewals are down"
            raise OSError(msg)

    events = Events()
    sweeper = TriggerSweeper(
        NoRenewals([row("t")]),
        TimedRecorder(hang=frozenset({"t"})),
        clock=trio_wall,
        hooks=[events],
        lease=3,
    )
    report = await sweeper.sweep()
    [(name, error)] = report.errors
    assert name == "t"
    assert isinstance(error, LeaseLostError)
    assert trio.current_time() == pytest.approx(2.7)  # the lease less its margin
    assert sweeper.fenced == 1
    assert sweeper.renewal_failures >= 1
    assert ("fenced", "t 2.7 trigger") in events.heard
    assert ("renewal failed", "t trigger") in events.heard


async def test_at_least_once_redoes_an_abandoned_window_however_old(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A window left without an outcome 10 windows ago runs again, attempt 2."""
    store = MemoryTriggerStore([row("t", interval="1m")])
    now = datetime_micros(trio_wall())
    # A replica claimed window 0 and died: its lease lapses after 1 s.
    await store.claim_windows(
        "trigger", [Claim("t", now, now, None, now)], lease=1, holder="dead"
    )
    await trio.sleep(15 * 60)
    seen: list[tuple[int, int]] = []

    async def dispatch(_row: TriggerRow) -> None:
        context = current_run()
        seen.append((int(context.window.timestamp() * 1e6), context.attempt))  # type: ignore[union-attr]

    sweeper = TriggerSweeper(store, dispatch, clock=trio_wall, delivery="at_least_once")
    first = await sweeper.sweep()
    second = await sweeper.sweep()
    assert seen == [(now, 2), (now + 15 * 60_000_000, 1)]
    assert first.fired == second.fired == ("t",)
    [stored] = await store.all()
    assert stored.lost == 0


async def test_a_claim_that_waited_long_renews_its_leases_before_dispatch(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Claims that took over a third of the lease are renewed, then dispatched."""
    calls: list[str] = []

    class Slow(MemoryTriggerStore):
        async def claim_windows(
            self, kind: Kind, claims: Sequence[Claim], *, lease: float, holder: str
        ) -> Sequence[Claimed]:
            calls.append("claim")
            await trio.sleep(20)  # a pool reconnecting
            return await super().claim_windows(kind, claims, lease=lease, holder=holder)

        async def renew_leases(
            self, kind: Kind, leases: Sequence[tuple[str, int]], *, lease: float
        ) -> Sequence[bool]:
            calls.append("renew")
            return await super().renew_leases(kind, leases, lease=lease)

    async def dispatch(_row: TriggerRow) -> None:
        calls.append("dispatch")
        await trio.sleep(25)  # past the claim's own fence (27 s), not the renewal's

    report = await TriggerSweeper(Slow([row("t")]), dispatch, clock=trio_wall).sweep()
    assert calls[:3] == ["claim", "renew", "dispatch"]
    assert report.fired == ("t",)
