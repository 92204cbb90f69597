"""SQLiteTriggerStore: the embedded default, a file through stdlib sqlite3.

One connection, used by one worker thread at a time (a
`trio.CapacityLimiter` of 1 in front of `trio.to_thread.run_sync`). The file
runs in WAL mode with ``synchronous=FULL``, so a claim that returned is on
disk, and claims take the write lock up front (``BEGIN IMMEDIATE``) so that
several processes sharing the file queue on the busy timeout instead of
failing. A schema version in ``tickwork_meta`` guards against files written
by a newer tickwork.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import uuid
from typing import TYPE_CHECKING, Final, TypeVar, final

import trio

from tickwork._errors import TriggerStoreError, UnknownTriggerError
from tickwork._validation import check_positive
from tickwork.triggers._model import (
    StoreContext,
    TriggerRow,
    check_enabled,
    check_new_trigger,
    duplicate_name,
    ensure_schema,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

LOGGER = logging.getLogger("tickwork.triggers.sqlite")

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS tickwork_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS tickwork_triggers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        interval TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        last_fired_at TEXT
    )""",
)
_INSERT_VERSION: Final = "INSERT INTO tickwork_meta VALUES ('schema_version', ?)"
_COLUMNS: Final = "id, name, interval, enabled, last_fired_at"
_INSERT: Final = f"INSERT INTO tickwork_triggers ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)"  # noqa: S608
_CLAIM: Final = (
    "UPDATE tickwork_triggers SET last_fired_at = ? WHERE id = ? AND last_fired_at IS ?"
)

T = TypeVar("T")


