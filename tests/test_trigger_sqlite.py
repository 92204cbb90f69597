"""SQLiteTriggerStore beyond the contract: restarts, the file, broken rows, closing.

Worker threads are involved, so these tests use Trio's real clock and an
injected wall clock; none of them sleeps. The store's own clock is injected
too, so leases lapse exactly when a test says. Rows are broken, and files made
read-only, through a second plain sqlite3 connection, as a user would.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

from tests.trigger_helpers import START, Recorder, Wall, holding, stamp
from tickwork import InvalidConfigError, WrongTypeError
from tickwork._lease import HELD, SUCCEEDED, WON, Claim
from tickwork.triggers import (
    SQLiteTriggerStore,
    TriggerRow,
    TriggerStoreError,
    TriggerSweeper,
)
from tickwork.triggers import _sqlite_connection as sqlite_module

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path


def edit(path: Path, *statements: str) -> None:
    """Run *statements* on the file through a connection of their own."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in statements:
            connection.execute(statement)
    finally:
        connection.close()


def names(rows: Sequence[TriggerRow]) -> list[str]:
    """The names of *rows*, in order."""
    return [row.name for row in rows]


def following(wall: Wall) -> Callable[[], float]:
    """A store clock that reads *wall*, so that store and sweeper agree on now."""
    return lambda: wall.now.timestamp()  # noqa: PLW0108 - wall.now moves


async def test_a_reopened_file_continues_where_the_last_process_left_off(
    tmp_path: Path,
) -> None:
    """A new store on the same file knows what fired: no refire, no idle day."""
    path = tmp_path / "triggers.db"
    wall = Wall()
    dispatch = Recorder()
    async with SQLiteTriggerStore(path, clock=following(wall)) as store:
        await store.add(name="hourly", interval="1h")
        await store.add(name="daily", interval="1d")
        assert (await TriggerSweeper(store, dispatch, clock=wall).sweep()).fired == (
            "daily",
            "hourly",
        )
    wall.advance(3600)  # the "deploy": an hour later, a new process
    async with SQLiteTriggerStore(path, clock=following(wall)) as store:
        report = await TriggerSweeper(store, dispatch, clock=wall).sweep()
        assert report.fired == ("hourly",)
        assert report.not_due == ("daily",)
        rows = {row.name: row.last_fired_at for row in await store.all()}
    assert rows == {"daily": stamp(START), "hourly": stamp(wall.now)}
    assert dispatch.counts == {"daily": 1, "hourly": 2}


async def test_the_file_is_in_wal_mode_with_full_sync_and_a_schema_version(
    tmp_path: Path,
) -> None:
    """First use creates the schema with version 2, WAL and synchronous=FULL."""
    path = tmp_path / "triggers.db"
    async with SQLiteTriggerStore(path, busy_timeout=2.5) as store:
        await store.all()
        connection = store._connection
        assert connection is not None
        assert connection.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
        assert connection.execute("PRAGMA busy_timeout").fetchone() == (2500,)
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert check.execute("SELECT key, value FROM tickwork_meta").fetchall() == [
            ("schema_version", "2")
        ]
    check.close()


async def test_rows_edited_by_hand_are_reported_not_fatal(tmp_path: Path) -> None:
    """Garbage written with the sqlite3 shell is swept as invalid or due, alone."""
    path = tmp_path / "triggers.db"
    async with SQLiteTriggerStore(path) as store:
        await store.all()
    with sqlite3.connect(path) as edit:
        edit.executemany(
            "INSERT INTO tickwork_triggers "
            "(id, name, interval, enabled, last_fired_at) VALUES (?, ?, ?, ?, ?)",
            [
                ("1", "numeric", 900, 1, None),  # TEXT affinity: stored as '900'
                ("2", "garbled-time", "1h", 1, "last tuesday"),
                ("3", "blob-time", "1h", 1, b"\x00\x01"),
            ],
        )
    edit.close()
    dispatch = Recorder()
    async with SQLiteTriggerStore(path) as store:
        report = await TriggerSweeper(store, dispatch, clock=Wall()).sweep()
    assert report.invalid == ("blob-time", "numeric")
    assert report.fired == ("garbled-time",)
    assert dispatch.names == ["garbled-time"]


