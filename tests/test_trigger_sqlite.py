"""SQLiteTriggerStore beyond the contract: restarts, shared files, the file itself.

Worker threads are involved, so these tests use Trio's real clock and an
injected wall clock; none of them sleeps.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from tests.trigger_helpers import (
    START,
    Recorder,
    Wall,
    check_each_window_fires_once,
    stamp,
)
from tickwork.triggers import SQLiteTriggerStore, TriggerStoreError, TriggerSweeper

if TYPE_CHECKING:
    from pathlib import Path


async def test_a_reopened_file_continues_where_the_last_process_left_off(
    tmp_path: Path,
) -> None:
    """A new store on the same file knows what fired: no refire, no idle day."""
    path = tmp_path / "triggers.db"
    wall = Wall()
    dispatch = Recorder()
    async with SQLiteTriggerStore(path) as store:
        await store.add(name="hourly", interval="1h")
        await store.add(name="daily", interval="1d")
        assert (await TriggerSweeper(store, dispatch, clock=wall).sweep()).fired == (
            "daily",
            "hourly",
        )
    wall.advance(3600)  # the "deploy": an hour later, a new process
    async with SQLiteTriggerStore(path) as store:
        report = await TriggerSweeper(store, dispatch, clock=wall).sweep()
        assert report.fired == ("hourly",)
        assert report.not_due == ("daily",)
        rows = {row.name: row.last_fired_at for row in await store.all()}
    assert rows == {"daily": stamp(START), "hourly": stamp(wall.now)}
    assert dispatch.counts == {"daily": 1, "hourly": 2}


async def test_the_file_is_in_wal_mode_with_full_sync_and_a_schema_version(
    tmp_path: Path,
) -> None:
    """First use creates the schema with version 1, WAL and synchronous=FULL."""
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
            ("schema_version", "1")
        ]
    check.close()


@pytest.mark.parametrize(
    ("version", "match"),
    [("99", r"schema version 99.*up to 1"), ("v2", r"schema version v2\b")],
)
async def test_a_file_from_a_newer_tickwork_is_refused(
    tmp_path: Path, version: str, match: str
) -> None:
    """A schema version above ours, or not a number, raises TriggerStoreError."""
    path = tmp_path / "triggers.db"
    async with SQLiteTriggerStore(path) as store:
        await store.all()
    with sqlite3.connect(path) as edit:
        edit.execute("UPDATE tickwork_meta SET value = ?", (version,))
    edit.close()
    async with SQLiteTriggerStore(path) as store:
        with pytest.raises(TriggerStoreError, match=match):
            await store.all()


async def test_rows_edited_by_hand_are_reported_not_fatal(tmp_path: Path) -> None:
    """Garbage written with the sqlite3 shell is swept as invalid or due."""
    path = tmp_path / "triggers.db"
    async with SQLiteTriggerStore(path) as store:
        await store.all()
    with sqlite3.connect(path) as edit:
        edit.executemany(
            "INSERT INTO tickwork_triggers VALUES (?, ?, ?, ?, ?)",
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
    assert report.invalid == ("numeric",)
    assert report.fired == ("blob-time", "garbled-time")
    assert dispatch.names == ["blob-time", "garbled-time"]


async def test_an_in_memory_database_works() -> None:
    """':memory:' gives a store that lives as long as the object."""
    async with SQLiteTriggerStore(":memory:") as store:
        await store.add(name="a", interval="1m")
        assert [row.name for row in await store.all()] == ["a"]


async def test_four_sweepers_on_one_file_fire_each_window_once(tmp_path: Path) -> None:
    """4 stores on one file racing over 48 due triggers: each fires once a window."""
    stores = [SQLiteTriggerStore(tmp_path / "shared.db") for _ in range(4)]
    try:
        with trio.fail_after(60):
            await check_each_window_fires_once(stores)
    finally:
        for store in stores:
            await store.aclose()


def test_bad_busy_timeout_is_refused(tmp_path: Path) -> None:
    """busy_timeout must be > 0; the message names it."""
    with pytest.raises(ValueError, match="'busy_timeout'"):
        SQLiteTriggerStore(tmp_path / "x.db", busy_timeout=0)


async def test_a_call_queued_behind_aclose_fails_cleanly(tmp_path: Path) -> None:
    """A call waiting for the connection when the store closes raises, not crashes."""
    store = SQLiteTriggerStore(tmp_path / "t.db")
    await store.all()
    outcome: list[BaseException] = []

    async def listing() -> None:
        try:
            await store.all()
        except TriggerStoreError as exc:
            outcome.append(exc)

    # Hold the connection so both calls queue; the listing queued first.
    async with trio.open_nursery() as nursery, store._limiter:
        nursery.start_soon(listing)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(store.aclose)
        await trio.testing.wait_all_tasks_blocked()
    assert len(outcome) == 1
    assert "closed" in str(outcome[0])
    assert store._connection is None
