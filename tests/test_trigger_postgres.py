"""PostgresTriggerStore beyond the contract: an outage, secrets, closing, timeouts.

Also the window calls' transactions: atomic, bounded, a few statements per
batch, and free of deadlocks between replicas.

Each test uses the session's throwaway server (see conftest), Trio's real
clock and an injected wall clock. The outage test waits on conditions, each
bounded by fail_after, never on a fixed sleep. (The race between several
instances and the schema version are in test_trigger_stores.py.)
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

if os.environ.get("TICKWORK_REQUIRE_POSTGRES") != "1":
    pytest.importorskip("psycopg", reason="psycopg is not installed")
import psycopg
import psycopg_pool

from tests.pgserver import PASSWORD, free_port
from tests.trigger_helpers import PostgresDatabase, Recorder, Wall
from tickwork import Scheduler
from tickwork._lease import GONE, SUCCEEDED, TAKEN, WON, Claim
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
            ("2",)
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
    dispatch = Recorder()
    store = PostgresTriggerStore(postgres_dsn, connect_timeout=0.5, statement_timeout=2)
    for name in names:
        await store.add(name=name, interval="1m")
    # The server's clock decides when a window may be claimed, so the wall
    # clock stays behind it: the triggers are anchored two minutes back and
    # the wall starts just after that; its 61 s step then stays in the past.
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        connection.execute(
            "UPDATE tickwork_triggers SET anchor_us = anchor_us - 120000000"
        )
    wall = Wall(datetime.now(timezone.utc) - timedelta(seconds=119))
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


# --- window calls: one transaction, a few statements, no deadlock -------------

LEASE = 30.0


@pytest.fixture
def empty_dsn(postgres_dsn: str) -> str:
    """The server's DSN with every tickwork table dropped, the loops' too."""
    return PostgresDatabase(postgres_dsn).dsn


async def _server_now(store: PostgresTriggerStore) -> int:
    """The server's clock in microseconds, as an early claim reports it."""
    (probe,) = await store.claim_windows(
        "loop", [Claim("probe", 2**62, 2**62)], lease=LEASE, holder="probe"
    )
    return probe.now


async def test_a_window_call_that_fails_changes_nothing_and_the_store_goes_on(
    empty_dsn: str,
) -> None:
    """One transaction: a write refused at commit leaves no row of the batch."""
    async with PostgresTriggerStore(empty_dsn) as store:
        now = await _server_now(store)
        with psycopg.connect(empty_dsn, autocommit=True) as connection:
            connection.execute(
                "ALTER TABLE tickwork_loops ADD CONSTRAINT no_z CHECK (holder <> 'z')"
            )
        claims = [Claim(key, now, now) for key in ("a", "b")]
        with pytest.raises(psycopg.errors.CheckViolation):
            await store.claim_windows("loop", claims, lease=LEASE, holder="z")
        assert [row.name for row in await store.loops()] == ["probe"]
        answers = await store.claim_windows("loop", claims, lease=LEASE, holder="y")
        assert [a.status for a in answers] == [WON, WON]


async def test_a_window_call_waiting_on_locked_rows_is_bounded_and_rolls_back(
    empty_dsn: str,
) -> None:
    """Rows locked elsewhere: statement_timeout ends the wait; nothing is kept.

    Outcomes (and renewals) wait for a row's lock, and so do claims of a
    coordinated loop's window; a trigger claim skips the row (next test).
    """
    async with PostgresTriggerStore(empty_dsn, statement_timeout=0.2) as store:
        row = await store.add(name="refresh", interval="1m")
        assert row.anchor_us is not None
        want = Claim(row.id, row.anchor_us, row.anchor_us)
        (won,) = await store.claim_windows("trigger", [want], lease=LEASE, holder="a")
        now = await _server_now(store)
        loop = Claim("loop", now, now)
        with psycopg.connect(empty_dsn) as locker:
            locker.execute(
                "SELECT 1 FROM tickwork_triggers WHERE id = %s FOR UPDATE", (row.id,)
            )
            locker.execute(
                "SELECT 1 FROM tickwork_loops WHERE name = 'probe' FOR UPDATE"
            )
            with pytest.raises(psycopg.errors.QueryCanceled):
                await store.finish_windows("trigger", [(row.id, won.token, SUCCEEDED)])
            with pytest.raises(psycopg.errors.QueryCanceled):
                await store.claim_windows(
                    "loop", [loop, Claim("probe", now, now)], lease=LEASE, holder="a"
                )
        [stored] = await store.all()
        assert (stored.token, stored.outcome) == (1, None)
        assert [r.name for r in await store.loops()] == ["probe"]
        assert await store.finish_windows(
            "trigger", [(row.id, won.token, SUCCEEDED)]
        ) == [True]


