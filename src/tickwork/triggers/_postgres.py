"""PostgresTriggerStore: triggers shared by several instances of a service.

psycopg 3's sync API with a `psycopg_pool.ConnectionPool`, called through
`trio.to_thread.run_sync` (psycopg's async API is asyncio-only). A legacy
claim is one conditional UPDATE, so when two instances claim the same window
the row lock makes the second re-read the row, see the new ``last_fired_at``
and match nothing: only one wins. Window claims, renewals and outcomes are
one transaction each: lock the batch's rows in key order (``SELECT ... FOR
UPDATE``), apply the rules of `tickwork._lease` at the server's clock, write
the changed rows back in one UPDATE; so a batch of any size costs two round
trips (statements are pipelined), and two replicas with overlapping batches
wait for each other instead of deadlocking. A trigger claim does not wait:
it skips rows another transaction holds (``SKIP LOCKED``) and answers them
taken. Every statement runs under a ``statement_timeout``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
import uuid
from typing import TYPE_CHECKING, Any, Final, TypeVar, final

import trio

from tickwork._errors import InvalidConfigError
from tickwork._lease import (
    TAKEN,
    Claimed,
    WindowState,
    claim_all,
    finish_all,
    renew_all,
)
from tickwork._text import cut
from tickwork._validation import check_bool, check_positive, check_positive_int
from tickwork.triggers._model import LoopRow, TriggerRow, micros_timestamp
from tickwork.triggers._rows import Rows
from tickwork.triggers._schema import Dialect, ensure_schema
from tickwork.triggers._store import (
    StoreContext,
    check_kind,
    check_lease,
    check_new_trigger,
    check_outcomes,
    closed,
    duplicate_name,
    unknown_name,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    import psycopg

    from tickwork._lease import Claim
    from tickwork.triggers._store import Kind

LOGGER = logging.getLogger("tickwork.triggers.postgres")

# Any constant works; it serialises schema creation and upgrades between
# instances that start together (concurrent CREATE TABLE IF NOT EXISTS can
# fail, and an upgrade must run once).
_SCHEMA_LOCK: Final = 0x7469636B776F726B  # "tickwork"
DIALECT: Final = Dialect(
    text="text",
    integer="bigint",
    boolean="boolean",
    false="false",
    param="%s",
    columns=(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = 'tickwork_triggers'"
    ),
    row_key="id",
)
# The server's clock, read once per transaction: now() is its start, which
# is never later than the decision, so a lease granted ends no earlier than
# its holder counts, and one that lapsed while a call waited for its locks
# is still honoured (a claim taken or held, never stolen).
_NOW: Final = "(extract(epoch FROM now()) * 1000000)::bigint"
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
_INSERT: Final = (
    "INSERT INTO tickwork_triggers "  # noqa: S608 - constants
    "(id, name, interval, enabled, last_fired_at, anchor_us, cron, timezone) "
    f"VALUES (%s, %s, %s, %s, NULL, {_NOW}, %s, %s) RETURNING anchor_us"
)
# A claim makes a loop's row, won or not; names go in sorted, so that two
# batches inserting the same new names wait for each other, never deadlock.
_CREATE_LOOPS: Final = (
    "INSERT INTO tickwork_loops (name) "
    "SELECT name FROM unnest(%b::text[]) AS n(name) ORDER BY name "
    "ON CONFLICT DO NOTHING"
)
# The clock, and the rows of the batch locked in key order (the locking
# clause applies after ORDER BY): one row with NULLs if none is stored.
_LOCK: Final = {
    "trigger": (
        f"SELECT n.now_us, t.* FROM (SELECT {_NOW} AS now_us) AS n "  # noqa: S608
        f"LEFT JOIN (SELECT id, anchor_us, {_WINDOW}, enabled IS FALSE, "
        "resumed_us FROM tickwork_triggers "
        "WHERE id = ANY(%b::text[]) ORDER BY id FOR UPDATE) AS t ON true"
    ),
    "loop": (
        f"SELECT n.now_us, t.* FROM (SELECT {_NOW} AS now_us) AS n "  # noqa: S608
        f"LEFT JOIN (SELECT name, NULL::bigint, {_WINDOW}, paused, resumed_us "
        "FROM tickwork_loops "
        "WHERE name = ANY(%b::text[]) ORDER BY name FOR UPDATE) AS t ON true"
    ),
}
# A trigger claim skips the rows another transaction holds locked (another
# replica claiming them right now): waiting would stall the whole batch on
# them, and the other replica most likely wins them. Which of the keys
# exist is read beside it, without a lock, so a skipped row is answered
# taken, never gone.
_LOCK_SKIPPING: Final = _LOCK["trigger"].replace("FOR UPDATE", "FOR UPDATE SKIP LOCKED")
_EXISTING: Final = "SELECT id FROM tickwork_triggers WHERE id = ANY(%b::text[])"
# Every changed row of a batch in one statement; last_fired_at is set only
# when given (a claim won), kept otherwise. The rows go as one JSON array of
# arrays: json.dumps is C, where psycopg dumps a list element by element in
# Python; a 500-row batch of nine typed arrays cost three times as much, on
# the client and on the server.
_ROWS: Final = (
    "(SELECT e->>0 AS key, (e->>1)::bigint AS anchor_us, "
    "(e->>2)::bigint AS window_us, (e->>3)::bigint AS token, e->>4 AS holder, "
    "(e->>5)::bigint AS lease_until_us, e->>6 AS outcome, "
    "(e->>7)::bigint AS attempt, (e->>8)::bigint AS lost, "
    "(e->>9)::bigint AS claimed_us, (e->>10)::bigint AS ended_us "
    "FROM json_array_elements(%s::json) AS e) AS u"
)
_SET_WINDOW: Final = (
    "window_us = u.window_us, token = u.token, holder = u.holder, "
    "lease_until_us = u.lease_until_us, outcome = u.outcome, "
    "attempt = u.attempt, lost = u.lost, claimed_us = u.claimed_us, "
    "ended_us = u.ended_us"
)
_WRITE: Final = {
    "trigger": (
        f"UPDATE tickwork_triggers AS t SET anchor_us = u.anchor_us, {_SET_WINDOW}, "  # noqa: S608
        "last_fired_at = coalesce(%s::text, t.last_fired_at) "
        f"FROM {_ROWS} WHERE t.id = u.key"
    ),
    "loop": (
        f"UPDATE tickwork_loops AS t SET {_SET_WINDOW} "  # noqa: S608
        f"FROM {_ROWS} WHERE t.name = u.key"
    ),
}
_CLAIM: Final = (
    "UPDATE tickwork_triggers SET last_fired_at = %s "
    "WHERE id = %s AND last_fired_at IS NOT DISTINCT FROM %s RETURNING id"
)
# Lock the rows that still match in id order (the locking clause runs after
# ORDER BY), then set them. A row another sweeper changed meanwhile is
# re-checked against its new version under the lock and drops out.
_CLAIM_MANY: Final = """
    WITH claimed AS (
        SELECT t.id FROM tickwork_triggers AS t
        JOIN unnest(%s::text[], %s::text[]) AS c(id, seen) ON t.id = c.id
        WHERE t.last_fired_at IS NOT DISTINCT FROM c.seen
        ORDER BY t.id
        FOR UPDATE OF t
    )
    UPDATE tickwork_triggers AS t SET last_fired_at = %s
    FROM claimed WHERE t.id = claimed.id
    RETURNING t.id
