"""Calendar triggers: a row's cron expression in a zone, swept on the window model.

The sweeps run on a wall clock the test moves by hand (`Wall`), or on one
that follows Trio's MockClock when a sweeper loop runs in a Scheduler.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import attrs
import pytest
import trio
import trio.testing

from tests.trigger_helpers import START, Recorder, Wall, stamp
from tickwork import Scheduler, current_run
from tickwork._cron import CalendarGrid
from tickwork._hooks import Hooks
from tickwork._lease import Claim
from tickwork.triggers import MemoryTriggerStore, TriggerRow, TriggerSweeper
from tickwork.triggers._decide import Decider
from tickwork.triggers._model import datetime_micros

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
# 11:MM in Berlin in November (CET, UTC+1) is 10:MM UTC: windows at 10:00,
# 10:01, 10:03, 10:04 and 10:06 UTC, unevenly spaced.
CRON = "0,1,3,4,6 11 * * *"
TEN = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
Fired = list[tuple[datetime, datetime, bool]]
"""(wall time, window, catching_up) of each dispatch."""


def _at(minutes: int, seconds: int = 0) -> datetime:
    return TEN + timedelta(minutes=minutes, seconds=seconds)


def _us(moment: datetime) -> int:
    return datetime_micros(moment)


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


def _row(
    name: str,
    cron: object = "*/5 * * * *",
    zone: object = "UTC",
    *,
    interval: object = "",
    anchor: object = _us(START - timedelta(hours=1)),
    window: object = None,
    last: object = None,
) -> TriggerRow:
    """A calendar row whose id is its name."""
    return TriggerRow(
        name,
        name,
        interval,  # type: ignore[arg-type]
        True,
        last,  # type: ignore[arg-type]
        anchor,  # type: ignore[arg-type]
        window,  # type: ignore[arg-type]
        cron=cron,  # type: ignore[arg-type]
        timezone=zone,  # type: ignore[arg-type]
    )


# --- firing across DST --------------------------------------------------------


@attrs.define
class TrioWall:
    """A wall clock that follows Trio's: *epoch* at Trio time 0."""

    epoch: datetime

    def __call__(self) -> datetime:
        """The wall time now."""
        return self.epoch + timedelta(seconds=trio.current_time())

    def seconds(self) -> float:
        """The wall time now in seconds since the epoch: the store's clock."""
        return self().timestamp()


@pytest.mark.parametrize(
    ("added", "windows"),
    [
        # Spring forward on Sunday 2026-03-29: 02:30 does not exist, and
        # fires once, at the change (03:00 CEST = 01:00 UTC).
        (
            datetime(2026, 3, 27, 12, tzinfo=UTC),
            ["03-28 01:30", "03-29 01:00", "03-30 00:30", "03-31 00:30"],
        ),
        # Fall back on Sunday 2026-10-25: 02:30 happens twice, and fires
        # once, at the first (CEST, 00:30 UTC).
        (
            datetime(2026, 10, 23, 12, tzinfo=UTC),
            ["10-24 00:30", "10-25 00:30", "10-26 01:30", "10-27 01:30"],
        ),
    ],
)
async def test_a_berlin_nightly_trigger_fires_once_a_local_day_across_dst(
    autojump_clock: trio.testing.MockClock, added: datetime, windows: list[str]
) -> None:
    """30 2 * * * in Europe/Berlin: one fire per local day, transition days too."""
    wall = TrioWall(added)
    store = MemoryTriggerStore(clock=wall.seconds)
    row = await store.add(name="nightly", cron="30 2 * * *", timezone="Europe/Berlin")
    assert (row.interval, row.cron, row.timezone) == (
        "",
        "30 2 * * *",
        "Europe/Berlin",
    )
    runs: Fired = []

    async def dispatch(row: TriggerRow) -> None:
        run = current_run()
        assert isinstance(run.window, datetime)
        assert row.cron == "30 2 * * *"
        runs.append((wall(), run.window, run.catching_up))

    sweeper = TriggerSweeper(store, dispatch, tick_interval=300, clock=wall)
    scheduler = Scheduler([sweeper.loop()], seed=1)
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        await trio.sleep((3 * 24 + 14) * 3600)  # to Tuesday 02:00 UTC
        scheduler.stop()
    assert [f"{window:%m-%d %H:%M}" for _, window, _ in runs] == windows
    assert all(window.tzinfo == UTC for _, window, _ in runs)
    # Each at the first sweep in its window (sweeps 300 s apart, +-5 %).
    assert all(
        timedelta(0) <= at - window <= timedelta(seconds=320) for at, window, _ in runs
    )
    assert not any(catching for _, _, catching in runs)
    local_days = [window.astimezone(BERLIN).date() for _, window, _ in runs]
    assert len(set(local_days)) == len(local_days) == 4
    assert (sweeper.caught_up, sweeper.missed, sweeper.lost) == (0, 0, 0)


