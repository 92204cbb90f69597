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

from tickwork._errors import (
    InvalidConfigError,
    TriggerStoreError,
    UnknownTriggerError,
)
from tickwork._validation import check_positive, check_positive_int
from tickwork.triggers._model import (
    StoreContext,
    TriggerRow,
    check_enabled,
    check_new_trigger,
    duplicate_name,
    ensure_schema,
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
    unreachable a call fails after *connect_timeout* and the next one tries
    again. Cancelling a call waits for the statement in flight, which
    *statement_timeout* bounds. The password never appears in `repr` or logs.

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
        self._limiter = trio.CapacityLimiter(max_connections)
        self._setup_lock = threading.Lock()
        self._ready = False
        self._closed = False

    def __repr__(self) -> str:
        """Name the server and database, never the password."""
        return f"<PostgresTriggerStore {self._where}>"

    def _configure(self, connection: psycopg.Connection[Any]) -> None:
        connection.autocommit = True  # each statement is its own transaction
        connection.execute(
            "SELECT set_config('statement_timeout', %s, false)",
            (f"{round(self.statement_timeout * 1000)}ms",),
        )

    async def _run(self, operation: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run *operation* with a pooled connection, in a worker thread."""
        if self._closed:
            msg = f"{self!r} is closed"
            raise TriggerStoreError(msg)
        return await trio.to_thread.run_sync(
            self._call, operation, limiter=self._limiter
        )

    def _call(self, operation: Callable[[psycopg.Connection[Any]], T]) -> T:
        if not self._ready:
            with self._setup_lock:
                if not self._ready:
                    self._pool.open()
                    with self._pool.connection() as connection:
                        self._create_schema(connection)
                    self._ready = True
                    LOGGER.debug("%r: schema ready", self)
        with self._pool.connection() as connection:
            return operation(connection)

    def _create_schema(self, connection: psycopg.Connection[Any]) -> None:
        with connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            ensure_schema(self, connection.execute, _SCHEMA, _INSERT_VERSION)

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

    async def set_enabled(self, name: str, enabled: bool) -> None:  # noqa: FBT001 - the SPEC's signature
        """Enable or disable the trigger called *name*."""
        check_enabled(enabled)
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
        """Close the pool; later calls raise `TriggerStoreError`."""
        if not self._closed:
            self._closed = True
            await trio.to_thread.run_sync(self._pool.close)


def _rows(connection: psycopg.Connection[Any], query: str) -> list[TriggerRow]:
    return [TriggerRow(*row) for row in connection.execute(query)]


def _found(count: int, name: str) -> None:
    if count == 0:
        msg = f"no trigger named {name!r}"
        raise UnknownTriggerError(msg)


def _describe(params: dict[str, Any]) -> str:
    """user@host:port/dbname from parsed connection parameters, no password."""
    user = params.get("user")
    where = params.get("host") or params.get("hostaddr") or "localhost"
    port = params.get("port")
    text = f"{user}@{where}" if user else str(where)
    if port:
        text += f":{port}"
    return f"{text}/{params.get('dbname') or user or ''}"
