"""The TriggerStore contract, run against every store: memory, SQLite, PostgreSQL.

The first part runs against each store alone; the second against each
database several stores share (SQLite and PostgreSQL), edited on the side by
its own driver. Real stores use worker threads, so these tests run on Trio's
real clock; none of them sleeps.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import pytest
import trio
import trio.testing

from tests.trigger_helpers import (
    PostgresDatabase,
    Recorder,
    SQLiteDatabase,
    Wall,
    check_each_window_fires_once,
    holding,
)
from tickwork import InvalidConfigError, WrongTypeError
from tickwork._lease import (
    CANCELLED,
    EARLY,
    FAILED,
    GONE,
    HELD,
    PAUSED,
    SUCCEEDED,
    TAKEN,
    WON,
    Claim,
    Claimed,
    WindowState,
)
from tickwork.triggers import (
    MemoryTriggerStore,
    PostgresTriggerStore,
    SQLiteTriggerStore,
    TriggerRow,
    TriggerStore,
    TriggerStoreError,
    TriggerSweeper,
    UnknownTriggerError,
)
from tickwork.triggers._model import datetime_micros

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from tests.trigger_helpers import Database

T1 = "2026-01-01T00:00:00Z"
T2 = "2026-01-01T00:15:00.250000Z"


def _database(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """An empty database of *kind*, "sqlite" or "postgres"."""
    if kind == "sqlite":
        return SQLiteDatabase(tmp_path / "triggers.db")
    return PostgresDatabase(request.getfixturevalue("postgres_dsn"))


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[TriggerStore]:
    """An empty store of each kind, closed after the test."""
    made: TriggerStore
    if request.param == "memory":
        made = MemoryTriggerStore()
    else:
        made = _database(request.param, request, tmp_path).open()
    async with made:
        yield made


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """An empty database of each kind that several stores can share."""
    return _database(request.param, request, tmp_path)


async def test_add_creates_an_enabled_row_that_never_fired(store: TriggerStore) -> None:
    """add returns the stored row: enabled, never fired, with a fresh id."""
    row = await store.add(name="refresh", interval="15m")
    assert row.name == "refresh"
    assert row.interval == "15m"
    assert row.enabled is True
    assert row.last_fired_at is None
    assert row.id
    assert list(await store.all()) == [row]
    assert list(await store.enabled()) == [row]


async def test_enabled_lists_only_enabled_rows_and_all_lists_every_row(
    store: TriggerStore,
) -> None:
    """enabled() leaves disabled rows out; both listings are ordered by name."""
    c = await store.add(name="c", interval="1h")
    a = await store.add(name="a", interval="2d", enabled=False)
    b = await store.add(name="b", interval="90s")
    assert [row.name for row in await store.all()] == ["a", "b", "c"]
    assert list(await store.enabled()) == [b, c]
    assert a.enabled is False


async def test_duplicate_name_is_a_value_error_and_changes_nothing(
    store: TriggerStore,
) -> None:
    """A second add with a taken name raises ValueError naming it."""
    first = await store.add(name="refresh", interval="15m")
    with pytest.raises(ValueError, match="'refresh' exists"):
        await store.add(name="refresh", interval="1h")
    assert list(await store.all()) == [first]


@pytest.mark.parametrize(
    ("name", "interval", "enabled", "error", "match"),
    [
        ("x", "15", True, InvalidConfigError, "'interval'"),
        ("x", "0s", True, InvalidConfigError, "'interval'"),
        ("x", 900, True, WrongTypeError, "'interval'"),
        ("", "15m", True, InvalidConfigError, "'name'"),
        (" x", "15m", True, InvalidConfigError, "'name'"),
        (None, "15m", True, WrongTypeError, "'name'"),
        ("a\nb", "15m", True, InvalidConfigError, "'name' must not contain control"),
        ("a\x00b", "15m", True, InvalidConfigError, "'name' must not contain control"),
        ("a\x1b[2Jb", "15m", True, InvalidConfigError, "'name'"),
        ("x\n", "15m", True, InvalidConfigError, "'name'"),
        ("x", "15m", 1, WrongTypeError, "'enabled' must be a bool"),
        ("x", "15m", None, WrongTypeError, "'enabled' must be a bool"),
    ],
)
async def test_add_refuses_bad_arguments_and_stores_nothing(  # noqa: PLR0917
    store: TriggerStore,
    name: object,
    interval: object,
    enabled: object,
    error: type[Exception],
    match: str,
) -> None:
    """Bad add arguments raise an error naming the field; no row is created."""
    with pytest.raises(error, match=match):
        await store.add(name=name, interval=interval, enabled=enabled)  # type: ignore[arg-type]
    assert list(await store.all()) == []


CalendarStore = MemoryTriggerStore | SQLiteTriggerStore | PostgresTriggerStore


def _calendar_store(store: TriggerStore) -> CalendarStore:
    """*store* as the tickwork store it is, whose add takes a cron schedule."""
    assert isinstance(
        store, MemoryTriggerStore | SQLiteTriggerStore | PostgresTriggerStore
    )
    return store


async def test_a_calendar_trigger_round_trips(store: TriggerStore) -> None:
    """A cron row comes back as added: no interval, its expression and zone."""
    calendar = _calendar_store(store)
    berlin = await calendar.add(
        name="nightly", cron="30 2 * * *", timezone="Europe/Berlin"
    )
    utc = await calendar.add(name="hourly", cron="@hourly", enabled=False)
    assert (berlin.interval, berlin.cron, berlin.timezone) == (
        "",
        "30 2 * * *",
        "Europe/Berlin",
    )
    assert (utc.interval, utc.cron, utc.timezone) == ("", "@hourly", "UTC")
    assert type(berlin.anchor_us) is int
    interval = await calendar.add(name="refresh", interval="15m")
    assert (interval.cron, interval.timezone) == (None, None)
    assert list(await store.all()) == [utc, berlin, interval]
    assert list(await store.enabled()) == [berlin, interval]


@pytest.mark.parametrize(
    ("schedule", "error", "match"),
    [
        ({"cron": "61 * * * *"}, InvalidConfigError, "'cron' field 'minute'"),
        ({"cron": "0 3 * *"}, InvalidConfigError, "'cron' must have 5 fields"),
        (
            {"cron": "0 3 * * *", "timezone": "Mars/Base"},
            InvalidConfigError,
            "'timezone' must be an IANA zone name",
        ),
        ({"cron": 3}, WrongTypeError, "'cron' must be a cron expression"),
        (
            {"interval": "15m", "cron": "0 3 * * *"},
            InvalidConfigError,
            "'interval' and 'cron' must not both be set",
        ),
        (
            {"interval": "15m", "timezone": "UTC"},
            InvalidConfigError,
            "'timezone' applies to a 'cron' schedule only",
        ),
        ({}, InvalidConfigError, "a trigger needs a schedule"),
    ],
)
async def test_add_refuses_a_bad_schedule_by_field_and_stores_nothing(
    store: TriggerStore,
    schedule: dict[str, object],
    error: type[Exception],
    match: str,
) -> None:
    """A bad expression, an unknown zone, both or neither schedule: refused by name."""
    with pytest.raises(error, match=match):
        await _calendar_store(store).add(name="x", **schedule)  # type: ignore[arg-type]
    assert list(await store.all()) == []


async def test_claim_is_a_compare_and_set_on_the_exact_text(
    store: TriggerStore,
) -> None:
    """claim stores fired_at only while last_fired_at equals what the caller saw."""
    row = await store.add(name="refresh", interval="15m")
    assert await store.claim(row.id, None, T1) is True
    assert await store.claim(row.id, None, T2) is False  # someone won it
    assert (await store.all())[0].last_fired_at == T1
    # The same instant written differently is different text: it loses.
    assert await store.claim(row.id, "2026-01-01T00:00:00.000000Z", T2) is False
    assert await store.claim(row.id, T1, T2) is True
    assert (await store.all())[0].last_fired_at == T2  # kept verbatim


async def test_claim_of_an_unknown_or_removed_row_loses(store: TriggerStore) -> None:
    """Claiming a row that is not there returns False, never raises."""
    row = await store.add(name="refresh", interval="15m")
    assert await store.claim("no-such-id", None, T1) is False
    await store.remove("refresh")
    assert await store.claim(row.id, None, T1) is False


async def test_claim_many_wins_exactly_the_rows_whose_text_still_matches(
    store: TriggerStore,
) -> None:
    """claim_many sets every matching row to fired_at and returns their ids."""
    rows = [await store.add(name=f"t{i}", interval="1m") for i in range(4)]
    assert await store.claim(rows[1].id, None, T1)
    claims = [(row.id, row.last_fired_at) for row in rows] + [("gone", None)]
    won = await store.claim_many(claims, T2)
    assert won == {rows[0].id, rows[2].id, rows[3].id}
    assert [row.last_fired_at for row in await store.all()] == [T2, T1, T2, T2]


async def test_set_enabled_toggles_and_unknown_name_is_a_key_error(
    store: TriggerStore,
) -> None:
    """set_enabled flips the flag; an unknown name raises KeyError naming it."""
    await store.add(name="refresh", interval="15m")
    await store.set_enabled("refresh", False)
    assert list(await store.enabled()) == []
    await store.set_enabled("refresh", True)
    assert [row.name for row in await store.enabled()] == ["refresh"]
    with pytest.raises(KeyError) as caught:
        await store.set_enabled("nope", True)
    assert str(caught.value) == "no trigger named 'nope'"
    with pytest.raises(WrongTypeError, match="'enabled'"):
        await store.set_enabled("refresh", "no")  # type: ignore[arg-type]


async def test_remove_deletes_and_unknown_name_is_a_key_error(
    store: TriggerStore,
) -> None:
    """remove deletes the row, frees its name, and refuses unknown names."""
    await store.add(name="refresh", interval="15m")
    keep = await store.add(name="keep", interval="1h")
    await store.remove("refresh")
    assert list(await store.all()) == [keep]
    with pytest.raises(UnknownTriggerError, match="'refresh'"):
        await store.remove("refresh")
    again = await store.add(name="refresh", interval="2h")
    assert again.interval == "2h"


async def test_a_closed_store_refuses_calls(store: TriggerStore) -> None:
    """After aclose every call raises TriggerStoreError; closing twice is fine."""
    await store.aclose()
    await store.aclose()
    with pytest.raises(TriggerStoreError, match="closed"):
        await store.all()


async def test_rows_keep_unusual_text_exactly(store: TriggerStore) -> None:
    """Names and timestamps come back byte for byte (unicode, offsets)."""
    row = await store.add(name="rafraîchir ✓", interval="1d")
    stamp = "2026-01-01T01:00:00.5+01:00"
    assert await store.claim(row.id, None, stamp)
    assert list(await store.all()) == [
        TriggerRow(row.id, "rafraîchir ✓", "1d", True, stamp, row.anchor_us)
    ]


async def test_messages_cut_the_values_they_show(store: TriggerStore) -> None:
    """A name of 1 000 characters shows as 200 at most in every error."""
    long = "n" * 1000
    await store.add(name=long, interval="1h")
    errors: list[Exception] = []
    for call in (
        lambda: store.add(name=long, interval="1h"),
        lambda: store.add(name="x", interval=long),
        lambda: store.remove(long + "?"),
        lambda: store.set_enabled(long + "?", False),
        lambda: store.set_enabled("x", long),  # type: ignore[arg-type]
    ):
        with pytest.raises((ValueError, TypeError, KeyError)) as caught:
            await call()
        errors.append(caught.value)
    for error in errors:
        assert 0 < len(str(error)) < 400
        assert "…" in str(error)


def test_memory_store_refuses_duplicate_rows_and_counts_in_repr() -> None:
    """Initial rows must have unique names; repr says how many rows it holds."""
    rows = [
        TriggerRow("1", "a", "1m", True, None),
        TriggerRow("2", "a", "1m", True, None),
    ]
    with pytest.raises(ValueError, match="'a' exists"):
        MemoryTriggerStore(rows)
    assert repr(MemoryTriggerStore(rows[:1])) == "<MemoryTriggerStore with 1 row(s)>"


# --- one database, several stores ---------------------------------------------


async def test_four_stores_on_one_database_fire_each_window_once(
    database: Database,
) -> None:
    """4 stores on one database racing over 48 due rows: each fires once a window."""
    stores = [database.open() for _ in range(4)]
    try:
        with trio.fail_after(60):
            await check_each_window_fires_once(stores, database.execute)
    finally:
        for store in stores:
            await store.aclose()


@pytest.mark.parametrize(
    ("version", "match"),
    [
        ("99", r"schema version 99; .* up to 2\b"),
        ("v2", r"schema version v2; "),
        ("²", r"schema version ²; "),
        ("9" * 5000, r"schema version 9{199}…; "),
    ],
)
async def test_a_database_from_a_newer_tickwork_is_refused(
    database: Database, version: str, match: str
) -> None:
    """A schema version above ours, or not a number, raises TriggerStoreError."""
    async with database.open() as store:
        await store.all()
    database.execute(f"UPDATE tickwork_meta SET value = '{version}'")  # noqa: S608
    async with database.open() as store:
        with pytest.raises(TriggerStoreError, match=match) as caught:
            await store.all()
        assert len(str(caught.value)) < 400


async def test_a_call_queued_behind_aclose_fails_cleanly(database: Database) -> None:
    """A call queued for a connection as the store closes raises TriggerStoreError."""
    store = database.open()
    await store.all()
    outcome: list[BaseException] = []

    async def listing() -> None:
        try:
            await store.all()
        except Exception as exc:  # noqa: BLE001 - the test looks at what it is
            outcome.append(exc)

    # Hold every connection so the listing queues; it queued before the close.
    async with trio.open_nursery() as nursery, holding(store._limiter):
        nursery.start_soon(listing)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(store.aclose)
        await trio.testing.wait_all_tasks_blocked()
    assert [type(error) for error in outcome] == [TriggerStoreError]
    assert "closed" in str(outcome[0])
    assert database.released(store)


async def test_a_cancelled_aclose_still_closes(database: Database) -> None:
    """aclose cancelled while a call holds the connection still closes the store."""
    store = database.open()
    await store.all()
    cancelled = []

    async def close() -> None:
        with trio.CancelScope() as scope:
            scope.cancel()
            await store.aclose()
        cancelled.append(scope.cancelled_caught)

    async with trio.open_nursery() as nursery, holding(store._limiter):
        nursery.start_soon(close)
        await trio.testing.wait_all_tasks_blocked()
    assert cancelled == [True]  # it honoured the cancel, after closing
    assert database.released(store)
    with pytest.raises(TriggerStoreError, match="closed"):
        await store.all()


DATA = Path(__file__).parent / "data"


async def test_a_version_1_database_written_by_part_1_keeps_working(
    database: Database,
) -> None:
    """A database tickwork 0.1 wrote (tests/data) is upgraded, lists and sweeps.

    The SQLite file was written by the 0.1 code itself; the PostgreSQL one is
    its schema and rows as SQL. The upgrade itself is tested in
    test_migration.py; here the rows read as they were, and a sweep now
    (every enabled row is long overdue) fires each of them once.
    """
    if isinstance(database, SQLiteDatabase):
        shutil.copyfile(DATA / "triggers-v1.sqlite", database.path)
    else:
        database.execute((DATA / "postgres-v1.sql").read_text(encoding="utf-8"))
    async with database.open() as store:
        rows = {row.name: row for row in await store.all()}
        assert {name: (row.interval, row.enabled) for name, row in rows.items()} == {
            "hourly": ("1h", True),
            "never-fired": ("1h30m", True),
            "nightly-export": ("1d", False),
            "refresh-prices": ("15m", True),
        }
        assert rows["refresh-prices"].last_fired_at == "2026-11-23T12:00:00Z"
        assert rows["hourly"].last_fired_at == "2026-11-23T11:30:00.250000Z"
        # The stores' clocks are real ones, and the upgrade anchored
        # never-fired at theirs: sweep as of now, on the same host.
        wall = Wall(datetime.now(timezone.utc))
        report = await TriggerSweeper(store, Recorder(), clock=wall).sweep()
    assert report.fired == ("hourly", "never-fired", "refresh-prices")
    assert report.not_due == ()


async def test_a_bad_calendar_row_in_the_database_is_invalid_alone(
    database: Database,
) -> None:
    """Rows broken by hand in the tables: each invalid by field, the others fire.

    The store's clock is a real one: "minutely" is anchored an hour back so
    that its latest minute is its own, and fires.
    """
    async with database.open() as store:
        await store.add(name="fine", interval="1m")
        for name in ("bad-cron", "bad-zone", "both", "zone-only"):
            await store.add(name=name, cron="0 3 * * *")
        await store.add(name="leap-day", cron="0 0 29 2 *")
        await store.add(name="minutely", cron="* * * * *", timezone="Asia/Kolkata")
        database.execute(
            "UPDATE tickwork_triggers SET anchor_us = anchor_us - 3600000000 "
            "WHERE name = 'minutely'"
        )
        database.execute(
            "UPDATE tickwork_triggers SET cron = '0 3 * * * *' WHERE name = 'bad-cron'"
        )
        database.execute(
            "UPDATE tickwork_triggers SET timezone = 'Mars/Base' "
            "WHERE name = 'bad-zone'"
        )
        database.execute(
            "UPDATE tickwork_triggers SET interval = '1h' WHERE name = 'both'"
        )
        database.execute(
            "UPDATE tickwork_triggers SET interval = '1h', cron = NULL "
            "WHERE name = 'zone-only'"
        )
        reasons: dict[str, str] = {}

        class Hook:
            def on_trigger_invalid(self, *, trigger: TriggerRow, reason: str) -> None:
                reasons[trigger.name] = reason

        wall = Wall(datetime.now(timezone.utc))
        dispatch = Recorder()
        sweeper = TriggerSweeper(store, dispatch, clock=wall, hooks=[Hook()])
        report = await sweeper.sweep()
        stored = {row.name: row for row in await store.all()}
    assert report.invalid == ("bad-cron", "bad-zone", "both", "zone-only")
    assert report.fired == ("fine", "minutely")
    # Its window is the latest whole minute that started, claimed as any window.
    window = stored["minutely"].window_us
    assert window is not None
    assert window % 60_000_000 == 0
    assert 0 <= datetime_micros(wall.now) - window < 60_000_000
    assert report.not_due == ("leap-day",)  # its first 29 February is to come
    assert "'cron' must have 5 fields" in reasons["bad-cron"]
    assert "'timezone' must be an IANA zone name" in reasons["bad-zone"]
    assert "are both set" in reasons["both"]
    assert "its timezone 'UTC' is set but its cron is not" in reasons["zone-only"]


# --- windows, leases and fencing tokens: the same rules in every store --------

HOUR_US = 3_600_000_000
LEASE = 30.0


def _past(claimed: Claimed) -> int:
    """A window start an hour before the store's clock, so it is due."""
    return claimed.now - HOUR_US


