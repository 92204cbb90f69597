"""PostgresTriggerStore beyond the contract: an outage, secrets, closing, timeouts.

Each test uses the session's throwaway server (see conftest), Trio's real
clock and an injected wall clock. The outage test waits on conditions, each
bounded by fail_after, never on a fixed sleep. (The race between several
instances and the schema version are in test_trigger_stores.py.)
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

if os.environ.get("TICKWORK_REQUIRE_POSTGRES") != "1":
    pytest.importorskip("psycopg", reason="psycopg is not installed")
import psycopg
import psycopg_pool

from tests.pgserver import PASSWORD, free_port
from tests.trigger_helpers import Recorder, Wall
from tickwork import Scheduler
from tickwork.triggers import PostgresTriggerStore, TriggerStoreError, TriggerSweeper

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.pgserver import PostgresServer


async def test_instances_starting_together_create_the_schema_once(
    postgres_dsn: str,
) -> None:
    """8 stores whose first call is simultaneous all succeed (advisory lock)."""
    stores = [PostgresTriggerStore(postgres_dsn) for _ in range(8)]
    async with trio.open_nursery() as nursery:
        for store in stores:
            nursery.start_soon(store.all)
    for store in stores:
        await store.aclose()
    with psycopg.connect(postgres_dsn) as connection:
        assert connection.execute("SELECT value FROM tickwork_meta").fetchall() == [
            ("1",)
        ]


def test_the_password_is_not_in_repr_or_in_a_bad_dsn_error() -> None:
    """repr names user, host, port and database; errors never echo the DSN."""
    store = PostgresTriggerStore(f"postgresql://app:{PASSWORD}@db.internal:6432/prod")
    assert repr(store) == "<PostgresTriggerStore app@db.internal:6432/prod>"
    with pytest.raises(ValueError, match="'dsn'") as caught:
        PostgresTriggerStore(f"host=db password={PASSWORD} nonsense")
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"statement_timeout": 0}, "'statement_timeout'"),
        ({"connect_timeout": -1}, "'connect_timeout'"),
        ({"max_connections": 0}, "'max_connections'"),
        ({"max_connections": 1.5}, "'max_connections'"),
    ],
)
def test_bad_settings_are_refused(options: dict[str, float], match: str) -> None:
    """Each setting is checked and named."""
    with pytest.raises((ValueError, TypeError), match=match):
        PostgresTriggerStore("postgresql://localhost/x", **options)  # type: ignore[arg-type]


async def test_statement_timeout_bounds_queries(postgres_dsn: str) -> None:
    """A statement longer than statement_timeout is cancelled by the server."""
    async with PostgresTriggerStore(postgres_dsn, statement_timeout=0.2) as store:
        await store.all()
        with pytest.raises(psycopg.errors.QueryCanceled):
            await store._run(lambda c: c.execute("SELECT pg_sleep(5)"))


async def test_a_pool_closed_under_a_call_is_a_store_error(postgres_dsn: str) -> None:
    """A call past the closed check as the pool closes raises TriggerStoreError."""
    store = PostgresTriggerStore(postgres_dsn)
    await store.all()
    # What a call sees when aclose runs between its closed check and the pool.
    await trio.to_thread.run_sync(store._pool.close)
    with pytest.raises(TriggerStoreError, match="closed"):
        await store.all()
    await store.aclose()


async def test_cancelling_a_call_waits_at_most_connect_timeout() -> None:
    """With no server, a cancelled call waits for its connection: <= connect_timeout."""
    dsn = f"postgresql://app:{PASSWORD}@127.0.0.1:{free_port()}/app"
    store = PostgresTriggerStore(dsn, connect_timeout=1.0, statement_timeout=0.1)
    waited: list[float] = []

    async def listing(scope: trio.CancelScope) -> None:
        with scope, contextlib.suppress(psycopg_pool.PoolTimeout):
            await store.all()
        waited.append(trio.current_time() - cancelled_at)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            scope = trio.CancelScope()
            nursery.start_soon(listing, scope)
            await trio.testing.wait_all_tasks_blocked()  # in its worker thread
            cancelled_at = trio.current_time()
            scope.cancel()
        await store.aclose()
    # The documented bound: connect_timeout for a connection plus
    # statement_timeout for the statement (0.5 s for threads to finish).
    assert waited[0] < 1.0 + 0.1 + 0.5


async def until(condition: Callable[[], bool]) -> None:
    """Wait until *condition* holds, checking every 20 ms (callers bound it)."""
    while not condition():  # noqa: ASYNC110 - the condition is a server's, no Event
        await trio.sleep(0.02)


async def test_outage_logs_keeps_ticking_and_resumes_without_double_fires(
    postgres_server: PostgresServer,
    postgres_dsn: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Server stopped mid-run: sweeps report, the loop ticks, firing resumes once."""
    caplog.set_level(logging.DEBUG, logger="tickwork")
    names = ("a", "b", "c")
    wall = Wall()
    dispatch = Recorder()
    store = PostgresTriggerStore(postgres_dsn, connect_timeout=0.5, statement_timeout=2)
    for name in names:
        await store.add(name=name, interval="1m")
    sweeper = TriggerSweeper(store, dispatch, clock=wall, tick_interval=0.05)
    scheduler = Scheduler([sweeper.loop()], seed=7)

    def failed_listings() -> int:
        return sum("could not list" in r.getMessage() for r in caplog.records)

    def sweeps() -> int:
        return scheduler.stats()["triggers"].runs

    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(scheduler.run)
            with trio.fail_after(20):
                await until(lambda: len(dispatch.rows) == 3)
            before_outage = sweeps()
            await trio.to_thread.run_sync(postgres_server.stop)
            wall.advance(61)  # the next window opens while the server is down
            with trio.fail_after(30):
                await until(lambda: failed_listings() >= 3)
            ticks_during_outage = sweeps() - before_outage
            await trio.to_thread.run_sync(postgres_server.start)
            with trio.fail_after(60):
                await until(lambda: len(dispatch.rows) == 6)
                after = sweeps()
                await until(lambda: sweeps() >= after + 3)
            scheduler.stop()
    finally:
        await store.aclose()
    assert dispatch.counts == dict.fromkeys(names, 2)
    assert ticks_during_outage >= 3  # the loop went on ticking through it
    assert scheduler.stats()["triggers"].failed == 0  # sweeps reported, never raised
    for record in caplog.records:
        assert PASSWORD not in record.getMessage()
        assert PASSWORD not in (
            logging.Formatter().formatException(record.exc_info)
            if record.exc_info
            else ""
        )