"""

T = TypeVar("T")


@final
class PostgresTriggerStore(StoreContext):
    """A `TriggerStore` in PostgreSQL, for several instances of one service.

    Tables ``tickwork_triggers`` and ``tickwork_meta`` (with the schema
    version) are created on first use. Needs the ``tickwork[postgres]`` extra.
    Connections come from a pool opened on first use; when the server is
    unreachable a call fails after *connect_timeout* (with
    ``psycopg_pool.PoolTimeout``) and the next one tries again. The password
    never appears in `repr` or logs.

    Cancelling a call cannot interrupt it in its worker thread, so it waits
    for the call in flight: up to *connect_timeout* for a connection, plus
    *statement_timeout* for each statement the call runs (one for a listing,
    a claim or a change; the first call of a store also creates the schema,
    a few more). A server that vanishes without closing the connection is
    bounded only by the operating system's TCP timeouts.

    Args:
        dsn: a libpq connection string or ``postgresql://`` URI.
        statement_timeout: seconds after which the server cancels a statement.
        connect_timeout: seconds to wait for a connection from the pool.
        max_connections: pool size, and so the calls in flight at once.

    Raises:
        InvalidConfigError: *dsn* does not parse, or a value is out of range.
        ImportError: psycopg or psycopg_pool is not installed.

    Example:
        Building a store connects to nothing yet, and shows no password:

        >>> PostgresTriggerStore("postgresql://app:s3cret@db.internal/app")
        <PostgresTriggerStore app@db.internal/app>
    """

    def __init__(
        self,
        dsn: str,
        *,
        statement_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        max_connections: int = 4,
    ) -> None:
        """Check the settings and build the pool; nothing connects until first use."""
        try:
            import psycopg  # noqa: PLC0415 - an optional extra
            import psycopg_pool  # noqa: PLC0415
            from psycopg import conninfo  # noqa: PLC0415
        except ImportError as exc:  # pragma: no cover - the tests install both
            msg = "PostgresTriggerStore needs: pip install 'tickwork[postgres]'"
            raise ImportError(msg) from exc
        self.statement_timeout = check_positive("statement_timeout", statement_timeout)
        self.connect_timeout = check_positive("connect_timeout", connect_timeout)
        check_positive_int("max_connections", max_connections)
        try:
            params = conninfo.conninfo_to_dict(dsn)
        except psycopg.Error:
            # libpq's message may quote the string, password and all.
            msg = "'dsn' must be a libpq connection string or postgresql:// URI"
            raise InvalidConfigError(msg) from None
        self._where = _describe(params)
        kwargs: dict[str, Any] = {}
        if "connect_timeout" not in params:
            kwargs["connect_timeout"] = max(2, math.ceil(self.connect_timeout))
        self._pool = psycopg_pool.ConnectionPool(
            dsn,
            kwargs=kwargs,
            min_size=1,
            max_size=max_connections,
            open=False,
            configure=self._configure,
            check=psycopg_pool.ConnectionPool.check_connection,
            timeout=self.connect_timeout,
            name="tickwork-triggers",
        )
        self._pool_closed = psycopg_pool.PoolClosed
        self._limiter = trio.CapacityLimiter(max_connections)
        self._setup_lock = threading.Lock()
        self._ready = False
        self._closed = False

    def __repr__(self) -> str:
        """Name the server and database, never the password (cut to 200)."""
        return f"<PostgresTriggerStore {cut(self._where)}>"

    def _configure(self, connection: psycopg.Connection[Any]) -> None:
        connection.autocommit = True  # each statement is its own transaction
        connection.execute(
            "SELECT set_config('statement_timeout', %s, false)",
            (f"{round(self.statement_timeout * 1000)}ms",),
        )

    async def _run(self, operation: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run *operation* with a pooled connection, in a worker thread."""
        if self._closed:
            raise closed(self)
        return await trio.to_thread.run_sync(
            self._call, operation, limiter=self._limiter
        )

    def _call(self, operation: Callable[[psycopg.Connection[Any]], T]) -> T:
        # Checked again here: the store may have closed while this call
        # waited for the limiter; and if it closes between this check and
        # the pool, the pool's PoolClosed means the same.
        try:
            if self._closed:
                raise closed(self)
            if not self._ready:
                self._set_up()
            with self._pool.connection() as connection:
                return operation(connection)
        except self._pool_closed:
            raise closed(self) from None

    def _set_up(self) -> None:
        """Open the pool and create the schema, once for all threads."""
        with self._setup_lock:
            if not self._ready:
                self._pool.open()
                with self._pool.connection() as connection:
                    self._create_schema(connection)
                self._ready = True
                LOGGER.debug("%r: schema ready", self)

    def _create_schema(self, connection: psycopg.Connection[Any]) -> None:
        """Create or upgrade the schema, one instance at a time, in one transaction.

        The advisory lock makes instances that start together take turns;
        the one that comes second finds the work done (see `ensure_schema`).
        """

        def query(statement: str, args: tuple[object, ...]) -> list[Any]:
            cursor = connection.execute(statement, args)
            return cursor.fetchall() if cursor.description is not None else []

        def many(statement: str, args: Sequence[tuple[object, ...]]) -> None:
            with connection.cursor() as cursor:
                cursor.executemany(statement, args)

        def now() -> int:
            ((now_us,),) = query(f"SELECT {_NOW}", ())
            return int(now_us)

        with connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            ensure_schema(self, query, many, DIALECT, now)

    async def enabled(self) -> Sequence[TriggerRow]:
        """The rows with ``enabled=True``, ordered by name."""
        return await self._run(
            lambda c: _rows(c, _SELECT + "WHERE enabled ORDER BY name")
        )

    async def all(self) -> Sequence[TriggerRow]:
        """Every row, ordered by name."""
        return await self._run(lambda c: _rows(c, _SELECT + "ORDER BY name"))

    async def claim(self, trigger_id: str, seen: str | None, fired_at: str) -> bool:
        """Store *fired_at* if ``last_fired_at`` still equals *seen*: one UPDATE."""
        return await self._run(
            lambda c: (
                c.execute(_CLAIM, (fired_at, trigger_id, seen)).fetchone() is not None
            )
        )

    async def claim_many(
        self, claims: Sequence[tuple[str, str | None]], fired_at: str
    ) -> frozenset[str]:
        """`claim` for each ``(trigger_id, seen)`` pair in one statement."""
        ids = [trigger_id for trigger_id, _ in claims]
        seen = [last for _, last in claims]
        return await self._run(
            lambda c: frozenset(
                row[0] for row in c.execute(_CLAIM_MANY, (ids, seen, fired_at))
            )
        )

    async def claim_windows(
        self, kind: Kind, claims: Sequence[Claim], *, lease: float, holder: str
    ) -> Sequence[Claimed]:
        """Apply the claim rules to *claims* in one transaction (see `TriggerStore`).

        The rows are locked in key order, decided on at the server's clock
        (``now()``, the transaction's start) and the changed ones written
        back in one statement; a loop's row is created by its first claim,
        won or not. A trigger's row that another transaction holds locked
        at that moment (another replica claiming it) is skipped, not waited
        for, and answered ``taken``: the other transaction most likely takes
        the window, and if it did not (it recorded an outcome, say), the
        next sweep claims the row again. A loop's window is claimed once,
        so its claim waits for the lock.
        """
        lease_us = check_lease(lease)
        check_kind(kind)
        keys = sorted({want.key for want in claims})

        def claim(connection: psycopg.Connection[Any]) -> Sequence[Claimed]:
            with _transaction(connection):
                if kind == "loop":
                    connection.execute(_CREATE_LOOPS, (keys,))
                    now, states = _lock(connection, kind, keys)
                    skipped: set[str] = set()
                else:
                    now, states, skipped = _lock_skipping(connection, keys)
                answers, changed = claim_all(states, claims, now, lease_us, holder)
                _write(connection, kind, states, changed, micros_timestamp(now))
            if skipped:  # their state was not read: nothing changed, no answer yet
                answers = [
                    Claimed(answer.key, TAKEN, None, 0, 0, None, now)
                    if answer.key in skipped
                    else answer
                    for answer in answers
                ]
            return answers

        return await self._window_call(claim, keys)

    async def renew_leases(
        self, kind: Kind, leases: Sequence[tuple[str, int]], *, lease: float
    ) -> Sequence[bool]:
        """Extend each ``(key, token)`` lease, in one transaction.

        See `TriggerStore.renew_leases`; "now" is the server's clock.
        """
        lease_us = check_lease(lease)
        check_kind(kind)
        keys = sorted({key for key, _ in leases})

        def renew(connection: psycopg.Connection[Any]) -> Sequence[bool]:
            with _transaction(connection):
                now, states = _lock(connection, kind, keys)
                done, changed = renew_all(states, leases, now, lease_us)
                _write(connection, kind, states, changed, None)
            return done

        return await self._window_call(renew, keys)

    async def finish_windows(
        self, kind: Kind, outcomes: Sequence[tuple[str, int, str]]
    ) -> Sequence[bool]:
        """Record each ``(key, token, outcome)``, in one transaction.

        See `TriggerStore.finish_windows`.
        """
        check_kind(kind)
        check_outcomes(outcomes)
        keys = sorted({key for key, _, _ in outcomes})

        def finish(connection: psycopg.Connection[Any]) -> Sequence[bool]:
            with _transaction(connection):
                now, states = _lock(connection, kind, keys)
                done, changed = finish_all(states, outcomes, now)
                _write(connection, kind, states, changed, None)
            return done

        return await self._window_call(finish, keys)

    async def _window_call(
        self, operation: Callable[[psycopg.Connection[Any]], Sequence[T]], keys: object
    ) -> Sequence[T]:
        """Run *operation*, unless the batch is empty: then only check the store."""
        if keys:
            return await self._run(operation)
        if self._closed:
            raise closed(self)
        await trio.lowlevel.checkpoint()
        return []

    async def loops(self) -> Sequence[LoopRow]:
        """Every coordinated loop's window state, ordered by name."""
        return await self._run(
            lambda c: [
                LoopRow(name, WindowState(None, *state))
                for name, *state in c.execute(_SELECT_LOOPS).fetchall()
            ]
        )

    async def add(
        self,
        *,
        name: str,
        interval: str | None = None,
        enabled: bool = True,
        cron: str | None = None,
        timezone: str | None = None,
    ) -> TriggerRow:
        """Create a trigger that never fired, anchored at the server's clock.

        See `TriggerStore.add`.
        """
        from psycopg import errors  # noqa: PLC0415 - an optional extra

        every, cron, timezone = check_new_trigger(
            name, interval, enabled, cron, timezone
        )
        trigger_id = uuid.uuid4().hex

        def add(connection: psycopg.Connection[Any]) -> TriggerRow:
            try:
                cursor = connection.execute(
                    _INSERT, (trigger_id, name, every, enabled, cron, timezone)
                )
            except errors.UniqueViolation:
                raise duplicate_name(name) from None
            ((anchor,),) = cursor.fetchall()
            return TriggerRow(
                trigger_id,
                name,
                every,
                enabled,
                None,
                anchor,
                cron=cron,
                timezone=timezone,
            )

        return await self._run(add)

    async def set_enabled(self, name: str, enabled: bool) -> None:  # noqa: FBT001 - the public signature
        """Enable or disable the trigger called *name* (see `TriggerStore`)."""
        check_bool("enabled", enabled)
        count = await self._run(
            lambda c: (
                c.execute(
                    "UPDATE tickwork_triggers SET enabled = %s, resumed_us = CASE "  # noqa: S608 - constants
                    f"WHEN %s AND enabled IS FALSE THEN {_NOW} ELSE resumed_us END "
                    "WHERE name = %s",
                    (enabled, enabled, name),
                ).rowcount
            )
        )
        _found(count, name)

    async def set_paused(self, kind: Kind, name: str, paused: bool) -> None:  # noqa: FBT001 - the public signature
        """Pause or resume a loop or a trigger (see `TriggerStore`)."""
        check_kind(kind)
        check_bool("paused", paused)
        if kind == "trigger":
            await self.set_enabled(name, not paused)
            return
        await self._run(
            lambda c: c.execute(
                "INSERT INTO tickwork_loops AS t (name, paused, resumed_us) "  # noqa: S608 - constants
                "VALUES (%s, %s, NULL) "
                "ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, "
                "resumed_us = CASE WHEN excluded.paused THEN t.resumed_us "
                f"ELSE {_NOW} END WHERE t.paused IS DISTINCT FROM excluded.paused",
                (name, paused),
            )
        )

    async def remove(self, name: str) -> None:
        """Delete the trigger called *name*."""
        count = await self._run(
            lambda c: (
                c.execute(
                    "DELETE FROM tickwork_triggers WHERE name = %s", (name,)
                ).rowcount
            )
        )
        _found(count, name)

    async def aclose(self) -> None:
        """Close the pool; later calls raise `TriggerStoreError`.

        Calls waiting for a connection fail with `TriggerStoreError`; a call
        in flight keeps its connection until it is done, and that connection
        is then closed. Closing waits (at most 5 s) for the pool's own
        threads. It is shielded, so a cancelled aclose still closes (then
        raises `trio.Cancelled`); calling it again is harmless.
        """
        self._closed = True
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(self._pool.close)
        await trio.lowlevel.checkpoint_if_cancelled()