async def test_a_new_calendar_trigger_waits_for_its_first_window() -> None:
    """Added at 09:59:30, 11:00 Berlin is not due until 10:00:00 UTC, then fires."""
    wall = Wall(_at(0, -30))
    store = MemoryTriggerStore(clock=wall.seconds)
    await store.add(name="report", cron=CRON, timezone="Europe/Berlin")
    fired: Fired = []
    sweeper = _sweeper(store, wall, fired)
    assert (await sweeper.sweep()).not_due == ("report",)
    wall.now = _at(0)
    assert (await sweeper.sweep()).fired == ("report",)
    wall.now = _at(0, 50)
    assert (await sweeper.sweep()).not_due == ("report",)
    wall.now = _at(1)
    assert (await sweeper.sweep()).fired == ("report",)
    wall.now = _at(2, 59)  # no window at 10:02
    assert (await sweeper.sweep()).not_due == ("report",)
    assert fired == [(_at(0), _at(0), False), (_at(1), _at(1), False)]


# --- catch-up after an outage ---------------------------------------------------


async def _outage(**options: object) -> tuple[Fired, TriggerSweeper]:
    """The CRON trigger, swept every 10 s but while every sweeper is down.

    Down from 10:00:30 to 10:05:10: windows 10:01, 10:03 and 10:04 pass
    unfired. Returns every dispatch and the sweeper that came back.
    """
    wall = Wall(_at(0, -30))
    store = MemoryTriggerStore(clock=wall.seconds)
    await store.add(name="report", cron=CRON, timezone="Europe/Berlin")
    fired: Fired = []
    wall.now = _at(0)
    before = _sweeper(store, wall, fired, **options)
    while wall.now < _at(0, 30):
        await before.sweep()
        wall.advance(10)
    wall.now = _at(5, 10)
    after = _sweeper(store, wall, fired, **options)
    while wall.now <= _at(6, 5):
        await after.sweep()
        wall.advance(10)
    return fired, after


async def test_latest_fires_the_most_recent_missed_window_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With "latest": 10:04 fires at 10:05:10, catching up; 10:06 on time."""
    caplog.set_level(logging.WARNING, "tickwork")
    fired, after = await _outage()
    assert fired == [
        (_at(0), _at(0), False),
        (_at(5, 10), _at(4), True),
        (_at(6), _at(6), False),
    ]
    assert (after.caught_up, after.missed, after.lost) == (1, 2, 0)
    # 10:01, 10:03 and 10:04 passed, and 70 s of the 120 s to 10:06.
    lines = [r.getMessage() for r in caplog.records if "catch-up" in r.getMessage()]
    assert lines == ["trigger 'report': catch-up, 3.6 windows overdue; firing it once"]


async def test_skip_fires_nothing_until_the_next_window() -> None:
    """With "skip": nothing for 10:01, 10:03, 10:04; 10:06 fires on time."""
    fired, after = await _outage(catch_up="skip")
    assert fired == [(_at(0), _at(0), False), (_at(6), _at(6), False)]
    assert (after.caught_up, after.missed, after.lost) == (0, 3, 0)


async def test_all_fires_every_missed_calendar_window_in_order() -> None:
    """With "all": the calendar's 10:01, 10:03, 10:04, one a sweep, then 10:06."""
    fired, after = await _outage(catch_up="all")
    assert fired == [
        (_at(0), _at(0), False),
        (_at(5, 10), _at(1), True),
        (_at(5, 20), _at(3), True),
        (_at(5, 30), _at(4), True),
        (_at(6), _at(6), False),
    ]
    assert (after.caught_up, after.missed, after.lost) == (3, 0, 0)


