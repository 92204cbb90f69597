"""SQLiteTriggerStore: the embedded default, a file through stdlib sqlite3.

One connection, used by one worker thread at a time (a
`trio.CapacityLimiter` of 1 in front of `trio.to_thread.run_sync`). The file
runs in WAL mode with ``synchronous=FULL``, so a claim that returned is on
disk, and claims take the write lock up front (``BEGIN IMMEDIATE``) so that
several processes sharing the file queue on the busy timeout instead of
failing. What is done on the connection itself (opening, pragmas, the
schema check, reading rows) is `tickwork.triggers._sqlite_connection`.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import time
import uuid
from typing import TYPE_CHECKING, Final, TypeVar, final

import trio

from tickwork._errors import InvalidConfigError, WrongTypeError
from tickwork._lease import claim_all, finish_all, micros, renew_all
from tickwork._text import brief
from tickwork._validation import check_bool, check_number
from tickwork.triggers._model import TriggerRow, micros_timestamp
from tickwork.triggers._sqlite_connection import (
    connect,
    execute,
    immediate,
    read_loops,
    read_rows,
    read_states,
    write_states,
)
from tickwork.triggers._store import (
    StoreContext,
    check_clock,
    check_kind,
    check_lease,
    check_new_trigger,
    check_outcomes,
    closed,
    duplicate_name,
    unknown_name,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from tickwork._lease import Claim, Claimed
    from tickwork.triggers._model import LoopRow
    from tickwork.triggers._store import Kind

LOGGER = logging.getLogger("tickwork.triggers.sqlite")

# SQLite takes its busy timeout as a C int of milliseconds: 2**31 - 1 ms.
# Python's sqlite3 passes a larger value on wrapped (a negative int, which
# SQLite reads as "do not wait"), so a longer timeout is refused, not cut.
MAX_BUSY_TIMEOUT: Final = 2_147_483.647
_MAX_BUSY_MS: Final = 2**31 - 1
_INSERT: Final = (
    "INSERT INTO tickwork_triggers "
    "(id, name, interval, enabled, last_fired_at, anchor_us, cron, timezone) "
    "VALUES (?, ?, ?, ?, NULL, ?, ?, ?)"
)
_CLAIM: Final = (
    "UPDATE tickwork_triggers SET last_fired_at = ? WHERE id = ? AND last_fired_at IS ?"
)

T = TypeVar("T")


@final
class SQLiteTriggerStore(StoreContext):
    """A `TriggerStore` in an SQLite file, created with its schema on first use.

    Several processes may share the file: claims are serialised by SQLite's
    write lock, so each window is won once. A database the process may not
    write (a ``mode=ro`` URI, a read-only file) can still be listed: the
    schema is checked by a read, and the write lock is taken only to create
    missing tables or upgrade older ones. A file of schema version 1 is
    upgraded in place by the first store that opens it writable (see
    `tickwork.triggers._schema`); read-only, it is refused until then. Text
    that is not UTF-8 in a row is returned as `bytes`, a NULL id as None
    and an ``enabled`` other than 0 or 1 as stored, so one row broken by
    hand is reported by the sweeper, alone.

    The store's clock is "now" for every lease, claim and new anchor: the
    processes sharing a file run on one host, so they share it too.

    Cancelling a call waits for its statement in flight: at most
    *busy_timeout* for another writer's lock, plus the statement itself.

    Args:
        path: the database file, created if missing; ``":memory:"`` for a
            store that lives as long as the object. A str starting with
            ``"file:"`` is an SQLite URI, e.g. ``"file:triggers.db?mode=ro"``
            to open it read-only (write ``./file:...`` for a file whose name
            starts so).
        busy_timeout: seconds to wait for another writer's lock before a
            call fails with ``sqlite3.OperationalError``; > 0 and at most
            2147483.647 (SQLite's limit). It is rounded up to whole
            milliseconds.
        clock: the store's clock, a synchronous callable returning seconds
            since the Unix epoch (`time.time`); a test passes its own to
            make leases expire when it says. It is read in the store's
            worker thread, inside each transaction (after the write lock
            is taken), so it must not need the Trio context.

    Raises:
        InvalidConfigError: an empty *path* (which SQLite would take as a
            private temporary database) or *busy_timeout* out of range.
        WrongTypeError: *path* is not a str or `os.PathLike` of str,
            *busy_timeout* is not a number, or *clock* is not a
            synchronous callable.

    Example:
        Building a store opens nothing yet; the first call creates the file::

            async with SQLiteTriggerStore("triggers.db") as store:
                await store.add(name="refresh-prices", interval="15m")

        >>> SQLiteTriggerStore("triggers.db")
        <SQLiteTriggerStore 'triggers.db'>
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Check the settings; nothing is opened until first use."""
        self.path, self._uri = _check_path(path)
        self.busy_timeout = _check_busy_timeout(busy_timeout)
        self.clock = check_clock(clock)
        self._busy_ms = min(math.ceil(self.busy_timeout * 1000), _MAX_BUSY_MS)
        self._limiter = trio.CapacityLimiter(1)
        self._connection: sqlite3.Connection | None = None
        self._closed = False

    def __repr__(self) -> str:
        """Name the file (cut to 200 characters)."""
        return f"<SQLiteTriggerStore {brief(self.path)}>"

    async def _run(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run *operation* on the connection, in a worker thread, one at a time."""
        if self._closed:
            raise closed(self)
        return await trio.to_thread.run_sync(
            self._call, operation, limiter=self._limiter
        )

    def _call(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:  # closed while this call waited for the limiter
            raise closed(self)
        if self._connection is None:
            self._connection = connect(
                self.path,
                uri=self._uri,
                busy_ms=self._busy_ms,
                owner=self,
                now=self._now,
            )
            LOGGER.debug("%r opened", self)
        connection = self._connection
        try:
            return operation(connection)
        finally:
            if connection.in_transaction:  # its ROLLBACK failed: start afresh
                self._connection = None
                connection.close()

    def _now(self) -> int:
        """The store's clock in microseconds since the Unix epoch."""
        return micros(self.clock())

    async def enabled(self) -> Sequence[TriggerRow]:
        """The rows with ``enabled=True``, ordered by name.

        That is every row whose ``enabled`` is not 0 (nor NULL), so a row
        edited to hold 2 or ``'yes'`` is listed, as stored, and the sweeper
        reports it invalid.
        """
        return await self._run(
            lambda c: read_rows(c, "WHERE enabled <> 0 ORDER BY name")
        )

    async def all(self) -> Sequence[TriggerRow]:
        """Every row, ordered by name."""
        return await self._run(lambda c: read_rows(c, "ORDER BY name"))

    async def claim(self, trigger_id: str, seen: str | None, fired_at: str) -> bool:
        """Store *fired_at* if ``last_fired_at`` still equals *seen*."""
        won = await self.claim_many([(trigger_id, seen)], fired_at)
        return trigger_id in won

    async def claim_many(
        self, claims: Sequence[tuple[str, str | None]], fired_at: str
    ) -> frozenset[str]:
        """`claim` for each ``(trigger_id, seen)`` pair in one transaction."""

        def claim(connection: sqlite3.Connection) -> frozenset[str]:
            with immediate(connection):
                return frozenset(
                    trigger_id
                    for trigger_id, seen in claims
                    if execute(connection, _CLAIM, (fired_at, trigger_id, seen)) == 1
                )

        return await self._run(claim)

    async def claim_windows(
        self, kind: Kind, claims: Sequence[Claim], *, lease: float, holder: str
    ) -> Sequence[Claimed]:
        """Apply the claim rules to *claims* in one transaction (see `TriggerStore`).

        The rows are read, decided on at the store's clock and the changed
        ones written back under the write lock; a loop's row is created by
        its first claim, won or not.
        """
        lease_us = check_lease(lease)
        check_kind(kind)
        keys = [want.key for want in claims]

        def claim(connection: sqlite3.Connection) -> Sequence[Claimed]:
            if not claims:
                return []
            with immediate(connection):
                states = read_states(connection, kind, keys, create=True)
                now = self._now()
                answers, changed = claim_all(states, claims, now, lease_us, holder)
                write_states(connection, kind, states, changed, micros_timestamp(now))
            return answers

        return await self._run(claim)

    async def renew_leases(
        self, kind: Kind, leases: Sequence[tuple[str, int]], *, lease: float
    ) -> Sequence[bool]:
        """Extend each ``(key, token)`` lease, in one transaction.

        See `TriggerStore.renew_leases`.
        """
        lease_us = check_lease(lease)
        check_kind(kind)

        def renew(connection: sqlite3.Connection) -> Sequence[bool]:
            if not leases:
                return []
            with immediate(connection):
                states = read_states(connection, kind, [key for key, _ in leases])
                done, changed = renew_all(states, leases, self._now(), lease_us)
                write_states(connection, kind, states, changed)
            return done

        return await self._run(renew)

    async def finish_windows(
        self, kind: Kind, outcomes: Sequence[tuple[str, int, str]]
    ) -> Sequence[bool]:
        """Record each ``(key, token, outcome)``, in one transaction.

        See `TriggerStore.finish_windows`.
        """
        check_kind(kind)
        check_outcomes(outcomes)

        def finish(connection: sqlite3.Connection) -> Sequence[bool]:
            if not outcomes:
                return []
            with immediate(connection):
                states = read_states(connection, kind, [key for key, _, _ in outcomes])
                done, changed = finish_all(states, outcomes, self._now())
                write_states(connection, kind, states, changed)
            return done

        return await self._run(finish)

    async def loops(self) -> Sequence[LoopRow]:
        """Every coordinated loop's window state, ordered by name."""
        return await self._run(read_loops)

    async def add(
        self,
        *,
        name: str,
        interval: str | None = None,
        enabled: bool = True,
        cron: str | None = None,
        timezone: str | None = None,
    ) -> TriggerRow:
        """Create a trigger that never fired, anchored at the store's clock.

        See `TriggerStore.add`.
        """
        every, cron, timezone = check_new_trigger(
            name, interval, enabled, cron, timezone
        )
        trigger_id = uuid.uuid4().hex

        def add(connection: sqlite3.Connection) -> TriggerRow:
            row = TriggerRow(
                trigger_id,
                name,
                every,
                enabled,
                None,
                self._now(),
                cron=cron,
                timezone=timezone,
            )
            try:
                execute(
                    connection,
                    _INSERT,
                    (
                        row.id,
                        name,
                        every,
                        int(enabled),
                        row.anchor_us,
                        cron,
                        timezone,
                    ),
                )
            except sqlite3.IntegrityError:
                raise duplicate_name(name) from None
            return row

        return await self._run(add)

    async def set_enabled(self, name: str, enabled: bool) -> None:  # noqa: FBT001 - the public signature
        """Enable or disable the trigger called *name* (see `TriggerStore`)."""
        check_bool("enabled", enabled)
        await self._change(
            "UPDATE tickwork_triggers SET enabled = ?, resumed_us = CASE "
            "WHEN ? AND enabled = 0 THEN ? ELSE resumed_us END WHERE name = ?",
            (int(enabled), int(enabled), self._now(), name),
            name,
        )

    async def set_paused(self, kind: Kind, name: str, paused: bool) -> None:  # noqa: FBT001 - the public signature
        """Pause or resume a loop or a trigger (see `TriggerStore`)."""
        check_kind(kind)
        check_bool("paused", paused)
        if kind == "trigger":
            await self.set_enabled(name, not paused)
            return

        def pause(connection: sqlite3.Connection) -> None:
            with immediate(connection):
                execute(
                    connection,
                    "INSERT OR IGNORE INTO tickwork_loops (name) VALUES (?)",
                    (name,),
                )
                execute(
                    connection,
                    "UPDATE tickwork_loops SET paused = ?, resumed_us = CASE "
                    "WHEN ? THEN resumed_us ELSE ? END "
                    "WHERE name = ? AND paused != ?",
                    (int(paused), int(paused), self._now(), name, int(paused)),
                )

        await self._run(pause)

    async def remove(self, name: str) -> None:
        """Delete the trigger called *name*."""
        await self._change(
            "DELETE FROM tickwork_triggers WHERE name = ?", (name,), name
        )

    async def _change(
        self, statement: str, args: tuple[object, ...], name: str
    ) -> None:
        if await self._run(lambda c: execute(c, statement, args)) == 0:
            raise unknown_name(name)

    async def aclose(self) -> None:
        """Close the connection; later calls raise `TriggerStoreError`.

        It first waits for the call in flight, if any, to be done with the
        connection: that call's statement is bounded by *busy_timeout* (the
        wait for another writer's lock) plus its own run. The wait is
        shielded, so a cancelled aclose still closes (then raises
        `trio.Cancelled`). Calls queued behind it raise `TriggerStoreError`.
        If closing the connection fails, that error is raised and the next
        aclose tries again; once closed, aclose does nothing.
        """
        self._closed = True
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(self._close, limiter=self._limiter)
        await trio.lowlevel.checkpoint_if_cancelled()

    def _close(self) -> None:
        connection = self._connection
        if connection is not None:
            connection.close()
            self._connection = None
            LOGGER.debug("%r closed", self)


def _check_path(path: object) -> tuple[str, bool]:
    """*path* as text, and whether it is an SQLite URI (a str "file:...")."""
    try:
        target = os.fspath(path)  # type: ignore[call-overload]
    except TypeError:
        target = None
    if not isinstance(target, str):
        msg = f"'path' must be a str or an os.PathLike of str (got {brief(path)})"
        raise WrongTypeError(msg)
    uri = isinstance(path, str) and path.startswith("file:")
    name = target.removeprefix("file:").partition("?")[0].partition("#")[0]
    if not (name if uri else target):
        msg = (
            "'path' must name a database: a file, ':memory:' or a 'file:' URI "
            f"with a path; SQLite makes an empty one a temporary database "
            f"(got {brief(path)})"
        )
        raise InvalidConfigError(msg)
    return target, uri


def _check_busy_timeout(busy_timeout: object) -> float:
    """Require seconds in (0, `MAX_BUSY_TIMEOUT`]."""
    seconds = check_number("busy_timeout", busy_timeout)
    if not 0 < seconds <= MAX_BUSY_TIMEOUT:  # refuses NaN too
        msg = (
            f"'busy_timeout' must be > 0 and <= {MAX_BUSY_TIMEOUT} seconds, the "
            f"longest wait SQLite takes (got {brief(busy_timeout)})"
        )
        raise InvalidConfigError(msg)
    return seconds