def _rows(connection: psycopg.Connection[Any], query: str) -> Rows:
    """The rows *query* selects, kept as read (see `Rows`).

    Results come in binary: integers then need no parsing, which makes a
    listing of 20 000 rows about a quarter cheaper.
    """
    return Rows(connection.execute(query, binary=True).fetchall())


@contextlib.contextmanager
def _transaction(connection: psycopg.Connection[Any]) -> Iterator[None]:
    """One transaction, its statements pipelined: a round trip per result read.

    BEGIN goes with the first query, and the UPDATE with COMMIT, so a
    window call costs two round trips whatever the size of its batch.
    """
    with connection.pipeline(), connection.transaction():
        yield


def _lock(
    connection: psycopg.Connection[Any],
    kind: Kind,
    keys: list[str],
    *,
    skip_locked: bool = False,
) -> tuple[int, dict[str, WindowState | None]]:
    """The server's now (µs) and the state of each of *keys*, their rows locked.

    A key not stored (or, with *skip_locked*, locked elsewhere) is None.
    """
    states: dict[str, WindowState | None] = dict.fromkeys(keys)
    query = _LOCK_SKIPPING if skip_locked else _LOCK[kind]
    rows = connection.execute(query, (keys,), binary=True).fetchall()
    for _, key, *state in rows:
        if key is not None:
            states[key] = WindowState(*state)
    return int(rows[0][0]), states