async def test_all_with_a_limit_records_the_oldest_missed_as_lost() -> None:
    """catch_up_limit=2: 10:03 and 10:04 fire; 10:01 is recorded lost."""
    fired, after = await _outage(catch_up="all", catch_up_limit=2)
    assert [window for _, window, _ in fired] == [_at(m) for m in (0, 3, 4, 6)]
    assert (after.caught_up, after.missed, after.lost) == (2, 0, 1)


# --- claims, leases and the clock ---------------------------------------------------


async def _claimed(
    holder_lease: float, *, at: datetime
) -> tuple[MemoryTriggerStore, Wall]:
    """A store whose "*/5" row's 12:00 window was claimed at 12:00:10 by "gone"."""
    wall = Wall(START + timedelta(seconds=10))
    store = MemoryTriggerStore([_row("five")], clock=wall.seconds)
    claim = Claim("five", _us(START), _us(START))
    (answer,) = await store.claim_windows(
        "trigger", [claim], lease=holder_lease, holder="gone"
    )
    assert answer.won
    wall.now = at
    return store, wall


@pytest.mark.parametrize(
    ("delivery", "fired", "attempt"),
    [("at_least_once", ("five",), 2), ("at_most_once", (), None)],
)
async def test_an_abandoned_calendar_window_is_redone_only_at_least_once(
    delivery: str, fired: tuple[str, ...], attempt: int | None
) -> None:
    """12:00's holder vanished; at 12:01 at least once runs it again, attempt 2."""
    store, wall = await _claimed(30, at=START + timedelta(minutes=1))
    attempts: list[tuple[int, object]] = []

    async def dispatch(row: TriggerRow) -> None:
        attempts.append((current_run().attempt, current_run().window))

    sweeper = TriggerSweeper(store, dispatch, clock=wall, delivery=delivery)  # type: ignore[arg-type]
    report = await sweeper.sweep()
    assert report.fired == fired
    assert attempts == ([] if attempt is None else [(attempt, START)])


@pytest.mark.parametrize(
    ("delivery", "window", "attempt", "lost"),
    [
        ("at_least_once", START, 2, ()),
        ("at_most_once", START + timedelta(minutes=5), 1, ("five",)),
    ],
)
async def test_an_abandoned_window_met_in_a_later_one_is_redone_or_lost(
    delivery: str, window: datetime, attempt: int, lost: tuple[str, ...]
) -> None:
    """At 12:05:10: at least once re-runs 12:00 first; at most once records it lost."""
    store, wall = await _claimed(30, at=START + timedelta(minutes=5, seconds=10))
    attempts: list[tuple[int, object]] = []

    async def dispatch(row: TriggerRow) -> None:
        attempts.append((current_run().attempt, current_run().window))

    sweeper = TriggerSweeper(store, dispatch, clock=wall, delivery=delivery)  # type: ignore[arg-type]
    report = await sweeper.sweep()
    assert report.fired == ("five",)
    assert report.lost == lost
    assert attempts == [(attempt, window)]


async def test_the_next_window_is_held_while_a_run_holds_its_lease() -> None:
    """12:00's run holds a 10-minute lease: at 12:05:10 the trigger is held."""
    store, wall = await _claimed(600, at=START + timedelta(minutes=5, seconds=10))
    sweeper = TriggerSweeper(store, Recorder(), clock=wall)
    report = await sweeper.sweep()
    assert report.held == ("five",)
    assert report.fired == ()