async def test_a_trigger_claim_skips_a_row_locked_elsewhere_as_taken(
    empty_dsn: str,
) -> None:
    """A trigger row another transaction holds is answered taken at once.

    The other rows of the batch are won, an unknown one is gone, and the
    skipped row is untouched: claimed as ever once the lock is gone.
    """
    async with PostgresTriggerStore(empty_dsn, statement_timeout=5) as store:
        rows = [await store.add(name=name, interval="1m") for name in "ab"]
        claims = [
            Claim(row.id, row.anchor_us, row.anchor_us)  # type: ignore[arg-type]
            for row in rows
        ]
        gone = Claim("nope", claims[0].window, claims[0].window)
        with psycopg.connect(empty_dsn) as locker:
            locker.execute(
                "SELECT 1 FROM tickwork_triggers WHERE id = %s FOR UPDATE",
                (rows[0].id,),
            )
            with trio.fail_after(2):  # far below the statement_timeout
                answers = await store.claim_windows(
                    "trigger", [*claims, gone], lease=LEASE, holder="a"
                )
        assert [a.status for a in answers] == [TAKEN, WON, GONE]
        assert answers[0].now == answers[1].now
        (again,) = await store.claim_windows(
            "trigger", claims[:1], lease=LEASE, holder="a"
        )
        assert (again.status, again.token) == (WON, 1)


async def test_replicas_claiming_overlapping_batches_in_any_order_never_deadlock(
    empty_dsn: str,
) -> None:
    """4 stores claim 300 windows in shuffled batches at once: each is won once."""
    stores = [PostgresTriggerStore(empty_dsn) for _ in range(4)]
    keys = [f"loop-{i:03}" for i in range(300)]
    won: list[str] = []

    async def claim(store: PostgresTriggerStore, start: int, seed: int) -> None:
        shuffled = random.Random(seed).sample(keys, len(keys))
        for part in range(0, len(shuffled), 100):
            batch = [Claim(k, start, start) for k in shuffled[part : part + 100]]
            answers = await store.claim_windows(
                "loop", batch, lease=LEASE, holder=f"r{seed}"
            )
            mine = [a for a in answers if a.won]
            won.extend(a.key for a in mine)
            await store.finish_windows(
                "loop", [(a.key, a.token, SUCCEEDED) for a in mine]
            )

    try:
        now = await _server_now(stores[0])
        for window in range(3):
            start = now - (3 - window) * 60_000_000
            won.clear()
            with trio.fail_after(60):
                async with trio.open_nursery() as nursery:
                    for index, store in enumerate(stores):
                        nursery.start_soon(claim, store, start, index + 10 * window)
            assert sorted(won) == keys  # each window once, by some replica
        states = {row.name: row.state for row in await stores[0].loops()}
        assert {states[key].token for key in keys} == {3}
    finally:
        for store in stores:
            await store.aclose()


async def test_a_batch_of_500_claims_is_three_statements(
    empty_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claims, renewals and outcomes cost a few statements, not one per window."""
    async with PostgresTriggerStore(empty_dsn) as store:
        now = await _server_now(store)
        statements: list[str] = []
        execute = psycopg.Connection.execute

        def counting(
            self: psycopg.Connection[Any], query: Any, *args: Any, **kwargs: Any
        ) -> Any:
            statements.extend(str(query).split()[:1])  # not the pool's empty check
            return execute(self, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.Connection, "execute", counting)
        claims = [Claim(f"loop-{i:03}", now, now) for i in range(500)]
        answers = await store.claim_windows("loop", claims, lease=LEASE, holder="a")
        assert statements == ["INSERT", "SELECT", "UPDATE"]
        statements.clear()
        await store.renew_leases("loop", [(a.key, a.token) for a in answers], lease=1)
        await store.finish_windows(
            "loop", [(a.key, a.token, SUCCEEDED) for a in answers]
        )
        assert statements == ["SELECT", "UPDATE"] * 2