def _lock_skipping(
    connection: psycopg.Connection[Any], keys: list[str]
) -> tuple[int, dict[str, WindowState | None], set[str]]:
    """`_lock` for triggers, skipping rows locked elsewhere: also those skipped.

    Rows not locked are looked up without a lock (one more round trip, only
    then): those that exist were skipped.
    """
    now, states = _lock(connection, "trigger", keys, skip_locked=True)
    missing = [key for key, state in states.items() if state is None]
    if not missing:
        return now, states, set()
    existing = connection.execute(_EXISTING, (missing,), binary=True).fetchall()
    return now, states, {key for (key,) in existing}


def _write(
    connection: psycopg.Connection[Any],
    kind: Kind,
    states: dict[str, WindowState | None],
    changed: Iterable[str],
    fired_at: str | None,
) -> None:
    """Write the states of *changed* keys back in one UPDATE.

    *fired_at* becomes a trigger's last_fired_at (a claim won); None keeps
    it. A loop keeps no anchor: its schedule has its own.
    """
    keys = list(changed)
    if not keys:
        return
    got = [state for key in keys if (state := states[key]) is not None]
    assert len(got) == len(keys)  # noqa: S101 - only existing states change
    rows = json.dumps([(key, *s.columns()) for key, s in zip(keys, got, strict=True)])
    args = (fired_at, rows) if kind == "trigger" else (rows,)
    connection.execute(_WRITE[kind], args)


def _found(count: int, name: str) -> None:
    if count == 0:
        raise unknown_name(name)


def _describe(params: dict[str, Any]) -> str:
    """user@host:port/dbname from parsed connection parameters, no password."""
    user = params.get("user")
    where = params.get("host") or params.get("hostaddr") or "localhost"
    port = params.get("port")
    text = f"{user}@{where}" if user else str(where)
    if port:
        text += f":{port}"
    return f"{text}/{params.get('dbname') or user or ''}"
