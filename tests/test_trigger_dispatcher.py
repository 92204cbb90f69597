"""How a sweeper dispatches the windows it won and records how they ended."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio
import trio.testing

from tests.test_sweeper_faults import MemoryTriggerStore, row, run_sweeper, trio_wall
from tests.trigger_helpers import Recorder
from tickwork import Scheduler
from tickwork.triggers import TriggerRow, TriggerSweeper
from tickwork.triggers._crew import PAUSE_EVERY

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pytest

    from tickwork.triggers._store import Kind


class Finishes(MemoryTriggerStore):
    """A memory store that notes each finish_windows call, and can refuse or fail.

    Each call takes 10 ms, as a round trip to a database server would.
    """

    def __init__(
        self, rows: Sequence[TriggerRow], *, answer: bool | None = True
    ) -> None:
        """Record outcomes as the store does; *answer* False refuses, None fails."""
        super().__init__(rows)
        self.answer = answer
        self.calls: list[int] = []

    async def finish_windows(
        self, kind: Kind, outcomes: Sequence[tuple[str, int, str]]
    ) -> Sequence[bool]:
        """Note the batch; record it, or refuse or fail as told."""
        self.calls.append(len(outcomes))
        await trio.sleep(0.01)
        if self.answer is None:
            msg = "the store is down"
            raise OSError(msg)
        done = await super().finish_windows(kind, outcomes)
        return done if self.answer else [False] * len(done)


class Hooks:
    """Notes the hooks a sweeper calls."""

    def __init__(self) -> None:
        """Nothing heard yet."""
        self.fired: list[str] = []
        self.fenced: list[str] = []

    def on_trigger_fired(self, *, trigger: TriggerRow) -> None:
        """Note a fired trigger."""
        self.fired.append(trigger.name)

    def on_run_fenced(self, *, name: str, duration: float, kind: str) -> None:
        """Note a fenced dispatch."""
        assert kind == "trigger"
        self.fenced.append(name)


def rows(count: int, interval: str = "15m") -> list[TriggerRow]:
    """*count* due rows, in name order."""
    return [row(f"t{i:04}", interval) for i in range(count)]


async def test_a_thousand_outcomes_take_a_few_recording_calls(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """sweep(): 1 000 windows, 25 slots: outcomes go in a few batches, not 40.

    The first batch goes when the first worker pauses; what queues while a
    call is in flight goes in the next, up to 500.
    """
    store = Finishes(rows(1000))
    hooks = Hooks()
    sweeper = TriggerSweeper(store, Recorder(), clock=trio_wall, hooks=[hooks])
    report = await sweeper.sweep()
    assert len(report.fired) == 1000
    assert sum(store.calls) == 1000
    assert len(store.calls) == 3, store.calls
    assert store.calls[0] in {PAUSE_EVERY, 2 * PAUSE_EVERY}  # tasks start in any order
    assert store.calls[1] == 500
    assert sorted(hooks.fired) == list(report.fired)
    assert all(r.outcome == "succeeded" for r in await store.all())
    assert not sweeper._in_flight


async def test_in_a_scheduler_outcomes_are_recorded_in_batches_too(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The loop's background records 1 000 outcomes in a few calls."""
    store = Finishes(rows(1000))
    dispatch = Recorder()
    sweeper = TriggerSweeper(
        store, dispatch, clock=trio_wall, max_concurrent=2000, tick_interval=60
    )
    await run_sweeper(sweeper, 1)
    assert len(dispatch.rows) == 1000
    assert sum(store.calls) == 1000
    assert len(store.calls) == 3, store.calls
    assert store.calls[1] == 500
    assert not sweeper._in_flight


async def test_a_refused_outcome_is_fenced_and_still_fired(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """An outcome the store refuses: the lease had passed on; hooks hear both."""
    store = Finishes(rows(2), answer=False)
    hooks = Hooks()
    sweeper = TriggerSweeper(store, Recorder(), clock=trio_wall, hooks=[hooks])
    report = await sweeper.sweep()
    assert report.fired == ("t0000", "t0001")
    assert sweeper.fenced == 2
    assert sorted(hooks.fenced) == sorted(hooks.fired) == ["t0000", "t0001"]
    assert sum("after its lease passed" in r.getMessage() for r in caplog.records) == 2


async def test_outcomes_that_cannot_be_recorded_are_logged_once_per_batch(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The store is down: retried for a third of the lease, then one WARNING."""
    store = Finishes(rows(3), answer=None)
    hooks = Hooks()
    sweeper = TriggerSweeper(
        store, Recorder(), clock=trio_wall, hooks=[hooks], lease=30
    )
    report = await sweeper.sweep()
    assert report.fired == ("t0000", "t0001", "t0002")
    assert trio.current_time() <= 10  # retried for lease / 3 at most
    assert len(store.calls) > 1
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "could not record the outcome of 3 dispatch(es)" in warning.getMessage()
    names = warning.tickwork_triggers  # type: ignore[attr-defined]
    assert sorted(names) == ["t0000", "t0001", "t0002"]
    assert sorted(hooks.fired) == ["t0000", "t0001", "t0002"]
    assert not sweeper._in_flight


async def test_blocking_dispatches_in_a_scheduler_all_start_and_stay_busy(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Fifty dispatches of 5 s start together; a sweep meanwhile finds them busy.

    (Their next 1 s window has come while they run.)
    """
    starts: list[float] = []

    async def slow(_row: TriggerRow) -> None:
        starts.append(trio.current_time())
        await trio.sleep(5)

    store = Finishes(rows(50, "1s"))
    sweeper = TriggerSweeper(
        store,
        slow,
        clock=trio_wall,
        tick_interval=60,
        max_concurrent=50,
        min_interval=1,
    )
    scheduler = Scheduler([sweeper.loop()], seed=3)
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        await trio.sleep(2)
        beside = await sweeper.sweep()
        assert len(sweeper._in_flight) == 50
        await trio.sleep(4)
        assert not sweeper._in_flight
        scheduler.stop()
    assert starts == [0.0] * 50
    assert beside.busy == tuple(r.name for r in rows(50))
    assert beside.held == ()
    assert beside.fired == ()
    assert sum(store.calls) == 50


async def test_dispatches_cut_at_shutdown_release_their_leases(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Twenty hung dispatches cut by the grace: each window recorded cancelled."""

    async def hangs(_row: TriggerRow) -> None:
        await trio.sleep_forever()

    store = MemoryTriggerStore(rows(20))
    sweeper = TriggerSweeper(store, hangs, clock=trio_wall)
    report = await run_sweeper(sweeper, 3)
    assert report.cancelled == ("triggers",)
    assert [r.outcome for r in await store.all()] == ["cancelled"] * 20
    assert not sweeper._in_flight