async def _store_now(store: TriggerStore) -> int:
    """The store's clock, in microseconds, as a claim that is early reports it."""
    (probe,) = await store.claim_windows(
        "loop", [Claim("probe", 2**62, 2**62)], lease=LEASE, holder="probe"
    )
    assert probe.status == EARLY
    return probe.now


async def test_a_loop_window_is_won_once_and_taken_by_the_others(
    store: TriggerStore,
) -> None:
    """The first claim of a window wins token 1; a second holder finds it taken."""
    now = await _store_now(store)
    want = Claim("renew", now - HOUR_US, now - HOUR_US)
    (first,) = await store.claim_windows("loop", [want], lease=LEASE, holder="a")
    (second,) = await store.claim_windows("loop", [want], lease=LEASE, holder="b")
    assert (first.status, first.token, first.attempt) == (WON, 1, 1)
    assert first.window == want.window
    assert first.lease_until is not None
    assert first.now <= first.lease_until - LEASE * 1e6 <= second.now
    assert (second.status, second.token, second.window) == (TAKEN, 1, want.window)
    [row] = [r for r in await store.loops() if r.name == "renew"]
    assert row.state.holder == "a"
    assert row.state.running


async def test_the_next_window_is_held_while_a_run_holds_its_lease(
    store: TriggerStore,
) -> None:
    """No overlap: a valid lease blocks the next window until the outcome is in."""
    now = await _store_now(store)
    one = Claim("renew", now - 2 * HOUR_US, now - 2 * HOUR_US)
    two = Claim("renew", now - HOUR_US, now - HOUR_US)
    (won,) = await store.claim_windows("loop", [one], lease=LEASE, holder="a")
    (held,) = await store.claim_windows("loop", [two], lease=LEASE, holder="b")
    assert held.status == HELD
    assert await store.finish_windows("loop", [("renew", won.token, SUCCEEDED)]) == [
        True
    ]
    (next_,) = await store.claim_windows("loop", [two], lease=LEASE, holder="b")
    assert (next_.status, next_.token, next_.lost_window) == (WON, 2, None)
    [row] = [r for r in await store.loops() if r.name == "renew"]
    assert (row.state.window, row.state.outcome, row.state.lost) == (
        two.window,
        None,
        0,
    )