@final
class SQLiteTriggerStore(StoreContext):
    """A `TriggerStore` in an SQLite file, created with its schema on first use.

    Several processes may share the file: claims are serialised by SQLite's
    write lock, so each window is won once. Cancelling a call waits for the
    statement in flight (at most *busy_timeout* plus the statement itself).

    Args:
        path: the database file; created if missing. ``":memory:"`` works
            for a store that lives as long as the object.
        busy_timeout: seconds to wait for another writer's lock before a
            call fails with ``sqlite3.OperationalError``; > 0.

    Raises:
        TriggerStoreError: on first use, if the file carries a schema version
            newer than this tickwork knows.

    Example:
        Building a store opens nothing yet; the first call creates the file::

            async with SQLiteTriggerStore("triggers.db") as store:
                await store.add(name="refresh-prices", interval="15m")

        >>> SQLiteTriggerStore("triggers.db")
        <SQLiteTriggerStore 'triggers.db'>
    """

    def __init__(
        self, path: str | os.PathLike[str], *, busy_timeout: float = 5.0
    ) -> None:
        """Remember where the file is; nothing is opened until first use."""
        self.path = os.fspath(path)
        self.busy_timeout = check_positive("busy_timeout", busy_timeout)
        self._limiter = trio.CapacityLimiter(1)
        self._connection: sqlite3.Connection | None = None
        self._closed = False

    def __repr__(self) -> str:
        """Name the file."""
        return f"<SQLiteTriggerStore {self.path!r}>"

    async def _run(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run *operation* on the connection, in a worker thread, one at a time."""
        if self._closed:
            msg = f"{self!r} is closed"
            raise TriggerStoreError(msg)
        return await trio.to_thread.run_sync(
            self._call, operation, limiter=self._limiter
        )

    def _call(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:  # closed while this call waited for the limiter
            msg = f"{self!r} is closed"
            raise TriggerStoreError(msg)
        if self._connection is None:
            self._connection = self._open()
        return operation(self._connection)

    def _open(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout,
            isolation_level=None,  # autocommit; transactions are explicit
            check_same_thread=False,  # one thread at a time, via the limiter
        )
        try:
            connection.execute(
                f"PRAGMA busy_timeout = {round(self.busy_timeout * 1000)}"
            )
            mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal" and self.path != ":memory:":  # pragma: no cover
                # e.g. a file system without shared memory for the WAL index
                LOGGER.warning("%r: SQLite kept journal mode %r, not WAL", self, mode)
            connection.execute("PRAGMA synchronous = FULL")
            with _immediate(connection):
                ensure_schema(self, connection.execute, _SCHEMA, _INSERT_VERSION)
        except BaseException:
            connection.close()
            raise
        LOGGER.debug("%r opened", self)
        return connection

    async def enabled(self) -> Sequence[TriggerRow]:
        """The rows with ``enabled=True``, ordered by name."""
        return await self._run(
            lambda c: _rows(c, "WHERE enabled <> 0 ORDER BY name", ())
        )

    async def all(self) -> Sequence[TriggerRow]:
        """Every row, ordered by name."""
        return await self._run(lambda c: _rows(c, "ORDER BY name", ()))

    async def claim(self, trigger_id: str, seen: str | None, fired_at: str) -> bool:
        """Store *fired_at* if ``last_fired_at`` still equals *seen*."""
        won = await self.claim_many([(trigger_id, seen)], fired_at)
        return trigger_id in won

    async def claim_many(
        self, claims: Sequence[tuple[str, str | None]], fired_at: str
    ) -> frozenset[str]:
        """`claim` for each ``(trigger_id, seen)`` pair in one transaction."""

        def claim(connection: sqlite3.Connection) -> frozenset[str]:
            won = []
            with _immediate(connection):
                for trigger_id, seen in claims:
                    cursor = connection.execute(_CLAIM, (fired_at, trigger_id, seen))
                    if cursor.rowcount == 1:
                        won.append(trigger_id)
            return frozenset(won)

        return await self._run(claim)

    async def add(
        self, *, name: str, interval: str, enabled: bool = True
    ) -> TriggerRow:
        """Create a trigger that never fired (see `TriggerStore.add`)."""
        check_new_trigger(name, interval, enabled)
        row = TriggerRow(uuid.uuid4().hex, name, interval, enabled, None)

        def add(connection: sqlite3.Connection) -> None:
            try:
                connection.execute(
                    _INSERT, (row.id, name, interval, int(enabled), None)
                )
            except sqlite3.IntegrityError:
                raise duplicate_name(name) from None

        await self._run(add)
        return row

    async def set_enabled(self, name: str, enabled: bool) -> None:  # noqa: FBT001 - the SPEC's signature
        """Enable or disable the trigger called *name*."""
        check_enabled(enabled)
        await self._change(
            "UPDATE tickwork_triggers SET enabled = ? WHERE name = ?",
            (int(enabled), name),
            name,
        )

    async def remove(self, name: str) -> None:
        """Delete the trigger called *name*."""
        await self._change(
            "DELETE FROM tickwork_triggers WHERE name = ?", (name,), name
        )

    async def _change(
        self, statement: str, args: tuple[object, ...], name: str
    ) -> None:
        count = await self._run(lambda c: c.execute(statement, args).rowcount)
        if count == 0:
            msg = f"no trigger named {name!r}"
            raise UnknownTriggerError(msg)

    async def aclose(self) -> None:
        """Close the connection; later calls raise `TriggerStoreError`."""

        def close(_connection: object) -> None:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

        if not self._closed:
            self._closed = True  # calls queued behind the close fail cleanly
            await trio.to_thread.run_sync(close, None, limiter=self._limiter)


@contextlib.contextmanager
def _immediate(connection: sqlite3.Connection) -> Iterator[None]:
    """A transaction that holds the write lock from its start."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _rows(
    connection: sqlite3.Connection, clause: str, args: tuple[object, ...]
) -> list[TriggerRow]:
    query = f"SELECT {_COLUMNS} FROM tickwork_triggers {clause}"  # noqa: S608 - constant
    return [
        TriggerRow(id_, name, interval, bool(enabled), last)
        for id_, name, interval, enabled, last in connection.execute(query, args)
    ]
