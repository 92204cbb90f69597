"""Helpers for the trigger tests: a wall clock, a recording dispatch, databases."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, final

import trio

from tickwork.triggers import (
    PostgresTriggerStore,
    SQLiteTriggerStore,
    SweepReport,
    TriggerSweeper,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence
    from pathlib import Path
    from typing import Any

    from tickwork._lease import Claim, Claimed
    from tickwork.triggers import TriggerRow, TriggerStore
    from tickwork.triggers._store import Kind

START = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def stamp(moment: datetime) -> str:
    """*moment* as the sweeper writes last_fired_at."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat() + "Z"


class Wall:
    """A wall clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        """Start at *now*."""
        self.now = now

    def __call__(self) -> datetime:
        """The current wall time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += timedelta(seconds=seconds)

    def seconds(self) -> float:
        """The current wall time in seconds since the epoch: a store's clock."""
        return self.now.timestamp()


class Recorder:
    """A dispatch that records each row it is given, and can be told to fail."""

    def __init__(self, fail: frozenset[str] = frozenset()) -> None:
        """Fail (raise RuntimeError) for the names in *fail*."""
        self.rows: list[TriggerRow] = []
        self.fail = fail

    async def __call__(self, row: TriggerRow) -> None:
        """Record *row*; raise if it is to fail."""
        self.rows.append(row)
        if row.name in self.fail:
            msg = f"dispatch of {row.name} broke"
            raise RuntimeError(msg)

    @property
    def names(self) -> list[str]:
        """Names dispatched, in order."""
        return [row.name for row in self.rows]

    @property
    def counts(self) -> Counter[str]:
        """How many times each name was dispatched."""
        return Counter(self.names)


class ListTogether:
    """Wraps a store so that N sweepers all list before any of them claims.

    Without it the first sweeper could finish before the next one lists, and
    the others would only ever see not-due rows; with it every sweeper races
    for every window, which is what the compare-and-set must settle.
    """

    def __init__(self, store: TriggerStore, group: Rendezvous) -> None:
        """Wrap *store*; *group* is shared by the sweepers that race."""
        self.store = store
        self.group = group

    async def enabled(self) -> Sequence[TriggerRow]:
        """List, then wait until every sweeper of the group has listed."""
        rows = await self.store.enabled()
        await self.group.arrive()
        return rows

    async def claim_windows(
        self, kind: Kind, claims: Sequence[Claim], *, lease: float, holder: str
    ) -> Sequence[Claimed]:
        """As the store."""
        return await self.store.claim_windows(kind, claims, lease=lease, holder=holder)

    async def finish_windows(
        self, kind: Kind, outcomes: Sequence[tuple[str, int, str]]
    ) -> Sequence[bool]:
        """As the store."""
        return await self.store.finish_windows(kind, outcomes)


class Rendezvous:
    """A reusable barrier for *parties* Trio tasks."""

    def __init__(self, parties: int) -> None:
        """Wait for *parties* arrivals each round."""
        self.parties = parties
        self.count = 0
        self.event = trio.Event()

    async def arrive(self) -> None:
        """Wait until all parties of this round arrived."""
        self.count += 1
        event = self.event
        if self.count == self.parties:
            self.count = 0
            self.event = trio.Event()
            event.set()
        await event.wait()


async def race(
    stores: Sequence[TriggerStore], dispatch: Recorder, wall: Wall
) -> list[SweepReport]:
    """One sweep per store, all at once, every one listing before any claims."""
    group = Rendezvous(len(stores))
    sweepers = [
        TriggerSweeper(ListTogether(store, group), dispatch, clock=wall)  # type: ignore[arg-type]
        for store in stores
    ]
    reports: list[SweepReport] = [SweepReport()] * len(sweepers)

    async def sweep(index: int) -> None:
        reports[index] = await sweepers[index].sweep()

    async with trio.open_nursery() as nursery:
        for index in range(len(sweepers)):
            nursery.start_soon(sweep, index)
    return reports


