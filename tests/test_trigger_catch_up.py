"""Triggers' catch-up policies: every sweeper down from 10:00:30 to 10:05:10."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest

from tests.trigger_helpers import Wall
from tickwork import InvalidConfigError, current_run
from tickwork.triggers import MemoryTriggerStore, TriggerRow, TriggerSweeper

TEN = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
Fired = list[tuple[datetime, datetime, bool]]


def _sweeper(
    store: MemoryTriggerStore, wall: Wall, fired: Fired, **options: object
) -> TriggerSweeper:
    async def dispatch(row: TriggerRow) -> None:
        run = current_run()
        assert isinstance(run.window, datetime)
        fired.append((wall.now, run.window, run.catching_up))

    return TriggerSweeper(
        store,
        dispatch,
        tick_interval=10,
        clock=wall,
        **options,  # type: ignore[arg-type]
    )


async def _outage(**options: object) -> tuple[Fired, TriggerSweeper]:
    """A trigger every minute from 10:00; sweeps every 10 s but for the outage.

    Returns every dispatch (wall time, window, catching_up) and the sweeper
    that came back.
    """
    wall = Wall(TEN)
    store = MemoryTriggerStore(clock=wall.seconds)
    await store.add(name="report", interval="1m")
    fired: Fired = []
    before = _sweeper(store, wall, fired, **options)
    while wall.now < TEN + timedelta(seconds=30):
        await before.sweep()
        wall.advance(10)
    wall.now = TEN + timedelta(minutes=5, seconds=10)
    after = _sweeper(store, wall, fired, **options)
    while wall.now <= TEN + timedelta(minutes=6, seconds=5):
        await after.sweep()
        wall.advance(10)
    return fired, after


def _at(minutes: int, seconds: int = 0) -> datetime:
    return TEN + timedelta(minutes=minutes, seconds=seconds)


async def test_latest_fires_the_most_recent_missed_window_once() -> None:
    """With "latest": window 10:05 fires at 10:05:10, catching up; 10:06 on time."""
    fired, after = await _outage()
    assert fired == [
        (_at(0), _at(0), False),
        (_at(5, 10), _at(5), True),
        (_at(6), _at(6), False),
    ]
    assert (after.caught_up, after.missed, after.lost) == (1, 4, 0)


async def test_skip_fires_nothing_until_the_next_window() -> None:
    """With "skip": nothing for 10:01 ... 10:05; 10:06 fires on time."""
    fired, after = await _outage(catch_up="skip")
    assert fired == [(_at(0), _at(0), False), (_at(6), _at(6), False)]
    assert (after.caught_up, after.missed, after.lost) == (0, 5, 0)


async def test_all_fires_every_missed_window_in_order_one_a_sweep() -> None:
    """With "all": 10:01 ... 10:05 in order, one each sweep, then 10:06."""
    fired, after = await _outage(catch_up="all")
    assert [window for _, window, _ in fired] == [_at(m) for m in range(7)]
    assert [catching for _, _, catching in fired] == [False, *[True] * 5, False]
    assert fired[1][0] == _at(5, 10)
    assert (after.caught_up, after.missed, after.lost) == (5, 0, 0)


async def test_all_with_a_limit_records_the_oldest_as_lost_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """catch_up_limit=3: 10:03, 10:04, 10:05 fire; 10:01 and 10:02 are lost."""
    caplog.set_level(logging.WARNING, "tickwork")
    fired, after = await _outage(catch_up="all", catch_up_limit=3)
    assert [window for _, window, _ in fired] == [_at(m) for m in (0, 3, 4, 5, 6)]
    assert (after.caught_up, after.missed, after.lost) == (3, 0, 2)
    lines = [r.getMessage() for r in caplog.records if "catch-up" in r.getMessage()]
    assert len(lines) == 1
    assert "2 recorded lost" in lines[0]


async def test_a_resumed_trigger_is_no_catch_up() -> None:
    """Disabled from 10:00:30 to 10:05:10, then enabled: 10:06 is its next fire."""
    wall = Wall(TEN)
    store = MemoryTriggerStore(clock=wall.seconds)
    await store.add(name="report", interval="1m")
    fired: Fired = []
    sweeper = _sweeper(store, wall, fired, catch_up="all")
    await sweeper.sweep()
    wall.now = _at(0, 30)
    await store.set_paused("trigger", "report", True)
    while wall.now < _at(5, 10):
        await sweeper.sweep()
        wall.advance(10)
    await store.set_paused("trigger", "report", False)
    while wall.now <= _at(6, 5):
        await sweeper.sweep()
        wall.advance(10)
    assert [window for _, window, _ in fired] == [_at(0), _at(6)]
    assert (sweeper.caught_up, sweeper.missed) == (0, 0)


def test_bad_catch_up_values_name_the_field() -> None:
    """A catch_up out of its set, or a limit below 1, is refused by name."""
    store = MemoryTriggerStore()

    async def dispatch(row: TriggerRow) -> None: ...

    with pytest.raises(InvalidConfigError, match="'catch_up' must be one of"):
        TriggerSweeper(store, dispatch, catch_up="every")  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError, match="'catch_up_limit' must be >= 1"):
        TriggerSweeper(store, dispatch, catch_up_limit=0)


async def test_a_replica_joining_does_not_skip_the_window_others_sweep() -> None:
    """skip: a sweeper's first sweep fires a due window other replicas keep on time."""
    wall = Wall(TEN)
    store = MemoryTriggerStore(clock=wall.seconds)
    await store.add(name="report", interval="1m")
    fired: Fired = []
    a = _sweeper(store, wall, fired, catch_up="skip")
    while wall.now < _at(2):
        await a.sweep()
        wall.advance(30)
    wall.now = _at(2, 5)
    b = _sweeper(store, wall, fired, catch_up="skip")
    report = await b.sweep()
    assert report.missed == ()
    assert fired[-1] == (_at(2, 5), _at(2), False)