@pytest.mark.parametrize(
    ("anchor", "window", "message"),
    [
        (START + timedelta(minutes=10), None, "anchored (added) after its next window"),
        (
            START - timedelta(hours=1),
            START + timedelta(minutes=10),
            "its last window starts after its next window",
        ),
    ],
)
async def test_times_in_the_future_are_not_due_with_one_warning(
    caplog: pytest.LogCaptureFixture,
    anchor: datetime,
    window: datetime | None,
    message: str,
) -> None:
    """An anchor or last window past the next window (a wrong clock) waits, warned."""
    caplog.set_level(logging.DEBUG, "tickwork")
    row = _row(
        "ahead", anchor=_us(anchor), window=None if window is None else _us(window)
    )
    wall = Wall()
    sweeper = TriggerSweeper(
        MemoryTriggerStore([row], clock=wall.seconds), Recorder(), clock=wall
    )
    assert (await sweeper.sweep()).not_due == ("ahead",)
    assert (await sweeper.sweep()).not_due == ("ahead",)
    warned = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and message in r.getMessage()
    ]
    assert len(warned) == 1
    assert "check the clocks" in warned[0]


# --- rows without an anchor, and broken rows ------------------------------------


async def test_a_calendar_row_without_an_anchor_fires_its_latest_window() -> None:
    """Never fired, no anchor (written by hand): 12:00 fires at 12:02, anchoring it."""
    wall = Wall(START + timedelta(minutes=2))
    store = MemoryTriggerStore([_row("bare", anchor=None)], clock=wall.seconds)
    dispatch = Recorder()
    sweeper = TriggerSweeper(store, dispatch, clock=wall)
    assert (await sweeper.sweep()).fired == ("bare",)
    (stored,) = await store.all()
    assert (stored.anchor_us, stored.window_us) == (_us(START), _us(START))
    assert (await sweeper.sweep()).not_due == ("bare",)


async def test_a_calendar_row_without_an_anchor_is_anchored_at_its_last_fire() -> None:
    """last_fired_at 12:01, no anchor: not due at 12:02; 12:05 fires, anchored 12:01."""
    last = START + timedelta(minutes=1)
    wall = Wall(START + timedelta(minutes=2))
    store = MemoryTriggerStore(
        [_row("old", anchor=None, last=stamp(last))], clock=wall.seconds
    )
    sweeper = TriggerSweeper(store, Recorder(), clock=wall)
    assert (await sweeper.sweep()).not_due == ("old",)
    wall.now = START + timedelta(minutes=5)
    assert (await sweeper.sweep()).fired == ("old",)
    (stored,) = await store.all()
    assert (stored.anchor_us, stored.window_us) == (_us(last), _us(wall.now))


async def test_a_schedule_with_no_window_yet_is_not_due() -> None:
    """@yearly in the year 1, before its first 1 January: nothing to fire."""
    wall = Wall(datetime(1, 6, 1, tzinfo=UTC))
    rows = [
        _row("bare", "@yearly", anchor=None),
        _row("anchored", "@yearly", anchor=_us(wall.now)),
    ]
    sweeper = TriggerSweeper(MemoryTriggerStore(rows), Recorder(), clock=wall)
    assert (await sweeper.sweep()).not_due == ("anchored", "bare")


