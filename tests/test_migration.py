"""Schema version 1 to 2, in place: on the databases tickwork 0.1 wrote (tests/data).

Every test starts from a copy of ``triggers-v1.sqlite`` (written by the 0.1
code itself) or from ``postgres-v1.sql`` loaded into the throwaway server.
The SQLite stores run on a fixed clock, so the upgrade's "now" is exact; the
PostgreSQL server's clock is bounded by the test's, on the same host. Two
processes upgrading at once start on a barrier (a file both wait for).
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest

from tests.trigger_helpers import (
    START,
    PostgresDatabase,
    Recorder,
    SQLiteDatabase,
    Wall,
)
from tickwork._lease import TAKEN, WON, Claim, micros
from tickwork.triggers import SQLiteTriggerStore, TriggerStoreError, TriggerSweeper
from tickwork.triggers import _schema as schema_module
from tickwork.triggers._model import timestamp_micros

if TYPE_CHECKING:
    from tests.trigger_helpers import Database
    from tickwork.triggers import TriggerRow

DATA: Final = Path(__file__).parent / "data"
UPGRADED_AT: Final = START + timedelta(days=1)
"""The SQLite stores' clock: a day after the fixture's last fire."""
V1_ROWS: Final = {  # name: (id, interval, enabled, last_fired_at), as 0.1 wrote them
    "hourly": (
        "ad4ca6d9879b4546bdce251319c6061e",
        "1h",
        True,
        "2026-11-23T11:30:00.250000Z",
    ),
    "never-fired": ("2e19ec7184e04d4188362ff9b65c72c9", "1h30m", True, None),
    "nightly-export": ("fb15a640173d4bffa46a689aef5b51d1", "1d", False, None),
    "refresh-prices": (
        "07e94e741e2c44319af9e76babd5f735",
        "15m",
        True,
        "2026-11-23T12:00:00Z",
    ),
}
MINUTE_US: Final = 60_000_000
UPGRADE_LOGGER: Final = "tickwork.triggers.schema"
COLUMNS: Final = {
    "sqlite": "SELECT name FROM pragma_table_info('tickwork_triggers') ORDER BY cid",
    "postgres": (
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = 'tickwork_triggers' "
        "ORDER BY ordinal_position"
    ),
}
V1_COLUMNS: Final = ["id", "name", "interval", "enabled", "last_fired_at"]


def _kind(database: Database) -> str:
    return "sqlite" if isinstance(database, SQLiteDatabase) else "postgres"


def _sqlite(tmp_path: Path) -> SQLiteDatabase:
    """A copy of the version-1 SQLite file; its stores' clock reads UPGRADED_AT."""
    path = tmp_path / "triggers.db"
    shutil.copyfile(DATA / "triggers-v1.sqlite", path)
    return SQLiteDatabase(path, clock=UPGRADED_AT.timestamp)


@pytest.fixture(params=["sqlite", "postgres"])
def version_1(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """A version-1 database as tickwork 0.1 left it, of each kind."""
    if request.param == "sqlite":
        return _sqlite(tmp_path)
    database = PostgresDatabase(request.getfixturevalue("postgres_dsn"))
    database.execute((DATA / "postgres-v1.sql").read_text(encoding="utf-8"))
    return database


@pytest.fixture
def sqlite_v1(tmp_path: Path) -> SQLiteDatabase:
    """The version-1 SQLite file, copied."""
    return _sqlite(tmp_path)


def _version(database: Database) -> list[tuple[Any, ...]]:
    return database.query("SELECT key, value FROM tickwork_meta")


def _columns(database: Database) -> list[str]:
    return [name for (name,) in database.query(COLUMNS[_kind(database)])]


def _upgrade_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == UPGRADE_LOGGER and r.levelno == logging.INFO
    ]


class Bounds:
    """When an upgrade may have read its clock: exactly, or between two readings."""

    def __init__(self, database: Database) -> None:
        """Start bounding now (the SQLite stores' clock is fixed)."""
        self.fixed = isinstance(database, SQLiteDatabase)
        self.before = _real_now() - 1  # a microsecond either way for rounding
        self.after = self.before

    def close(self) -> None:
        """Stop bounding."""
        self.after = _real_now() + 1

    def holds(self, now_us: int | None) -> bool:
        """Whether *now_us* is the upgrade's now."""
        if self.fixed:
            return now_us == micros(UPGRADED_AT.timestamp())
        return now_us is not None and self.before <= now_us <= self.after


