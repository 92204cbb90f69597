"""PostgresTriggerStore: triggers shared by several instances of a service.

psycopg 3's sync API with a `psycopg_pool.ConnectionPool`, called through
`trio.to_thread.run_sync` (psycopg's async API is asyncio-only). A claim is
one conditional UPDATE, so when two instances claim the same window the row
lock makes the second re-read the row, see the new ``last_fired_at`` and match
nothing: only one wins. Batched claims lock their rows in id order, so two
sweepers claiming overlapping batches wait for each other instead of
deadlocking. Every statement runs under a ``statement_timeout``.
"""

from __future__ import annotations

import logging
import math
import threading
import uuid
from typing import TYPE_CHECKING, Any, Final, TypeVar, final

import trio

from tickwork._errors import InvalidConfigError
from tickwork._text import cut
from tickwork._validation import check_bool, check_positive, check_positive_int
from tickwork.triggers._model import TriggerRow
from tickwork.triggers._schema import ensure_schema
from tickwork.triggers._store import (
    StoreContext,
    check_new_trigger,
    closed,
    duplicate_name,
    unknown_name,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import psycopg

LOGGER = logging.getLogger("tickwork.triggers.postgres")

# Any constant works; it serialises schema creation between instances that
# start together (concurrent CREATE TABLE IF NOT EXISTS can fail).
_SCHEMA_LOCK: Final = 0x7469636B776F726B  # "tickwork"
_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS tickwork_meta (
        key text PRIMARY KEY,
        value text NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS tickwork_triggers (
        id text PRIMARY KEY,
        name text NOT NULL UNIQUE,
        interval text NOT NULL,
        enabled boolean NOT NULL,
        last_fired_at text
    )""",
)
_INSERT_VERSION: Final = "INSERT INTO tickwork_meta VALUES ('schema_version', %s)"
_SELECT: Final = (
    "SELECT id, name, interval, enabled, last_fired_at FROM tickwork_triggers "
)
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
        def query(statement: str, args: tuple[object, ...]) -> list[Any]:
            cursor = connection.execute(statement, args)
            return cursor.fetchall() if cursor.description is not None else []

        with connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            ensure_schema(self, query, _SCHEMA, _INSERT_VERSION)

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

    async def add(
        self, *, name: str, interval: str, enabled: bool = True
    ) -> TriggerRow:
        """Create a trigger that never fired (see `TriggerStore.add`)."""
        from psycopg import errors  # noqa: PLC0415 - an optional extra

        check_new_trigger(name, interval, enabled)
        row = TriggerRow(uuid.uuid4().hex, name, interval, enabled, None)

        def add(connection: psycopg.Connection[Any]) -> None:
            try:
                connection.execute(
                    "INSERT INTO tickwork_triggers "
                    "(id, name, interval, enabled, last_fired_at) "
                    "VALUES (%s, %s, %s, %s, NULL)",
                    (row.id, name, interval, enabled),
                )
            except errors.UniqueViolation:
                raise duplicate_name(name) from None

        await self._run(add)
        return row

    async def set_enabled(self, name: str, enabled: bool) -> None:  # noqa: FBT001 - the public signature
        """Enable or disable the trigger called *name*."""
        check_bool("enabled", enabled)
        count = await self._run(
            lambda c: (
                c.execute(
                    "UPDATE tickwork_triggers SET enabled = %s WHERE name = %s",
                    (enabled, name),
                ).rowcount
            )
        )
        _found(count, name)

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


def _rows(connection: psycopg.Connection[Any], query: str) -> list[TriggerRow]:
    return [TriggerRow(*row) for row in connection.execute(query).fetchall()]


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
