"""One SQLite connection as `SQLiteTriggerStore` uses it: blocking, for a worker thread.

Opening sets the pragmas and checks the schema with a read, taking the write
lock only when tables must be created or upgraded, so a read-only database
(a ``mode=ro`` URI, a file the process may not write) can still be listed.
Window calls read the states of a batch (`read_states`) and write the
changed ones back (`write_states`) inside the caller's ``BEGIN IMMEDIATE``.

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

from tickwork._errors import TriggerStoreError
from tickwork._lease import WindowState
from tickwork.triggers._model import LoopRow, TriggerRow
from tickwork.triggers._rows import Rows
from tickwork.triggers._schema import (
    SCHEMA_VERSION,
    SELECT_VERSION,
    TABLES,
    Dialect,
    check_version,
    ensure_schema,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from tickwork.triggers._store import Kind

LOGGER = logging.getLogger("tickwork.triggers.sqlite")

DIALECT: Final = Dialect(
    text="TEXT",
    integer="INTEGER",
    boolean="INTEGER",
    false="0",
    param="?",
    columns="SELECT name FROM pragma_table_info('tickwork_triggers')",
    row_key="rowid",  # a hand-made table may hold a NULL id
)
_TABLES: Final = (
    "SELECT name FROM sqlite_master WHERE type = 'table' "  # noqa: S608 - constants
    f"AND name IN ({', '.join(repr(table) for table in TABLES)})"
)
_LISTED: Final = "window_us, token, holder, lease_until_us, outcome, attempt, lost"
# The window state as the rules read it: the listed columns and two more.
_WINDOW: Final = f"{_LISTED}, claimed_us, ended_us"
_SELECT: Final = (
    "SELECT id, name, interval, enabled, last_fired_at, "  # noqa: S608 - constants
    f"anchor_us, {_LISTED}, cron, timezone FROM tickwork_triggers "
)
_SELECT_LOOPS: Final = (
    f"SELECT name, {_WINDOW}, paused, resumed_us FROM tickwork_loops ORDER BY name"  # noqa: S608
)
# Per statement, far below SQLite's limit of bound variables (999 before
# 3.32, 32 766 since), so a batch of any size reads in a few statements.
_CHUNK: Final = 500
_WRITE_LOOP: Final = (
    "UPDATE tickwork_loops SET window_us = ?, token = ?, holder = ?, "
    "lease_until_us = ?, outcome = ?, attempt = ?, lost = ?, claimed_us = ?, "
    "ended_us = ? WHERE name = ?"
)
_WRITE_TRIGGER: Final = (
    "UPDATE tickwork_triggers SET anchor_us = ?, window_us = ?, token = ?, "
    "holder = ?, lease_until_us = ?, outcome = ?, attempt = ?, lost = ?, "
    "claimed_us = ?, ended_us = ? WHERE id = ?"
)
_WRITE_FIRED: Final = (
    "UPDATE tickwork_triggers SET anchor_us = ?, window_us = ?, token = ?, "
    "holder = ?, lease_until_us = ?, outcome = ?, attempt = ?, lost = ?, "
    "claimed_us = ?, ended_us = ?, last_fired_at = ? WHERE id = ?"
)
# What the store writes for enabled; any other value is returned as stored.
_BOOLS: Final = {0: False, 1: True}
# sqlite3's message when its own decoding meets text that is not UTF-8; it
# carries no SQLite error code, and has read so since Python 2.
_UNDECODABLE: Final = "Could not decode to UTF-8"


def connect(
    target: str,
    *,
    uri: bool,
    busy_ms: int,
    owner: object,
    now: Callable[[], int],
) -> sqlite3.Connection:
    """Open *target*, set its pragmas and make sure the schema is there.

    The journal mode is switched to WAL; on a read-only file whose mode is
    another, that fails, which is logged at DEBUG and not fatal (reads work
    in any mode). The schema is checked by a read; only missing tables or
    an older version take the write lock, and the check is made again under
    it (see `ensure_schema`), so processes opening the file at once take
    turns and one of them upgrades it. *owner*, the store, names the file
    in logs and errors; *now* is its clock in microseconds, for an upgrade.

    Raises:
        TriggerStoreError: the file carries a schema version this tickwork
            does not know, or an older one that a read-only open cannot
            upgrade.
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
        version = _stored_version(connection, owner)
        if version != SCHEMA_VERSION:
            _set_up(connection, owner, version, now)
    except BaseException:
        connection.close()
        raise
    return connection


def _set_up(
    connection: sqlite3.Connection,
    owner: object,
    version: int | None,
    now: Callable[[], int],
) -> None:
    """Create or upgrade the schema under the write lock."""
    try:
        with immediate(connection):
            ensure_schema(
                owner,
                functools.partial(fetch, connection),
                functools.partial(execute_many, connection),
                DIALECT,
                now,
            )
    except sqlite3.OperationalError as exc:
        if version is None or not _read_only(exc):
            raise
        msg = (
            f"{owner!r} holds trigger tables of schema version {version}, "
            f"which must be upgraded to version {SCHEMA_VERSION} before use: "
            "open it once writable (not read-only) to upgrade it in place"
        )
        raise TriggerStoreError(msg) from exc


def _read_only(exc: sqlite3.OperationalError) -> bool:
    """Whether *exc* says the database may not be written."""
    name = getattr(exc, "sqlite_errorname", "")  # Python >= 3.11
    return name.startswith("SQLITE_READONLY") or "readonly" in str(exc)


