"""One SQLite connection as `SQLiteTriggerStore` uses it: blocking, for a worker thread.

Opening sets the pragmas and checks the schema with a read, taking the write
lock only when tables must be created, so a read-only database (a
``mode=ro`` URI, a file the process may not write) can still be listed.

Every function closes its cursors before it returns, on every path, and
every transaction ends: a statement left unfinished keeps its read
transaction, pinning an old WAL snapshot, and later reads on the connection
would not see other writers' changes.

Rows are read as stored. Text that is not UTF-8 comes back as `bytes`
rather than failing the whole listing (sqlite3's own decoding raises for the
first such value); see `fetch`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sqlite3
from typing import TYPE_CHECKING, Any, Final

from tickwork.triggers._model import TriggerRow
from tickwork.triggers._schema import SELECT_VERSION, check_version, ensure_schema

if TYPE_CHECKING:
    from collections.abc import Iterator

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
_TABLES: Final = (
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
    "AND name IN ('tickwork_meta', 'tickwork_triggers')"
)
_SELECT: Final = (
    "SELECT id, name, interval, enabled, last_fired_at FROM tickwork_triggers "
)
# What the store writes for enabled; any other value is returned as stored.
_BOOLS: Final = {0: False, 1: True}
# sqlite3's message when its own decoding meets text that is not UTF-8; it
# carries no SQLite error code, and has read so since Python 2.
_UNDECODABLE: Final = "Could not decode to UTF-8"


def connect(
    target: str, *, uri: bool, busy_ms: int, owner: object
) -> sqlite3.Connection:
    """Open *target*, set its pragmas and make sure the schema is there.

    The journal mode is switched to WAL; on a read-only file whose mode is
    another, that fails, which is logged at DEBUG and not fatal (reads work
    in any mode). *owner*, the store, names the file in logs and errors.

    Raises:
        TriggerStoreError: the file carries a schema version this tickwork
            does not know.
        sqlite3.Error: the file cannot be opened, or its tables are missing
            and cannot be created (a read-only file that was never set up).
    """
    connection = sqlite3.connect(
        target,
        timeout=busy_ms / 1000,
        isolation_level=None,  # autocommit; transactions are explicit
        check_same_thread=False,  # one thread at a time, via the store's limiter
        uri=uri,
    )
    try:
        execute(connection, f"PRAGMA busy_timeout = {busy_ms}")
        _use_wal(connection, owner)
        execute(connection, "PRAGMA synchronous = FULL")
        if not _schema_ready(connection, owner):
            with immediate(connection):
                query = functools.partial(fetch, connection)
                ensure_schema(owner, query, _SCHEMA, _INSERT_VERSION)
    except BaseException:
        connection.close()
        raise
    return connection


def _use_wal(connection: sqlite3.Connection, owner: object) -> None:
    """Switch to WAL; only a read-only file may refuse, and keeps its mode."""
    try:
        ((mode,),) = fetch(connection, "PRAGMA journal_mode = WAL")
    except sqlite3.OperationalError as exc:
        name = getattr(exc, "sqlite_errorname", "")  # Python >= 3.11
        if not (name.startswith("SQLITE_READONLY") or "readonly" in str(exc)):
            raise
        LOGGER.debug(
            "%r: read-only, so it keeps its journal mode instead of WAL",
            owner,
            exc_info=True,
        )
        return
    if mode not in {"wal", "memory"}:  # pragma: no cover - e.g. no shared memory
        LOGGER.warning("%r: SQLite kept journal mode %r, not WAL", owner, mode)


def _schema_ready(connection: sqlite3.Connection, owner: object) -> bool:
    """Whether both tables and a known version are there, found by reading."""
    ((tables,),) = fetch(connection, _TABLES)
    if tables < len(_SCHEMA):
        return False
    found = fetch(connection, SELECT_VERSION)
    if not found:
        return False
    check_version(owner, found[0][0])
    return True


def read_rows(connection: sqlite3.Connection, clause: str) -> list[TriggerRow]:
    """The rows of ``tickwork_triggers`` selected by *clause*, as stored.

    ``enabled`` 0 and 1, what the store writes, read as False and True. Any
    other value (text such as ``'yes'``, 2, 0.5, NULL as None, a blob) comes
    back as stored rather than guessed at, so the sweeper reports that row
    invalid and the listing shows what is really there. Text that is not
    UTF-8 comes back as `bytes`, and a NULL id as None, likewise.
    """
    bools = _BOOLS
    return [
        TriggerRow(id_, name, interval, bools.get(enabled, enabled), last)
        for id_, name, interval, enabled, last in fetch(connection, _SELECT + clause)
    ]


def fetch(
    connection: sqlite3.Connection, statement: str, args: tuple[object, ...] = ()
) -> list[Any]:
    """All rows of *statement*, its cursor closed; undecodable text as bytes.

    sqlite3's own decoding runs first, as it is the fast path; if it meets
    text that is not UTF-8 the statement runs again with a text factory that
    keeps such a value as its raw `bytes` (each value decoded alone).
    """
    try:
        return _fetch(connection, statement, args)
    except sqlite3.OperationalError as exc:
        if not str(exc).startswith(_UNDECODABLE):
            raise
    connection.text_factory = _text_or_bytes
    try:
        return _fetch(connection, statement, args)
    finally:
        connection.text_factory = str


def _fetch(
    connection: sqlite3.Connection, statement: str, args: tuple[object, ...]
) -> list[Any]:
    with contextlib.closing(connection.execute(statement, args)) as cursor:
        return cursor.fetchall()


def _text_or_bytes(data: bytes) -> str | bytes:
    """*data* decoded as UTF-8, or the bytes themselves if they are not."""
    try:
        return data.decode()
    except UnicodeDecodeError:
        return data


def execute(
    connection: sqlite3.Connection, statement: str, args: tuple[object, ...] = ()
) -> int:
    """Run *statement* (not a query), its cursor closed; the rows it changed."""
    with contextlib.closing(connection.execute(statement, args)) as cursor:
        return cursor.rowcount


@contextlib.contextmanager
def immediate(connection: sqlite3.Connection) -> Iterator[None]:
    """A transaction that holds the write lock from its start.

    It commits if the block returns and rolls back otherwise, including
    when the COMMIT fails. A failed ROLLBACK is left for the caller to see
    in ``connection.in_transaction`` (the store then drops the connection),
    so the block's own error is the one raised.
    """
    execute(connection, "BEGIN IMMEDIATE")
    try:
        yield
        execute(connection, "COMMIT")
    finally:
        if connection.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                execute(connection, "ROLLBACK")
