"""The tables of the SQL stores: their version, creating them, upgrading them.

Each store passes its dialect (`Dialect`: type names, placeholder, catalog
query) and functions that run its statements; the tables and the rules live
here once. The version is stored in ``tickwork_meta``, and a store refuses a
database whose version it does not know, so an older tickwork never writes
into tables a newer one changed.

Version 2 gave each trigger its window state (anchor, last window, fencing
token, lease, outcome) and added ``tickwork_loops`` for coordinated loops.
A version-1 database is upgraded in place by the first store that opens it
for writing, inside the caller's transaction (see `ensure_schema`).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, Final

import attrs

from tickwork._errors import TriggerStoreError
from tickwork._text import brief, cut
from tickwork.triggers._model import timestamp_micros

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    Query = Callable[[str, tuple[object, ...]], Sequence[Sequence[Any]]]
    Many = Callable[[str, Sequence[tuple[object, ...]]], object]

LOGGER = logging.getLogger("tickwork.triggers.schema")

SCHEMA_VERSION: Final = 2
"""The version of the tables every store creates, and upgrades to."""
SELECT_VERSION: Final = "SELECT value FROM tickwork_meta WHERE key = 'schema_version'"
TABLES: Final = ("tickwork_meta", "tickwork_triggers", "tickwork_loops")
"""Every table of the schema."""
# ASCII digits only ("²".isdigit() is True, and int() refuses it), and few
# enough that int() is cheap: a version of 5 000 nines is simply unknown.
_VERSION: Final = re.compile(r"[0-9]{1,18}")
# The columns version 2 added to tickwork_triggers: (name, definition) with
# {int} and {text} standing for the dialect's type names. cron and timezone
# hold a calendar trigger's schedule (its interval is then '').
_WINDOW_COLUMNS: Final = (
    ("anchor_us", "{int}"),
    ("window_us", "{int}"),
    ("token", "{int} NOT NULL DEFAULT 0"),
    ("holder", "{text}"),
    ("lease_until_us", "{int}"),
    ("outcome", "{text}"),
    ("attempt", "{int} NOT NULL DEFAULT 0"),
    ("lost", "{int} NOT NULL DEFAULT 0"),
    ("claimed_us", "{int}"),
    ("ended_us", "{int}"),
)
# resumed_us: when a paused (disabled) schedule was last resumed; windows
# before it were paused, not missed, so a resume is never a catch-up.
_NEW_COLUMNS: Final = (
    *_WINDOW_COLUMNS,
    ("resumed_us", "{int}"),
    ("cron", "{text}"),
    ("timezone", "{text}"),
)


@attrs.frozen(kw_only=True)
class Dialect:
    """How one SQL store spells the schema."""

    text: str
    """The type of text columns."""
    integer: str
    """A 64-bit integer type (times in microseconds, tokens, counters)."""
    boolean: str
    """The type of flags."""
    false: str
    """False as a literal of *boolean*."""
    param: str
    """The driver's placeholder."""
    columns: str
    """A query answering the names of ``tickwork_triggers``' columns, one a row."""
    row_key: str
    """What names one row of ``tickwork_triggers`` in an UPDATE, even a row
    edited by hand to have a NULL id (SQLite's ``rowid``)."""

    def column(self, definition: str) -> str:
        """*definition* with the dialect's type names."""
        return definition.format(int=self.integer, text=self.text)

    @property
    def tables(self) -> tuple[str, ...]:
        """``CREATE TABLE IF NOT EXISTS`` for every table, at `SCHEMA_VERSION`."""
        added = "".join(
            f",\n        {name} {self.column(definition)}"
            for name, definition in _NEW_COLUMNS
        )
        window = "".join(
            f",\n        {name} {self.column(definition)}"
            for name, definition in _WINDOW_COLUMNS
            if name != "anchor_us"
        )
        return (
            f"""CREATE TABLE IF NOT EXISTS tickwork_meta (
        key {self.text} PRIMARY KEY,
        value {self.text} NOT NULL
    )""",
            f"""CREATE TABLE IF NOT EXISTS tickwork_triggers (
        id {self.text} PRIMARY KEY,
        name {self.text} NOT NULL UNIQUE,
        interval {self.text} NOT NULL,
        enabled {self.boolean} NOT NULL,
        last_fired_at {self.text}{added}
    )""",
            f"""CREATE TABLE IF NOT EXISTS tickwork_loops (
        name {self.text} PRIMARY KEY{window},
        paused {self.boolean} NOT NULL DEFAULT {self.false},
        resumed_us {self.integer}
    )""",
        )