@pytest.mark.parametrize("path", [":memory:", "file::memory:", "file:x?mode=memory"])
async def test_an_in_memory_database_works(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """':memory:' (or an in-memory URI) lives as long as the store, unwarned."""
    async with SQLiteTriggerStore(path) as store:
        await store.add(name="a", interval="1m")
        assert [row.name for row in await store.all()] == ["a"]
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize(
    ("busy_timeout", "got"),
    [
        (0, "0"),
        (-1, "-1"),
        (math.nan, "nan"),
        (math.inf, "inf"),
        (2_147_483.648, "2147483.648"),
        (3e9, "3000000000.0"),
    ],
)
def test_busy_timeout_outside_sqlites_range_is_refused(
    tmp_path: Path, busy_timeout: float, got: str
) -> None:
    """busy_timeout must be in (0, 2147483.647] s, SQLite's int of milliseconds."""
    with pytest.raises(InvalidConfigError) as caught:
        SQLiteTriggerStore(tmp_path / "x.db", busy_timeout=busy_timeout)
    assert str(caught.value) == (
        "'busy_timeout' must be > 0 and <= 2147483.647 seconds, the longest "
        f"wait SQLite takes (got {got})"
    )


@pytest.mark.parametrize(
    ("busy_timeout", "milliseconds"), [(2_147_483.647, 2**31 - 1), (1e-6, 1)]
)
async def test_busy_timeout_reaches_sqlite_at_both_ends(
    tmp_path: Path, busy_timeout: float, milliseconds: int
) -> None:
    """The longest wait reaches SQLite whole, and the shortest is 1 ms, never 0."""
    path = tmp_path / "t.db"
    async with SQLiteTriggerStore(path, busy_timeout=busy_timeout) as store:
        await store.all()
        connection = store._connection
        assert connection is not None
        assert connection.execute("PRAGMA busy_timeout").fetchone() == (milliseconds,)


@pytest.mark.parametrize("path", ["", "file:", "file:?mode=ro", "file:#x"])
def test_a_path_that_means_a_temporary_database_is_refused(path: str) -> None:
    """An empty path (SQLite's private temporary database) raises, naming 'path'."""
    with pytest.raises(InvalidConfigError, match="'path' must name a database"):
        SQLiteTriggerStore(path)


def test_a_path_of_the_wrong_type_is_refused() -> None:
    """A path that is neither str nor os.PathLike raises WrongTypeError naming it."""
    with pytest.raises(WrongTypeError, match="'path'"):
        SQLiteTriggerStore(3)  # type: ignore[arg-type]


def test_repr_cuts_a_long_path() -> None:
    """A path of 1 000 characters shows as at most 200 in repr."""
    assert len(repr(SQLiteTriggerStore("p" * 1000))) < 230


# --- rows broken by hand ------------------------------------------------------


async def test_undecodable_text_comes_back_as_bytes_in_its_row_only(
    tmp_path: Path,
) -> None:
    """Text that is not UTF-8 is read as bytes; only its row is affected.

    A broken interval makes its row invalid. A broken last_fired_at does
    not: since schema version 2 it only shows when the trigger last fired,
    and its window state says which window is next.
    """
    path = tmp_path / "triggers.db"
    wall = Wall()
    async with SQLiteTriggerStore(path, clock=following(wall)) as store:
        for name in ("a", "broken", "stamp", "é ✓"):
            await store.add(name=name, interval="1h")
        edit(
            path,
            "UPDATE tickwork_triggers SET interval = CAST(X'FF31' AS TEXT) "
            "WHERE name = 'broken'",
            "UPDATE tickwork_triggers SET last_fired_at = CAST(X'C328' AS TEXT) "
            "WHERE name = 'stamp'",
        )
        rows = {row.name: row for row in await store.all()}
        stored: tuple[object, ...] = (
            rows["broken"].interval,
            rows["stamp"].last_fired_at,
        )
        assert stored == (b"\xff1", b"\xc3(")
        assert rows["é ✓"].interval == "1h"  # good text in the same listing
        assert names(await store.enabled()) == ["a", "broken", "stamp", "é ✓"]
        report = await TriggerSweeper(store, Recorder(), clock=wall).sweep()
    assert report.invalid == ("broken",)
    assert report.fired == ("a", "stamp", "é ✓")
    assert report.listing_error is None


async def test_odd_ids_and_enabled_values_come_back_raw(tmp_path: Path) -> None:
    """A NULL id is None; enabled other than 0 or 1 is returned as stored.

    The sweeper then reports each such row invalid, alone.
    """
    path = tmp_path / "triggers.db"
    # Tables made by another tool, without the NOT NULL constraints.
    edit(
        path,
        "CREATE TABLE tickwork_meta (key TEXT PRIMARY KEY, value TEXT)",
        "INSERT INTO tickwork_meta VALUES ('schema_version', '1')",
        "CREATE TABLE tickwork_triggers (id TEXT PRIMARY KEY, name TEXT, "
        "interval TEXT, enabled INTEGER, last_fired_at TEXT)",
        "INSERT INTO tickwork_triggers VALUES "
        "(NULL, 'no-id', '1h', 1, NULL), ('2', 'text', '1h', 'yes', NULL), "
        "('3', 'two', '1h', 2, NULL), ('4', 'null', '1h', NULL, NULL), "
        "('5', 'off', '1h', 0, NULL), ('6', 'real', '1h', 0.5, NULL), "
        "('7', 'blob', '1h', X'01', NULL)",
    )
    wall = Wall()
    async with SQLiteTriggerStore(path, clock=following(wall)) as store:
        assert [(row.name, row.id, row.enabled) for row in await store.all()] == [
            ("blob", "7", b"\x01"),
            ("no-id", None, True),
            ("null", "4", None),
            ("off", "5", False),
            ("real", "6", 0.5),
            ("text", "2", "yes"),
            ("two", "3", 2),
        ]
        enabled = names(await store.enabled())
        assert enabled == ["blob", "no-id", "real", "text", "two"]
        report = await TriggerSweeper(store, Recorder(), clock=wall).sweep()
    # Each odd row is invalid alone, and none fires.
    assert report.fired == ()
    assert report.invalid == ("blob", "no-id", "real", "text", "two")


async def test_a_failed_listing_leaves_no_snapshot_behind(tmp_path: Path) -> None:
    """After a listing raised mid-way, the next one sees other writers at once.

    (Rows are built into TriggerRow only when read, after the listing; what
    can fail mid-way inside it is sqlite3 decoding a value, here on the
    second row.)
    """
    path = tmp_path / "triggers.db"
    store = SQLiteTriggerStore(path)
    for name in ("a", "b", "c"):
        await store.add(name=name, interval="1h")
    made = 0

    def breaks_on_the_second_row(data: bytes) -> str:
        nonlocal made
        made += 1
        if made == 5:  # id, name and interval are text: the second row's name
            msg = "text conversion broke"
            raise RuntimeError(msg)
        return data.decode()

    connection = store._connection
    assert connection is not None
    connection.text_factory = breaks_on_the_second_row
    try:
        with pytest.raises(RuntimeError, match="conversion broke") as caught:
            await store.all()
    finally:
        connection.text_factory = str
    edit(path, "DELETE FROM tickwork_triggers WHERE name = 'a'")
    try:
        assert names(await store.all()) == ["b", "c"]
        assert store._connection is connection
        assert not connection.in_transaction
    finally:
        del caught  # held until here: its traceback would keep a cursor alive
        await store.aclose()


# --- read-only databases ------------------------------------------------------


async def _file_with_rows(path: Path) -> None:
    """Create the file with rows a (enabled) and b (disabled)."""
    async with SQLiteTriggerStore(path) as store:
        await store.add(name="a", interval="1h")
        await store.add(name="b", interval="1h", enabled=False)


async def test_a_read_only_uri_is_listed(tmp_path: Path) -> None:
    """'file:...?mode=ro' is an SQLite URI: it lists; only writes fail."""
    path = tmp_path / "triggers.db"
    await _file_with_rows(path)
    async with SQLiteTriggerStore(f"file:{path}?mode=ro") as store:
        assert names(await store.all()) == ["a", "b"]
        assert names(await store.enabled()) == ["a"]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await store.add(name="c", interval="1h")
        assert names(await store.all()) == ["a", "b"]


async def test_a_read_only_file_not_in_wal_mode_is_listed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """When switching to WAL fails on a read-only file, that is DEBUG, not fatal."""
    caplog.set_level(logging.DEBUG, logger="tickwork.triggers")
    path = tmp_path / "triggers.db"
    await _file_with_rows(path)
    edit(path, "PRAGMA journal_mode = DELETE")
    async with SQLiteTriggerStore(f"file:{path}?mode=ro") as store:
        assert names(await store.all()) == ["a", "b"]
    wal = [r for r in caplog.records if "WAL" in r.getMessage()]
    assert [r.levelno for r in wal] == [logging.DEBUG]


async def test_a_database_that_refuses_writes_is_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where every write fails (query_only), listing works: no write lock is taken."""
    path = tmp_path / "triggers.db"
    await _file_with_rows(path)
    connect = sqlite3.connect

    def refusing_writes(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection: sqlite3.Connection = connect(*args, **kwargs)
        connection.execute("PRAGMA query_only = ON")
        return connection

    monkeypatch.setattr(sqlite3, "connect", refusing_writes)
    async with SQLiteTriggerStore(path) as store:
        assert names(await store.all()) == ["a", "b"]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await store.claim("x", None, "2026-01-01T00:00:00Z")


# --- closing ------------------------------------------------------------------


async def test_a_second_aclose_finishes_what_a_failed_one_left(
    tmp_path: Path,
) -> None:
    """If closing the connection failed once, the next aclose closes it."""
    store = SQLiteTriggerStore(tmp_path / "t.db")
    await store.all()
    assert store._connection is not None
    real: sqlite3.Connection = store._connection

    class FailsOnce:
        """The connection, whose first close raises."""

        failed = False

        def close(self) -> None:
            """Raise the first time, then close."""
            if not self.failed:
                self.failed = True
                msg = "disk I/O error"
                raise sqlite3.OperationalError(msg)
            real.close()

    store._connection = FailsOnce()  # type: ignore[assignment]
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        await store.aclose()
    await store.aclose()
    assert store._connection is None
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        real.execute("SELECT 1")
    with pytest.raises(TriggerStoreError, match="closed"):
        await store.all()


async def test_aclose_waits_for_the_call_in_flight_then_closes(
    tmp_path: Path,
) -> None:
    """A cancelled aclose waits, shielded, for the connection to be free."""
    store = SQLiteTriggerStore(tmp_path / "t.db")
    await store.all()
    done = trio.Event()

    async def close() -> None:
        with trio.CancelScope() as scope:
            scope.cancel()
            await store.aclose()
        done.set()

    async with trio.open_nursery() as nursery:
        async with holding(store._limiter):
            nursery.start_soon(close)
            await trio.testing.wait_all_tasks_blocked()
            assert not done.is_set()  # still waiting for the "call in flight"
            assert store._connection is not None
        await done.wait()
    assert store._connection is None


def test_only_undecodable_text_is_read_again() -> None:
    """Another SQLite error of a query is raised as it is, not retried as bytes."""
    connection = sqlite3.connect(":memory:")
    try:
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            sqlite_module.fetch(connection, "SELECT * FROM nowhere")
        assert connection.text_factory is str
    finally:
        connection.close()


async def test_a_busy_file_is_not_taken_for_a_read_only_one(tmp_path: Path) -> None:
    """If WAL cannot be set because another holds a lock, opening fails loudly."""
    path = tmp_path / "triggers.db"
    await _file_with_rows(path)
    edit(path, "PRAGMA journal_mode = DELETE")
    reader = sqlite3.connect(path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT * FROM tickwork_triggers").fetchall()  # a read lock
        async with SQLiteTriggerStore(path, busy_timeout=0.05) as store:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                await store.all()
    finally:
        reader.close()


async def test_a_call_that_leaves_a_transaction_open_loses_its_connection(
    tmp_path: Path,
) -> None:
    """A connection still in a transaction after a call is closed, not reused."""
    path = tmp_path / "triggers.db"
    await _file_with_rows(path)
    async with SQLiteTriggerStore(path) as store:
        await store._run(lambda c: c.execute("BEGIN IMMEDIATE"))
        assert store._connection is None
        edit(path, "DELETE FROM tickwork_triggers WHERE name = 'a'")  # not locked
        assert names(await store.all()) == ["b"]


async def test_a_missing_version_row_is_written_again(tmp_path: Path) -> None:
    """Tables without their version row get it back on the next open."""
    path = tmp_path / "triggers.db"
    await _file_with_rows(path)
    edit(path, "DELETE FROM tickwork_meta")
    async with SQLiteTriggerStore(path) as store:
        assert names(await store.all()) == ["a", "b"]
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT * FROM tickwork_meta").fetchall() == [
            ("schema_version", "2")
        ]
    check.close()


async def test_an_empty_read_only_database_cannot_be_set_up(tmp_path: Path) -> None:
    """Without tables, a read-only file fails with SQLite's error; nothing is held."""
    path = tmp_path / "empty.db"
    edit(path, "PRAGMA user_version = 1")  # a valid, empty database file
    async with SQLiteTriggerStore(f"file:{path}?mode=ro") as store:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await store.all()
        assert store._connection is None
    edit(path, "CREATE TABLE other (x)")  # no lock was left behind


# --- the store's clock, leases and windows ------------------------------------

LEASE = 30.0
SECOND_US = 1_000_000


class Clock:
    """A store clock the test sets: seconds since the Unix epoch."""

    def __init__(self) -> None:
        """Start at the helpers' START."""
        self.now = START.timestamp()

    def __call__(self) -> float:
        """The time the test set."""
        return self.now

    @property
    def us(self) -> int:
        """The time in microseconds."""
        return round(self.now * 1e6)


def test_a_clock_that_is_not_a_synchronous_callable_is_refused(
    tmp_path: Path,
) -> None:
    """clock must be callable and synchronous; the error names it."""

    async def asynchronous() -> float:
        return 0.0  # pragma: no cover - never called

    for clock in (1.0, asynchronous):
        with pytest.raises(WrongTypeError, match="'clock' must be a synchronous"):
            SQLiteTriggerStore(tmp_path / "t.db", clock=clock)  # type: ignore[arg-type]


async def test_the_store_clock_anchors_new_triggers_and_stamps_claims(
    tmp_path: Path,
) -> None:
    """add anchors at the store's clock; a won claim stamps last_fired_at with it."""
    clock = Clock()
    async with SQLiteTriggerStore(tmp_path / "t.db", clock=clock) as store:
        row = await store.add(name="refresh", interval="15m")
        assert row.anchor_us == clock.us
        clock.now += 90
        (won,) = await store.claim_windows(
            "trigger",
            [Claim(row.id, clock.us - SECOND_US, clock.us - SECOND_US)],
            lease=LEASE,
            holder="a",
        )
        assert (won.status, won.now, won.lease_until) == (
            WON,
            clock.us,
            clock.us + 30 * SECOND_US,
        )
        [stored] = await store.all()
    assert stored.anchor_us == row.anchor_us
    assert stored.last_fired_at == stamp(START + timedelta(seconds=90))


async def test_a_lease_holds_until_the_store_clock_passes_its_end(
    tmp_path: Path,
) -> None:
    """Held while the lease runs, renewed by its token, lost once it lapsed."""
    clock = Clock()
    start = clock.us
    one, two = (Claim("renew", start + k * 60 * SECOND_US, start) for k in (0, 1))
    async with SQLiteTriggerStore(tmp_path / "t.db", clock=clock) as store:
        (won,) = await store.claim_windows("loop", [one], lease=LEASE, holder="a")
        clock.now += 29
        (held,) = await store.claim_windows("loop", [two], lease=LEASE, holder="b")
        assert held.status == HELD
        assert await store.renew_leases("loop", [("renew", won.token)], lease=LEASE)
        clock.now += 29  # 58 s in: the renewed lease runs to 59 s
        (held,) = await store.claim_windows("loop", [two], lease=LEASE, holder="b")
        assert (held.status, held.lease_until) == (HELD, start + 59 * SECOND_US)
        clock.now += 1.000001  # just past it
        (next_,) = await store.claim_windows("loop", [two], lease=LEASE, holder="b")
        assert (next_.status, next_.token, next_.lost_window) == (WON, 2, one.window)
        assert await store.finish_windows("loop", [("renew", 1, SUCCEEDED)]) == [False]
        [row] = await store.loops()
    assert (row.state.holder, row.state.lost, row.state.token) == ("b", 1, 2)


async def test_a_batch_larger_than_one_statement_reads_in_chunks(
    tmp_path: Path,
) -> None:
    """1 200 claims in one call (more than one SELECT's worth) all win, in order."""
    clock = Clock()
    keys = [f"loop-{i:04}" for i in range(1200)]
    async with SQLiteTriggerStore(tmp_path / "t.db", clock=clock) as store:
        claims = [Claim(key, clock.us, clock.us) for key in reversed(keys)]
        answers = await store.claim_windows("loop", claims, lease=LEASE, holder="a")
        assert [a.key for a in answers] == list(reversed(keys))
        assert {a.status for a in answers} == {WON}
        done = await store.finish_windows(
            "loop", [(a.key, a.token, SUCCEEDED) for a in answers]
        )
        assert done == [True] * len(keys)
        rows = await store.loops()
    assert [row.name for row in rows] == keys
    assert {row.state.outcome for row in rows} == {SUCCEEDED}


async def test_a_window_call_that_fails_changes_nothing(tmp_path: Path) -> None:
    """One transaction: if a write fails, no row of the batch changed or appeared."""
    path = tmp_path / "t.db"
    clock = Clock()
    async with SQLiteTriggerStore(path, clock=clock) as store:
        await store.loops()
        edit(
            path,
            "CREATE TRIGGER refuse_z BEFORE UPDATE ON tickwork_loops "
            "WHEN NEW.holder = 'z' BEGIN SELECT RAISE(ABORT, 'no z'); END",
        )
        claims = [Claim(key, clock.us, clock.us) for key in ("a", "b")]
        with pytest.raises(sqlite3.IntegrityError, match="no z"):
            await store.claim_windows("loop", claims, lease=LEASE, holder="z")
        assert await store.loops() == []
        answers = await store.claim_windows("loop", claims, lease=LEASE, holder="y")
        assert [a.status for a in answers] == [WON, WON]
