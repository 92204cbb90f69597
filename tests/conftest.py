"""Shared fixtures: tickwork's process-wide defaults, and a throwaway PostgreSQL.

The PostgreSQL fixtures skip their tests with the reason when no server can be
started, except under ``TICKWORK_REQUIRE_POSTGRES=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, NoReturn

import pytest

import tickwork
from tests.pgserver import PostgresServer, PostgresUnavailableError

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(autouse=True)
def _reset_default_max_wait() -> Iterator[None]:
    """Undo any `set_default_max_wait` a test left behind."""
    yield
    tickwork.set_default_max_wait(None)


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("TICKWORK_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"TICKWORK_REQUIRE_POSTGRES=1, but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session, on loopback and a free port."""
    try:
        import psycopg  # noqa: F401, PLC0415 - only to learn whether it is there
    except ImportError:
        _unavailable("psycopg is not installed (the tests group installs it)")
    try:
        server = PostgresServer()
    except PostgresUnavailableError as exc:
        _unavailable(str(exc))
    try:
        server.start()
    except PostgresUnavailableError as exc:
        server.destroy()
        _unavailable(str(exc))
    yield server
    server.destroy()


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """The server's DSN, with tickwork's tables dropped so each test starts empty.

    A test that failed while the server was stopped (the outage test) leaves
    it stopped; it is started again here so later tests are not failed by it.
    """
    import psycopg  # noqa: PLC0415 - present: postgres_server checked

    if not postgres_server.running:
        postgres_server.start()
    with psycopg.connect(postgres_server.dsn, autocommit=True) as connection:
        # A store a failed test left open must not hang the suite.
        connection.execute("SET lock_timeout = '10s'")
        connection.execute(
            "DROP TABLE IF EXISTS tickwork_triggers, tickwork_loops, tickwork_meta"
        )
    return postgres_server.dsn