async def test_a_window_is_early_until_a_second_before_its_fire_instant(
    store: TriggerStore,
) -> None:
    """The store's clock decides: a fire instant more than 1 s ahead is early."""
    now = await _store_now(store)
    later = now + 60_000_000
    (early,) = await store.claim_windows(
        "loop", [Claim("renew", later, later)], lease=LEASE, holder="a"
    )
    assert early.status == EARLY
    assert early.now >= now
    soon = now - 1_000_000 + 1_000_000  # its fire instant minus 1 s has passed
    (won,) = await store.claim_windows(
        "loop", [Claim("renew", soon, soon)], lease=LEASE, holder="a"
    )
    assert won.status == WON


async def test_renewals_and_outcomes_count_only_for_the_current_token(
    store: TriggerStore,
) -> None:
    """A stale token is fenced: its renewal and its outcome are refused."""
    now = await _store_now(store)
    want = Claim("renew", now - HOUR_US, now - HOUR_US)
    (won,) = await store.claim_windows("loop", [want], lease=LEASE, holder="a")
    assert await store.renew_leases("loop", [("renew", won.token)], lease=LEASE) == [
        True
    ]
    stale = won.token - 1
    assert await store.renew_leases(
        "loop", [("renew", stale), ("nobody", 1)], lease=LEASE
    ) == [False, False]
    assert await store.finish_windows("loop", [("renew", stale, SUCCEEDED)]) == [False]
    done = await store.finish_windows("loop", [("renew", won.token, FAILED)])
    assert done == [True]
    # Once the outcome is in, the token renews nothing and records no other
    # outcome; the same outcome again is accepted (a retry after a lost reply).
    assert await store.renew_leases("loop", [("renew", won.token)], lease=LEASE) == [
        False
    ]
    assert await store.finish_windows("loop", [("renew", won.token, SUCCEEDED)]) == [
        False
    ]
    assert await store.finish_windows("loop", [("renew", won.token, FAILED)]) == [True]
    [row] = [r for r in await store.loops() if r.name == "renew"]
    assert (row.state.outcome, row.state.lease_until) == (FAILED, None)