def _real_now() -> int:
    """The host's clock (the PostgreSQL server's too), in microseconds."""
    return micros(time.time())


def _window_states(row: TriggerRow) -> tuple[object, ...]:
    return (
        row.token,
        row.holder,
        row.lease_until_us,
        row.outcome,
        row.attempt,
        row.lost,
    )


# --- the upgrade --------------------------------------------------------------


async def test_an_upgrade_keeps_every_row_and_anchors_it_at_its_last_fire(
    version_1: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Ids, names, intervals, flags and last fires stay; anchors come from them.

    A trigger that fired is anchored at its last fire, which is also its
    last window (token 0: done, not abandoned); one that never fired is
    anchored at the upgrade, with no window yet. One INFO line names the
    store; opening the database again upgrades nothing.
    """
    caplog.set_level(logging.INFO, logger=UPGRADE_LOGGER)
    bounds = Bounds(version_1)
    async with version_1.open() as store:
        rows = {row.name: row for row in await store.all()}
        bounds.close()
        assert await store.loops() == []
    assert {
        name: (row.id, row.interval, row.enabled, row.last_fired_at)
        for name, row in rows.items()
    } == V1_ROWS
    for name, (_, _, _, last) in V1_ROWS.items():
        row = rows[name]
        if last is None:
            assert bounds.holds(row.anchor_us), name
            assert row.window_us is None
        else:
            assert row.anchor_us == row.window_us == timestamp_micros(last)
        assert _window_states(row) == (0, None, None, None, 0, 0)
    assert _version(version_1) == [("schema_version", "2")]
    assert _columns(version_1) == [
        *V1_COLUMNS,
        *("anchor_us", "window_us", "token", "holder", "lease_until_us"),
        *("outcome", "attempt", "lost", "claimed_us", "ended_us"),
        "resumed_us",
        *("cron", "timezone"),
    ]
    [line] = _upgrade_lines(caplog)
    assert line.getMessage() == (
        f"{store!r}: trigger tables upgraded from schema version 1 to 2 "
        "(4 trigger(s) anchored)"
    )
    async with version_1.open() as again:
        assert {row.name: row for row in await again.all()} == rows
    assert len(_upgrade_lines(caplog)) == 1


async def test_after_the_upgrade_the_next_window_is_the_last_fire_plus_interval(
    version_1: Database,
) -> None:
    """Cadence is kept: the last fire's window is taken, the one after is won."""
    async with version_1.open() as store:
        rows = {row.name: row for row in await store.all()}
        refresh = rows["refresh-prices"]
        last = timestamp_micros(V1_ROWS["refresh-prices"][3])  # type: ignore[arg-type]
        then = last + 15 * MINUTE_US
        done, next_ = await store.claim_windows(
            "trigger",
            [Claim(refresh.id, last, last), Claim(refresh.id, then, then)],
            lease=30,
            holder="a",
        )
        never = rows["never-fired"]
        assert never.anchor_us is not None
        (first,) = await store.claim_windows(
            "trigger",
            [Claim(never.id, never.anchor_us, never.anchor_us)],
            lease=30,
            holder="a",
        )
    assert (done.status, done.window, done.token) == (TAKEN, last, 0)
    assert (next_.status, next_.window, next_.token, next_.attempt) == (
        WON,
        then,
        1,
        1,
    )
    assert next_.lost_window is None  # the last fire was done, not abandoned
    assert (first.status, first.window) == (WON, never.anchor_us)


async def test_an_upgraded_file_sweeps_on_the_cadence_it_had(tmp_path: Path) -> None:
    """Swept right after the upgrade, only the trigger that never fired is due.

    15 minutes after its last fire refresh-prices fires again, for the
    window that starts then; hourly waits for 12:30:00.25.
    """
    path = tmp_path / "triggers.db"
    shutil.copyfile(DATA / "triggers-v1.sqlite", path)
    wall = Wall()  # the fixture's last fire
    dispatch = Recorder()
    clock = lambda: wall.now.timestamp()  # noqa: E731, PLW0108 - wall.now moves
    async with SQLiteTriggerStore(path, clock=clock) as store:
        sweeper = TriggerSweeper(store, dispatch, clock=wall)
        report = await sweeper.sweep()
        assert report.fired == ("never-fired",)
        assert report.not_due == ("hourly", "refresh-prices")
        wall.advance(15 * 60)
        report = await sweeper.sweep()
        assert report.fired == ("refresh-prices",)
        assert report.not_due == ("hourly", "never-fired")
        rows = {row.name: row for row in await store.all()}
    assert rows["refresh-prices"].window_us == micros(wall.now.timestamp())
    assert rows["refresh-prices"].last_fired_at == "2026-11-23T12:15:00Z"
    assert dispatch.names == ["never-fired", "refresh-prices"]


async def test_a_last_fire_that_does_not_parse_is_anchored_at_the_upgrade(
    version_1: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """A bad last_fired_at is kept as it is, logged, and fires at once: no failure."""
    caplog.set_level(logging.INFO, logger=UPGRADE_LOGGER)
    version_1.execute(
        "UPDATE tickwork_triggers SET last_fired_at = CASE name "
        "WHEN 'hourly' THEN 'last tuesday' "
        "WHEN 'refresh-prices' THEN '2026-13-45T00:00:00Z' END "
        "WHERE name IN ('hourly', 'refresh-prices')"
    )
    bounds = Bounds(version_1)
    async with version_1.open() as store:
        rows = {row.name: row for row in await store.all()}
        bounds.close()
    for name, last in (
        ("hourly", "last tuesday"),
        ("refresh-prices", "2026-13-45T00:00:00Z"),
    ):
        assert rows[name].last_fired_at == last
        assert bounds.holds(rows[name].anchor_us)
        assert rows[name].window_us is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.tickwork_trigger for r in warnings] == ["hourly", "refresh-prices"]  # type: ignore[attr-defined]
    assert "'last tuesday'" in warnings[0].getMessage()
    assert len(_upgrade_lines(caplog)) == 1
    assert _version(version_1) == [("schema_version", "2")]


async def test_undecodable_or_non_text_last_fires_do_not_stop_an_upgrade(
    sqlite_v1: SQLiteDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLite rows edited by hand (undecodable text, a blob, a NULL id) upgrade too."""
    sqlite_v1.execute(
        "UPDATE tickwork_triggers SET last_fired_at = CAST(X'FF28' AS TEXT) "
        "WHERE name = 'hourly'"
    )
    sqlite_v1.execute(
        "UPDATE tickwork_triggers SET last_fired_at = X'0001', id = NULL "
        "WHERE name = 'refresh-prices'"
    )
    async with sqlite_v1.open() as store:
        rows = {row.name: row for row in await store.all()}
    upgraded_at = micros(UPGRADED_AT.timestamp())
    hourly, refresh = rows["hourly"], rows["refresh-prices"]
    stored: list[tuple[object, ...]] = [
        (hourly.last_fired_at, hourly.anchor_us, hourly.window_us),
        (refresh.id, refresh.last_fired_at, refresh.anchor_us, refresh.window_us),
    ]
    assert stored == [
        (b"\xff(", upgraded_at, None),
        (None, b"\x00\x01", upgraded_at, None),
    ]
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 2


async def test_a_version_1_database_without_its_version_row_is_upgraded(
    sqlite_v1: SQLiteDatabase,
) -> None:
    """Version-1 tables whose version row was lost are upgraded, not taken for 2."""
    sqlite_v1.execute("DELETE FROM tickwork_meta")
    async with sqlite_v1.open() as store:
        rows = {row.name: row for row in await store.all()}
    assert rows["hourly"].window_us == timestamp_micros(V1_ROWS["hourly"][3])  # type: ignore[arg-type]
    assert _version(sqlite_v1) == [("schema_version", "2")]


async def test_an_upgrade_that_fails_leaves_version_1_as_it_was(
    version_1: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upgrade is one transaction: a failure half-way rolls all of it back."""

    def breaks(*_args: object) -> int:
        msg = "the disk is full"
        raise OSError(msg)

    monkeypatch.setattr(schema_module, "anchor_rows", breaks)
    async with version_1.open() as store:
        with pytest.raises(OSError, match="disk is full"):
            await store.all()
    assert _version(version_1) == [("schema_version", "1")]
    assert _columns(version_1) == V1_COLUMNS
    monkeypatch.undo()
    async with version_1.open() as store:
        assert len(await store.all()) == len(V1_ROWS)
    assert _version(version_1) == [("schema_version", "2")]


async def test_a_database_of_a_newer_version_is_refused_untouched(
    version_1: Database,
) -> None:
    """Version 3 raises TriggerStoreError; nothing is created or changed."""
    version_1.execute("UPDATE tickwork_meta SET value = '3'")
    async with version_1.open() as store:
        with pytest.raises(TriggerStoreError, match=r"schema version 3; .* up to 2\b"):
            await store.all()
    assert _version(version_1) == [("schema_version", "3")]
    assert _columns(version_1) == V1_COLUMNS


async def test_a_read_only_version_1_file_asks_for_one_writable_open(
    sqlite_v1: SQLiteDatabase,
) -> None:
    """Read-only, a version-1 file cannot be upgraded: a clear error, nothing held.

    Once a writable store has upgraded it, the read-only one lists it.
    """
    read_only = SQLiteTriggerStore(f"file:{sqlite_v1.path}?mode=ro")
    async with read_only:
        with pytest.raises(TriggerStoreError) as caught:
            await read_only.all()
        assert read_only._connection is None
    message = str(caught.value)
    assert "schema version 1" in message
    assert "open it once writable" in message
    assert _version(sqlite_v1) == [("schema_version", "1")]
    async with sqlite_v1.open() as store:
        await store.all()
    async with SQLiteTriggerStore(f"file:{sqlite_v1.path}?mode=ro") as read_only:
        assert sorted(row.name for row in await read_only.all()) == sorted(V1_ROWS)


# --- two processes at once ----------------------------------------------------

# Each process imports everything, says it is ready, waits for the start
# file, opens a store and lists: so both reach the schema at the same time.
CHILD: Final = """
import json, logging, sys, time
from pathlib import Path

import trio

from tickwork.triggers import PostgresTriggerStore, SQLiteTriggerStore

kind, target, ready, start = sys.argv[1:]
logging.basicConfig(
    level=logging.INFO, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s"
)
Path(ready).touch()
deadline = time.monotonic() + 30
while not Path(start).exists():
    if time.monotonic() > deadline:
        sys.exit("the start file never appeared")
    time.sleep(0.001)


async def main():
    opened = SQLiteTriggerStore if kind == "sqlite" else PostgresTriggerStore
    async with opened(target) as store:
        rows = await store.all()
    print(json.dumps({r.name: [r.anchor_us, r.window_us] for r in rows}))


trio.run(main)
"""


def _wait_for(paths: list[Path], processes: list[subprocess.Popen[str]]) -> None:
    """Wait (at most 60 s) until every one of *paths* exists."""
    deadline = time.monotonic() + 60
    while not all(path.exists() for path in paths):
        for process in processes:
            assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the children never became ready"
        time.sleep(0.005)


def test_two_processes_upgrading_at_once_both_succeed_and_upgrade_once(
    version_1: Database, tmp_path: Path
) -> None:
    """Two processes opening one version-1 database together: one upgrades.

    Both list the same upgraded rows; exactly one logged the upgrade.
    """
    kind = _kind(version_1)
    target = (
        str(version_1.path) if isinstance(version_1, SQLiteDatabase) else version_1.dsn
    )
    start = tmp_path / "start"
    readies = [tmp_path / f"ready-{i}" for i in range(2)]
    before = _real_now() - 1
    processes = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", CHILD, kind, target, str(ready), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for ready in readies
    ]
    try:
        _wait_for(readies, processes)
        start.touch()
        outputs = [process.communicate(timeout=60) for process in processes]
    finally:
        for process in processes:
            process.kill()
            process.wait()
    after = _real_now() + 1
    assert [process.returncode for process in processes] == [0, 0], outputs
    listings = [json.loads(out) for out, _ in outputs]
    assert listings[0] == listings[1]
    upgrades = sum(err.count("upgraded from schema version 1") for _, err in outputs)
    assert upgrades == 1, outputs
    assert _version(version_1) == [("schema_version", "2")]
    for name, (_, _, _, last) in V1_ROWS.items():
        anchor, window = listings[0][name]
        if last is None:
            assert before <= anchor <= after
            assert window is None
        else:
            assert anchor == window == timestamp_micros(last)
    # Ids, names, intervals and flags survived the race too.
    rows = version_1.query(
        "SELECT name, id, interval, enabled, last_fired_at FROM tickwork_triggers"
    )
    assert {
        name: (id_, interval, bool(enabled), last)
        for name, id_, interval, enabled, last in rows
    } == V1_ROWS