def check_version(store: object, found: object) -> None:
    """Return if *found*, the stored version text, is one this tickwork reads.

    Raises:
        TriggerStoreError: a version above `SCHEMA_VERSION`, or one that is
            not a number (shown cut to 200 characters).
    """
    if (
        isinstance(found, str)
        and _VERSION.fullmatch(found)
        and int(found) <= SCHEMA_VERSION
    ):
        return
    shown = cut(found) if isinstance(found, str) else brief(found)
    msg = (
        f"{store!r} has schema version {shown}; this tickwork knows "
        f"versions up to {SCHEMA_VERSION}: upgrade tickwork"
    )
    raise TriggerStoreError(msg)


def ensure_schema(
    store: object, query: Query, many: Many, dialect: Dialect, now: Callable[[], int]
) -> None:
    """Create the tables if missing, upgrade older ones, record the version.

    Runs in the caller's transaction, which must hold the write lock (so
    that stores opening the database at once take turns: the second finds
    the work done), with the caller's driver: *query* runs one statement
    with its arguments and returns all its rows (an empty list for
    statements without any), *many* runs one statement once per tuple of
    arguments. *now* is the store's clock in microseconds since the Unix
    epoch, read only for an upgrade.

    A database below `SCHEMA_VERSION`, or whose triggers table lacks columns
    (its version row was lost), is upgraded: the missing columns are added,
    then every trigger without an anchor gets one (see `anchor_rows`). All
    rows keep their id, name, interval, enabled and last_fired_at. One INFO
    line names the store.

    Raises:
        TriggerStoreError: the database carries a version this tickwork does
            not know (see `check_version`).
    """
    query(dialect.tables[0], ())
    found = query(SELECT_VERSION, ())
    version = None
    if found:
        check_version(store, found[0][0])
        version = int(found[0][0])
    for statement in dialect.tables[1:]:
        query(statement, ())
    present = {name for (name,) in query(dialect.columns, ())}
    missing = [(n, d) for n, d in _NEW_COLUMNS if n not in present]
    if missing or (version is not None and version < SCHEMA_VERSION):
        for name, definition in missing:
            query(
                f"ALTER TABLE tickwork_triggers ADD COLUMN {name} "
                f"{dialect.column(definition)}",
                (),
            )
        count = anchor_rows(store, query, many, dialect, now())
        LOGGER.info(
            "%r: trigger tables upgraded from schema version %s to %s "
            "(%d trigger(s) anchored)",
            store,
            "?" if version is None else version,
            SCHEMA_VERSION,
            count,
        )
    if version is None:
        query(
            f"INSERT INTO tickwork_meta VALUES ('schema_version', {dialect.param})",  # noqa: S608
            (str(SCHEMA_VERSION),),
        )
    elif version != SCHEMA_VERSION:
        query(
            f"UPDATE tickwork_meta SET value = {dialect.param} "  # noqa: S608 - a placeholder
            "WHERE key = 'schema_version'",
            (str(SCHEMA_VERSION),),
        )


def anchor_rows(
    store: object, query: Query, many: Many, dialect: Dialect, now: int
) -> int:
    """Give every trigger without an anchor one; return how many got one.

    A trigger that fired is anchored at its ``last_fired_at``, which also
    becomes its last window (token 0: a window done, not abandoned), so its
    next window starts ``interval`` after its last fire, as before. One that
    never fired, or whose ``last_fired_at`` is not an RFC 3339 timestamp,
    is anchored at *now* with no window yet, so it fires at once, as it
    would have before; an unreadable one is logged (WARNING), never fatal.
    """
    key = dialect.row_key
    rows = query(
        f"SELECT {key}, name, last_fired_at FROM tickwork_triggers "  # noqa: S608 - no input
        "WHERE anchor_us IS NULL ORDER BY name",
        (),
    )
    changes: list[tuple[object, ...]] = []
    for row, name, last in rows:
        fired = _fired_micros(store, name, last)
        changes.append((now if fired is None else fired, fired, row))
    if changes:
        p = dialect.param
        many(
            f"UPDATE tickwork_triggers SET anchor_us = {p}, window_us = {p} "  # noqa: S608 - placeholders
            f"WHERE {key} = {p}",
            changes,
        )
    return len(changes)


def _fired_micros(store: object, name: object, last: object) -> int | None:
    """*last*, a row's last_fired_at, in microseconds; None if never or unreadable."""
    if last is None:
        return None
    if isinstance(last, str):
        try:
            return timestamp_micros(last)
        except (ValueError, OverflowError):
            pass
    LOGGER.warning(
        "%r: trigger %s has a last_fired_at that is not an RFC 3339 "
        "timestamp (%s); upgraded, it is anchored at the upgrade and fires "
        "at once",
        store,
        brief(name),
        brief(last),
        extra={"tickwork_trigger": name},
    )
    return None