async def test_an_abandoned_window_is_lost_at_most_once_and_redone_at_least_once(
    store: TriggerStore,
) -> None:
    """A lease that lapsed with no outcome: lost to a new window, or run again."""
    now = await _store_now(store)
    old = Claim("a", now - 2 * HOUR_US, now - 2 * HOUR_US)
    new = Claim("a", now - HOUR_US, now - HOUR_US)
    tiny = 1e-6  # the lease lapses at once
    (first,) = await store.claim_windows("loop", [old], lease=tiny, holder="dead")
    (next_,) = await store.claim_windows("loop", [new], lease=LEASE, holder="b")
    assert (next_.status, next_.lost_window, next_.attempt) == (WON, old.window, 1)
    assert next_.token == first.token + 1
    redo = Claim("b", old.window, old.fire, redo_from=old.window)
    again = attrs.evolve(new, key="b", redo_from=old.window)
    await store.claim_windows("loop", [redo], lease=tiny, holder="dead")
    (second,) = await store.claim_windows("loop", [again], lease=LEASE, holder="b")
    assert (second.status, second.window, second.attempt) == (WON, old.window, 2)
    assert second.lost_window is None
    states = {row.name: row.state for row in await store.loops()}
    assert (states["a"].lost, states["b"].lost) == (1, 0)