def _use_wal(connection: sqlite3.Connection, owner: object) -> None:
    """Switch to WAL; only a read-only file may refuse, and keeps its mode."""
    try:
        ((mode,),) = fetch(connection, "PRAGMA journal_mode = WAL")
    except sqlite3.OperationalError as exc:
        if not _read_only(exc):
            raise
        LOGGER.debug(
            "%r: read-only, so it keeps its journal mode instead of WAL",
            owner,
            exc_info=True,
        )
        return
    if mode not in {"wal", "memory"}:  # pragma: no cover - e.g. no shared memory
        LOGGER.warning("%r: SQLite kept journal mode %r, not WAL", owner, mode)


def _stored_version(connection: sqlite3.Connection, owner: object) -> int | None:
    """The schema's version, found by reading; None if tables or version are missing.

    Raises:
        TriggerStoreError: a version this tickwork does not know.
    """
    tables = {name for (name,) in fetch(connection, _TABLES)}
    if "tickwork_meta" not in tables:
        return None
    found = fetch(connection, SELECT_VERSION)
    if not found:
        return None
    check_version(owner, found[0][0])
    version = int(found[0][0])
    if version == SCHEMA_VERSION and len(tables) < len(TABLES):
        return None
    return version


def read_rows(connection: sqlite3.Connection, clause: str) -> Rows:
    """The rows of ``tickwork_triggers`` selected by *clause*, as stored.

    ``enabled`` 0 and 1, what the store writes, read as False and True. Any
    other value (text such as ``'yes'``, 2, 0.5, NULL as None, a blob) comes
    back as stored rather than guessed at, so the sweeper reports that row
    invalid and the listing shows what is really there. Text that is not
    UTF-8 comes back as `bytes`, and a NULL id as None, likewise; so do the
    window state's columns. The rows are kept as the tuples read (`Rows`):
    a sweep builds a `TriggerRow` only for the few it hands on.
    """
    return Rows(fetch(connection, _SELECT + clause), _row)


def _row(values: tuple[Any, ...]) -> TriggerRow:
    """A row from its values as read, ``enabled`` 0 and 1 as a bool."""
    enabled = values[3]
    return TriggerRow(
        values[0],
        values[1],
        values[2],
        _BOOLS.get(enabled, enabled),
        *values[4:],
    )


def _state(*values: Any) -> WindowState:  # noqa: ANN401 - the columns as read
    """A window state from its columns as read, the paused flag (0 or 1) as a bool."""
    # The window columns fill the fields before `paused`: mypy cannot know
    # that *values[:-2] stops there.
    return WindowState(  # type: ignore[misc]
        *values[:-2], paused=bool(values[-2]), resumed=values[-1]
    )


def read_loops(connection: sqlite3.Connection) -> list[LoopRow]:
    """Every row of ``tickwork_loops``, ordered by name, as stored."""
    return [
        LoopRow(name, _state(None, *state))
        for name, *state in fetch(connection, _SELECT_LOOPS)
    ]


def read_states(
    connection: sqlite3.Connection,
    kind: Kind,
    keys: Iterable[str],
    *,
    create: bool = False,
) -> dict[str, WindowState | None]:
    """The window state of each of *keys*; None for a key not stored.

    With *create*, a loop not stored yet gets its row (a claim makes it, won
    or not) and a fresh state. Runs in the caller's transaction.
    """
    unique = sorted(set(keys))
    states: dict[str, WindowState | None] = dict.fromkeys(unique)
    if kind == "loop":
        select = (
            f"SELECT name, NULL, {_WINDOW}, paused, resumed_us "  # noqa: S608
            "FROM tickwork_loops WHERE name IN "
        )
    else:
        select = (
            f"SELECT id, anchor_us, {_WINDOW}, enabled = 0, resumed_us "  # noqa: S608
            "FROM tickwork_triggers WHERE id IN "
        )
    for start in range(0, len(unique), _CHUNK):
        part = tuple(unique[start : start + _CHUNK])
        marks = ", ".join("?" * len(part))
        for key, *state in fetch(connection, f"{select}({marks})", part):
            states[key] = _state(*state)
    if create and kind == "loop":
        new = [key for key in unique if states[key] is None]
        execute_many(
            connection,
            "INSERT INTO tickwork_loops (name) VALUES (?)",
            [(k,) for k in new],
        )
        states.update(dict.fromkeys(new, WindowState()))
    return states


def write_states(
    connection: sqlite3.Connection,
    kind: Kind,
    states: dict[str, WindowState | None],
    changed: Iterable[str],
    fired_at: str | None = None,
) -> None:
    """Write back the states of *changed* keys; *fired_at* as a trigger's last_fired_at.

    Only states that exist change, so each key names a stored row. A loop
    keeps no anchor (its schedule has its own); *fired_at* is for claims
    that won, and None leaves ``last_fired_at`` as it is.
    """
    if kind == "loop":
        statement = _WRITE_LOOP
    else:
        statement = _WRITE_TRIGGER if fired_at is None else _WRITE_FIRED
    rows: list[tuple[object, ...]] = []
    for key in sorted(changed):
        s = states[key]
        assert s is not None  # noqa: S101 - only existing states change
        columns = s.columns()
        if kind == "loop":  # every column but the anchor
            rows.append((*columns[1:], key))
        elif fired_at is None:
            rows.append((*columns, key))
        else:
            rows.append((*columns, fired_at, key))
    execute_many(connection, statement, rows)


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


def execute_many(
    connection: sqlite3.Connection,
    statement: str,
    args: Sequence[tuple[object, ...]],
) -> None:
    """Run *statement* once per tuple of *args*, its cursor closed; no args, no run."""
    if args:
        with contextlib.closing(connection.executemany(statement, args)):
            pass


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