async def check_each_window_fires_once(
    stores: Sequence[TriggerStore],
    execute: Callable[[str], None],
    count: int = 48,
) -> None:
    """*count* due triggers, 4 racing sweepers, 3 windows: each fires once a window.

    The stores judge claims on their real clocks, so the rows are anchored
    five minutes back (through *execute*, SQL on the shared database) and
    the sweepers' wall clock walks through those past windows.
    """
    names = [f"t{i:03}" for i in range(count)]
    for name in names:
        await stores[0].add(name=name, interval="1m")
    execute("UPDATE tickwork_triggers SET anchor_us = anchor_us - 300000000")
    latest = max(row.anchor_us or 0 for row in await stores[0].all())
    wall = Wall(datetime.fromtimestamp(latest / 1e6 + 1, tz=timezone.utc))
    dispatch = Recorder()
    for window in range(1, 4):
        reports = await race(stores, dispatch, wall)
        fired = [name for report in reports for name in report.fired]
        assert sorted(fired) == names  # each exactly once, by some sweeper
        for report in reports:
            assert report.errors == ()
            assert report.listing_error is None
            assert sorted(report.fired + report.lost_claim + report.not_due) == names
        assert (
            sum(len(report.lost_claim) for report in reports)
            == (len(stores) - 1) * count
        )
        assert dispatch.counts == dict.fromkeys(names, window)
        # A second race in the same window fires nothing.
        again = await race(stores, dispatch, wall)
        assert all(report.not_due == tuple(names) for report in again)
        wall.advance(60)


@final
class SQLiteDatabase:
    """An SQLite file several stores open, edited by plain sqlite3 on the side."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        """The database in the file *path* (created by the first store).

        Its stores run on *clock* (seconds since the Unix epoch).
        """
        self.path = path
        self.clock = clock

    def open(self) -> SQLiteTriggerStore:
        """A new store on the file."""
        return SQLiteTriggerStore(self.path, clock=self.clock)

    def execute(self, statement: str) -> None:
        """Run *statement* through a connection of its own, committed."""
        self.query(statement)

    def query(self, statement: str) -> list[tuple[Any, ...]]:
        """The rows of *statement*, run through a connection of its own."""
        connection = sqlite3.connect(self.path, isolation_level=None)
        try:
            return connection.execute(statement).fetchall()
        finally:
            connection.close()

    @staticmethod
    def released(store: TriggerStore) -> bool:
        """Whether *store* holds no connection."""
        assert isinstance(store, SQLiteTriggerStore)
        return store._connection is None


@final
class PostgresDatabase:
    """A PostgreSQL database several stores open, edited by psycopg on the side."""

    def __init__(self, dsn: str) -> None:
        """The database at *dsn*, emptied (tables are created by the first store).

        The ``postgres_dsn`` fixture drops the tables of schema version 1;
        the loops table of version 2 is dropped here.
        """
        self.dsn = dsn
        self.execute("DROP TABLE IF EXISTS tickwork_loops")

    def open(self) -> PostgresTriggerStore:
        """A new store (with a pool of its own) on the database."""
        return PostgresTriggerStore(self.dsn)

    def execute(self, statement: str) -> None:
        """Run *statement* (or several) through a connection of its own, committed."""
        import psycopg  # noqa: PLC0415 - only the PostgreSQL tests have it

        with psycopg.connect(self.dsn, autocommit=True) as connection:
            connection.execute(statement)

    def query(self, statement: str) -> list[tuple[Any, ...]]:
        """The rows of *statement*, run through a connection of its own."""
        import psycopg  # noqa: PLC0415 - only the PostgreSQL tests have it

        with psycopg.connect(self.dsn, autocommit=True) as connection:
            return connection.execute(statement).fetchall()

    @staticmethod
    def released(store: TriggerStore) -> bool:
        """Whether *store*'s pool is closed."""
        assert isinstance(store, PostgresTriggerStore)
        return store._pool.closed


Database = SQLiteDatabase | PostgresDatabase


@contextlib.asynccontextmanager
async def holding(limiter: trio.CapacityLimiter) -> AsyncIterator[None]:
    """Borrow every token of *limiter*, so that calls queue until the block ends."""
    borrowers = [object() for _ in range(int(limiter.total_tokens))]
    for borrower in borrowers:
        await limiter.acquire_on_behalf_of(borrower)
    try:
        yield
    finally:
        for borrower in borrowers:
            limiter.release_on_behalf_of(borrower)