async def test_a_cancelled_window_is_redone_at_least_once_without_waiting(
    store: TriggerStore,
) -> None:
    """A run cut by shutdown records cancelled; at least once claims it again."""
    now = await _store_now(store)
    want = Claim("renew", now - HOUR_US, now - HOUR_US, redo_from=now - HOUR_US)
    (won,) = await store.claim_windows("loop", [want], lease=LEASE, holder="a")
    await store.finish_windows("loop", [("renew", won.token, CANCELLED)])
    (again,) = await store.claim_windows("loop", [want], lease=LEASE, holder="b")
    assert (again.status, again.attempt, again.token) == (WON, 2, won.token + 1)


async def test_trigger_claims_keep_their_state_in_the_row(store: TriggerStore) -> None:
    """A trigger's window state is in its row; unknown ids are gone."""
    row = await store.add(name="refresh", interval="15m")
    assert row.anchor_us is not None
    now = await _store_now(store)
    assert now - 60_000_000 <= row.anchor_us <= now
    want = Claim(row.id, row.anchor_us, row.anchor_us)
    won, gone = await store.claim_windows(
        "trigger", [want, Claim("no-such-id", 0, 0)], lease=LEASE, holder="a"
    )
    assert (won.status, gone.status) == (WON, GONE)
    [stored] = await store.all()
    assert (stored.window_us, stored.token, stored.holder) == (row.anchor_us, 1, "a")
    assert stored.lease_until_us == won.lease_until
    assert stored.last_fired_at is not None
    assert stored.outcome is None
    assert await store.finish_windows("trigger", [(row.id, 1, SUCCEEDED)]) == [True]
    [stored] = await store.all()
    assert (stored.outcome, stored.lease_until_us, stored.attempt) == (
        SUCCEEDED,
        None,
        1,
    )