async def test_bad_calendar_rows_are_invalid_by_field_and_skipped_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each broken row is invalid, naming the field at fault, warned once; alone."""
    caplog.set_level(logging.WARNING, "tickwork")
    reasons: dict[str, str] = {}

    class Hook:
        def on_trigger_invalid(self, *, trigger: TriggerRow, reason: str) -> None:
            reasons[trigger.name] = reason

    rows = [
        _row("a-minute", "61 * * * *"),
        _row("b-zone", zone="Mars/Base"),
        _row("c-both", interval="15m"),
        _row("d-neither", None, None),
        _row("e-zone-only", None, "Europe/Berlin", interval="15m"),
        _row("f-bytes", b"\xff * * * *"),
        _row("g-last", anchor=None, last=b"\xff"),
        _row("h-anchor", anchor="soon"),
        _row("i-fine"),
        _row("j-never", "0 0 31 2 *"),
    ]
    wall = Wall()
    dispatch = Recorder()
    sweeper = TriggerSweeper(
        MemoryTriggerStore(rows, clock=wall.seconds),
        dispatch,
        clock=wall,
        hooks=[Hook()],
    )
    first = await sweeper.sweep()
    second = await sweeper.sweep()
    names = tuple(r.name for r in rows if r.name != "i-fine")
    assert first.invalid == second.invalid == names
    assert dispatch.names == ["i-fine"]
    assert "'cron' field 'minute' must be 0-59 (got '61')" in reasons["a-minute"]
    assert "'timezone' must be an IANA zone name" in reasons["b-zone"]
    assert "(got 'Mars/Base')" in reasons["b-zone"]
    assert (
        "its interval '15m' and its cron '*/5 * * * *' are both set"
        in reasons["c-both"]
    )
    assert "it has no schedule" in reasons["d-neither"]
    assert (
        "its timezone 'Europe/Berlin' is set but its cron is not"
        in reasons["e-zone-only"]
    )
    assert "'cron' must be a cron expression" in reasons["f-bytes"]
    assert "its last_fired_at b'\\xff' is not usable text" in reasons["g-last"]
    assert "its anchor_us 'soon'" in reasons["h-anchor"]
    assert "'cron' fields 'day-of-month' and 'month' never match" in reasons["j-never"]
    for name in names:
        warned = [r for r in caplog.records if repr(name) in r.getMessage()]
        assert len(warned) == 1, name


async def test_min_interval_does_not_hold_back_a_cron_schedule() -> None:
    """A minutely cron fires under min_interval=300: min_interval is for intervals."""
    wall = Wall()
    dispatch = Recorder()
    store = MemoryTriggerStore([_row("minutely", "* * * * *")], clock=wall.seconds)
    sweeper = TriggerSweeper(store, dispatch, clock=wall, min_interval=300)
    assert (await sweeper.sweep()).fired == ("minutely",)
    wall.advance(60)
    assert (await sweeper.sweep()).fired == ("minutely",)


def test_a_schedule_is_walked_once_a_window_not_once_a_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """1000 rows of one schedule cost one walk a window; a bad schedule one parse."""
    walks: list[int] = []
    before = CalendarGrid.before

    def counted(self: CalendarGrid, high: int, n: int) -> list[int]:
        walks.append(high)
        return before(self, high, n)

    monkeypatch.setattr(CalendarGrid, "before", counted)
    rows = [_row(f"t{i:04}") for i in range(1000)]
    rows += [_row(f"bad{i}", zone="Nowhere/Land") for i in range(3)]
    decider = Decider(60, 2, Hooks())
    now = _us(START + timedelta(minutes=1))
    assert len(decider.decide(rows, now).due) == 1000
    assert len(decider.decide(rows, now + 60_000_000).due) == 1000  # same window
    assert len(walks) == 1
    assert len(decider.decide(rows, now + 300_000_000).due) == 1000  # 12:05
    assert len(walks) == 2
    assert len(decider._calendars) == 2


def test_the_memory_of_schedules_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past its size the memory of schedules is cleared, and rows still decide."""
    monkeypatch.setattr("tickwork.triggers._decide._MAX_INTERVALS", 2)
    rows = [_row(f"t{minute}", f"{minute} * * * *") for minute in range(5)]
    decider = Decider(60, 2, Hooks())
    now = _us(START + timedelta(minutes=5))
    for _ in range(2):
        assert [d.window for d in decider.decide(rows, now).due] == [
            _us(START + timedelta(minutes=minute)) for minute in range(5)
        ]
        assert len(decider._calendars) <= 2