async def test_one_batch_applies_its_claims_in_order(store: TriggerStore) -> None:
    """Claims of one key in one batch see each other: the second is taken."""
    now = await _store_now(store)
    wants = [Claim(f"l{i}", now - HOUR_US, now - HOUR_US) for i in range(3)]
    answers = await store.claim_windows(
        "loop", [*wants, wants[0]], lease=LEASE, holder="a"
    )
    assert [a.status for a in answers] == [WON, WON, WON, TAKEN]
    assert [row.name for row in await store.loops()] == ["l0", "l1", "l2", "probe"]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        ("kind", "'kind' must be 'trigger' or 'loop'"),
        ("lease", "'lease' must be finite and > 0"),
        ("outcome", "'outcome' must be one of cancelled, failed"),
    ],
)
async def test_window_calls_refuse_bad_arguments_by_name(
    store: TriggerStore, call: str, match: str
) -> None:
    """A bad kind, lease or outcome is an InvalidConfigError naming it."""
    with pytest.raises(InvalidConfigError, match=match):
        await _bad_window_call(store, call)


async def _bad_window_call(store: TriggerStore, call: str) -> object:
    """Make one window call with one bad argument, named by *call*."""
    if call == "kind":
        return await store.claim_windows("job", [], lease=LEASE, holder="a")  # type: ignore[arg-type]
    if call == "lease":
        return await store.renew_leases("loop", [], lease=0)
    return await store.finish_windows("loop", [("x", 1, "done")])


# --- stored pause and resume; when a window was claimed and ended -------------

TEN_MINUTES_US = 600_000_000


async def _loop_state(store: TriggerStore, name: str) -> WindowState:
    """The window state of loop *name*, which must have a row."""
    [state] = [row.state for row in await store.loops() if row.name == name]
    return state


async def test_pausing_a_loop_makes_its_row_paused_and_claims_answer_paused(
    store: TriggerStore,
) -> None:
    """set_paused on a loop with no row makes it paused; its claims change nothing."""
    await store.set_paused("loop", "nightly", True)
    state = await _loop_state(store, "nightly")
    assert state.paused
    assert (state.window, state.token, state.resumed) == (None, 0, None)
    now = await _store_now(store)
    want = Claim("nightly", now - HOUR_US, now - HOUR_US)
    (answer,) = await store.claim_windows("loop", [want], lease=LEASE, holder="a")
    assert (answer.status, answer.window, answer.token) == (PAUSED, None, 0)
    assert await _loop_state(store, "nightly") == state


async def test_resuming_a_loop_notes_when_and_its_claims_win_again(
    store: TriggerStore,
) -> None:
    """A resume notes when on the store's clock; windows from before it are passed over.

    Pausing a paused loop, or resuming a running one, changes nothing.
    """
    now = await _store_now(store)
    first = Claim("nightly", now - HOUR_US, now - HOUR_US)
    (won,) = await store.claim_windows("loop", [first], lease=LEASE, holder="a")
    assert await store.finish_windows("loop", [("nightly", won.token, SUCCEEDED)])
    await store.set_paused("loop", "nightly", True)
    await store.set_paused("loop", "nightly", True)
    paused = await _loop_state(store, "nightly")
    assert paused.paused
    assert (paused.window, paused.token, paused.resumed) == (first.window, 1, None)
    await store.set_paused("loop", "nightly", False)
    later = await _store_now(store)
    resumed = await _loop_state(store, "nightly")
    assert not resumed.paused
    assert resumed.resumed is not None
    assert now <= resumed.resumed <= later
    await store.set_paused("loop", "nightly", False)
    assert (await _loop_state(store, "nightly")).resumed == resumed.resumed
    # A window that started while the loop was paused is passed over.
    during = Claim("nightly", now - HOUR_US // 2, now - HOUR_US // 2)
    (passed,) = await store.claim_windows("loop", [during], lease=LEASE, holder="b")
    assert (passed.status, passed.window, passed.token) == (PAUSED, during.window, 1)
    again = Claim("nightly", later, later, step=HOUR_US // 4)
    (answer,) = await store.claim_windows("loop", [again], lease=LEASE, holder="b")
    assert (answer.status, answer.token, answer.missed) == (WON, 2, 0)


async def test_resuming_a_loop_with_no_row_makes_its_row_as_pausing_does(
    store: TriggerStore,
) -> None:
    """set_paused(False) on a loop with no row makes the row: running, never resumed.

    Like pausing it (the docstring: "a loop's row is made if it has none
    yet"), and like resuming a loop that was never paused: nothing to note.
    """
    await store.set_paused("loop", "nightly", False)
    state = await _loop_state(store, "nightly")
    assert (bool(state.paused), state.resumed, state.token) == (False, None, 0)


async def test_loops_report_paused_as_a_bool(store: TriggerStore) -> None:
    """LoopRow.state.paused is a bool, as WindowState declares it, in every store."""
    await store.set_paused("loop", "nightly", True)
    await _store_now(store)
    paused = {row.name: row.state.paused for row in await store.loops()}
    assert paused == {"nightly": True, "probe": False}
    assert all(type(value) is bool for value in paused.values())


async def test_pausing_a_trigger_is_disabling_it(store: TriggerStore) -> None:
    """Pausing a trigger is disabling it: its claims answer paused till it resumes."""
    row = await store.add(name="refresh", interval="15m")
    await store.set_paused("trigger", "refresh", True)
    assert list(await store.enabled()) == []
    [stored] = await store.all()
    assert stored.enabled is False
    now = await _store_now(store)
    want = Claim(row.id, now - HOUR_US, now - HOUR_US)
    (answer,) = await store.claim_windows("trigger", [want], lease=LEASE, holder="a")
    assert (answer.status, answer.token) == (PAUSED, 0)
    await store.set_paused("trigger", "refresh", False)
    assert [r.name for r in await store.enabled()] == ["refresh"]
    later = await _store_now(store)
    want = Claim(row.id, later, later)
    (answer,) = await store.claim_windows("trigger", [want], lease=LEASE, holder="a")
    assert (answer.status, answer.token) == (WON, 1)


@pytest.mark.parametrize("via", ["set_enabled", "set_paused"])
async def test_enabling_a_disabled_trigger_is_a_resume_not_a_catch_up(
    store: TriggerStore, via: str
) -> None:
    """Windows a trigger was disabled for are not missed; an enabled one's are.

    Both ran the window 100 minutes ago; at the next claim the one disabled
    and enabled since misses nothing, the other the 10 windows of the grid
    that started since. Enabling a trigger that is enabled notes no resume.
    """
    paused = await store.add(name="paused", interval="10m")
    running = await store.add(name="running", interval="10m")
    now = await _store_now(store)
    old = now - 10 * TEN_MINUTES_US
    first = [Claim(r.id, old, old, step=TEN_MINUTES_US) for r in (paused, running)]
    won = await store.claim_windows("trigger", first, lease=LEASE, holder="a")
    assert [a.status for a in won] == [WON, WON]
    outcomes = [(a.key, a.token, SUCCEEDED) for a in won]
    assert await store.finish_windows("trigger", outcomes) == [True, True]
    if via == "set_enabled":
        await store.set_enabled("paused", False)
        await store.set_enabled("paused", True)
    else:
        await store.set_paused("trigger", "paused", True)
        await store.set_paused("trigger", "paused", False)
    await store.set_enabled("running", True)
    later = await _store_now(store)
    wants = [Claim(r.id, later, later, step=TEN_MINUTES_US) for r in (paused, running)]
    answers = await store.claim_windows("trigger", wants, lease=LEASE, holder="b")
    assert [(a.status, a.missed) for a in answers] == [(WON, 0), (WON, 10)]


async def test_a_claim_and_its_outcome_record_when_they_happened(
    store: TriggerStore,
) -> None:
    """claimed is when a claim won, ended when its outcome came; loops() shows both."""
    now = await _store_now(store)
    want = Claim("job", now - HOUR_US, now - HOUR_US)
    (won,) = await store.claim_windows("loop", [want], lease=LEASE, holder="a")
    state = await _loop_state(store, "job")
    assert (state.claimed, state.ended) == (won.now, None)
    assert await store.finish_windows("loop", [("job", won.token, SUCCEEDED)])
    later = await _store_now(store)
    state = await _loop_state(store, "job")
    assert state.claimed == won.now
    assert state.ended is not None
    assert won.now <= state.ended <= later
    # A refused outcome (a stale token) records no end.
    assert await store.finish_windows("loop", [("job", 99, FAILED)]) == [False]
    assert (await _loop_state(store, "job")).ended == state.ended
    # The next claim notes its own time and clears the end.
    again = Claim("job", later, later)
    (next_,) = await store.claim_windows("loop", [again], lease=LEASE, holder="b")
    state = await _loop_state(store, "job")
    assert (state.claimed, state.ended, state.token) == (next_.now, None, 2)


@pytest.mark.parametrize(
    ("kind", "name", "paused", "error", "match"),
    [
        ("trigger", "nope", True, UnknownTriggerError, "no trigger named 'nope'"),
        ("trigger", "nope", False, UnknownTriggerError, "no trigger named 'nope'"),
        ("job", "refresh", True, InvalidConfigError, "'kind' must be 'trigger' or"),
        ("loop", "refresh", 1, WrongTypeError, "'paused' must be a bool"),
        ("trigger", "refresh", "no", WrongTypeError, "'paused' must be a bool"),
        ("loop", "refresh", None, WrongTypeError, "'paused' must be a bool"),
    ],
)
async def test_set_paused_refuses_bad_arguments_and_changes_nothing(  # noqa: PLR0917
    store: TriggerStore,
    kind: str,
    name: str,
    paused: object,
    error: type[Exception],
    match: str,
) -> None:
    """An unknown trigger, a bad kind or a paused that is not a bool raise by name."""
    row = await store.add(name="refresh", interval="15m")
    with pytest.raises(error, match=match):
        await store.set_paused(kind, name, paused)  # type: ignore[arg-type]
    assert list(await store.all()) == [row]
    assert list(await store.loops()) == []
