"""``python -m tickwork.triggers``: commands, messages and exit codes."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import runpy
import sqlite3
import subprocess
import sys
from datetime import datetime
from typing import TYPE_CHECKING

import pytest
import trio

from tests.pgserver import PASSWORD, free_port
from tickwork._errors import InvalidConfigError
from tickwork._lease import Claim
from tickwork._text import brief
from tickwork.triggers import PostgresTriggerStore, SQLiteTriggerStore
from tickwork.triggers._cli import (
    ENV_DB,
    REFUSED,
    UNAVAILABLE,
    USAGE,
    main,
    open_store,
)

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

T = 1_714_564_800  # 2024-05-01T12:00:00Z
T_US = T * 1_000_000
LATER = T + 960  # when the window-state tests look: 12:16:00Z


def run(*argv: str, now: float | None = None) -> tuple[int, str]:
    """Exit code and stdout of one command, at *now* if given."""
    out = io.StringIO()
    if now is None:
        return main(list(argv), out), out.getvalue()
    return main(list(argv), out, clock=lambda: now), out.getvalue()


def cells(table: str) -> list[list[str]]:
    """A table's lines split into cells (columns are two or more spaces apart)."""
    return [re.split(r"\s{2,}", line) for line in table.splitlines()]


def test_add_list_disable_enable_remove_round_trip(tmp_path: Path) -> None:
    """The operator's whole cycle on an SQLite file, with the table it prints."""
    db = str(tmp_path / "t.db")
    assert run("--db", db, "add", "refresh", "15m") == (
        0,
        "added 'refresh' every 15m\n",
    )
    assert run("--db", db, "add", "nightly", "1d", "--disabled")[0] == 0
    code, table = run("--db", db, "list")
    assert code == 0
    header, *rows = cells(table)
    assert header == [
        "NAME",
        "SCHEDULE",
        "ENABLED",
        "LAST WINDOW",
        "OUTCOME",
        "LEASE",
        "NEXT FIRE",
        "ATTEMPT",
        "LOST",
        "HOLDER",
    ]
    # Never claimed: each fires at its anchor, when it was added.
    assert [row[:6] + row[7:] for row in rows] == [
        ["nightly", "1d", "no", "never", "-", "-", "0", "0", "-"],
        ["refresh", "15m", "yes", "never", "-", "-", "0", "0", "-"],
    ]
    assert all(re.fullmatch(r"now|[0-9]+s ago", row[6]) for row in rows)
    assert run("--db", db, "enable", "nightly") == (0, "enabled 'nightly'\n")
    assert run("--db", db, "disable", "refresh") == (0, "disabled 'refresh'\n")
    code, lines = run("--db", db, "list", "--json")
    records = [json.loads(line) for line in lines.splitlines()]
    assert [(r["name"], r["enabled"], r["last_fired_at"]) for r in records] == [
        ("nightly", True, None),
        ("refresh", False, None),
    ]
    assert run("--db", db, "remove", "refresh") == (0, "removed 'refresh'\n")
    assert [r.split()[0] for r in run("--db", db, "list")[1].splitlines()] == [
        "NAME",
        "nightly",
    ]


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["add", "refresh", "15m"], REFUSED, "'refresh' exists"),
        (["add", "x", "15"], REFUSED, "'interval' must be"),
        (["add", "x", "0s"], REFUSED, "must be positive"),
        (["enable", "nope"], REFUSED, "no trigger named 'nope'"),
        (["remove", "nope"], REFUSED, "no trigger named 'nope'"),
        (["show", "nope"], REFUSED, "no trigger or coordinated loop named 'nope'"),
    ],
)
def test_refusals_exit_1_with_the_reason(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    code: int,
    message: str,
) -> None:
    """Duplicate, bad interval and unknown names exit 1 and say why on stderr."""
    db = str(tmp_path / "t.db")
    assert run("--db", db, "add", "refresh", "15m")[0] == 0
    capsys.readouterr()
    assert run("--db", db, *argv) == (code, "")
    assert message in capsys.readouterr().err


def test_a_missing_sqlite_file_is_not_created_by_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """list on a path that does not exist exits 3 instead of making a new file."""
    db = tmp_path / "typo.db"
    assert run("--db", str(db), "list") == (UNAVAILABLE, "")
    assert "no database at" in capsys.readouterr().err
    assert not db.exists()


def test_the_database_defaults_to_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """$TICKWORK_TRIGGERS_DB stands in for --db; neither is a usage error."""
    monkeypatch.setenv(ENV_DB, str(tmp_path / "env.db"))
    assert run("add", "a", "1m")[0] == 0
    monkeypatch.delenv(ENV_DB)
    with pytest.raises(SystemExit) as exited:
        run("list")
    assert exited.value.code == USAGE
    assert f"${ENV_DB}" in capsys.readouterr().err


def test_an_unreachable_server_exits_3_without_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A refused connection exits 3 with the cause, and never prints the password."""
    dsn = f"postgresql://app:{PASSWORD}@127.0.0.1:{free_port()}/app"
    assert run("--db", dsn, "--timeout", "0.5", "list") == (UNAVAILABLE, "")
    err = capsys.readouterr().err
    assert "app@127.0.0.1" in err
    assert "Connection refused" in err or "connection failed" in err
    assert PASSWORD not in err


def test_a_malformed_dsn_or_timeout_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A postgresql:// URI libpq cannot parse, or a timeout <= 0, exits 2."""
    assert run("--db", "postgresql://host:notaport:5/x?bad=1", "list") == (USAGE, "")
    assert "'dsn'" in capsys.readouterr().err
    assert run("--db", "x.db", "--timeout", "0", "add", "a", "1m") == (USAGE, "")
    assert "'busy_timeout'" in capsys.readouterr().err


def test_python_dash_m_runs_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``python -m tickwork.triggers`` exits with main()'s code."""
    db = str(tmp_path / "m.db")
    monkeypatch.setattr(
        sys, "argv", ["tickwork.triggers", "--db", db, "add", "a", "1m"]
    )
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("tickwork.triggers", run_name="__main__")
    assert exited.value.code == 0
    assert "added 'a'" in capsys.readouterr().out


def cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m tickwork.triggers`` in a child process, as a shell would."""
    return subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "tickwork.triggers", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def insert_rows(db: str, rows: Iterable[tuple[object, ...]]) -> None:
    """Write rows straight into an SQLite trigger database, broken ones included."""
    assert run("--db", db, "add", "seed", "1m")[0] == 0  # creates the schema
    with contextlib.closing(sqlite3.connect(db)) as connection, connection:
        connection.executemany(
            "INSERT INTO tickwork_triggers "
            "(id, name, interval, enabled, last_fired_at) VALUES (?, ?, ?, ?, ?)",
            rows,
        )


def test_a_libpq_key_value_string_is_a_postgres_dsn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``host=... dbname=...`` opens PostgreSQL, never an SQLite file of that name."""
    monkeypatch.chdir(tmp_path)
    dsn = f"host=127.0.0.1 port={free_port()} dbname=app user=app password={PASSWORD}"
    assert isinstance(open_store(dsn), PostgresTriggerStore)
    assert run("--db", dsn, "--timeout", "0.5", "add", "a", "1m") == (UNAVAILABLE, "")
    err = capsys.readouterr().err
    assert "PostgresTriggerStore app@127.0.0.1" in err
    assert PASSWORD not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("db", "shown"),
    [
        ("postgresq://app:s3cret@db/app", "'postgresq://app:***@db/app'"),
        ("mysql://app:s3cret@db/app", "'mysql://app:***@db/app'"),
        ("sqlite:///triggers.db", "'sqlite:///triggers.db'"),
        ("hots=db dbname=app", "'dsn' must be"),
    ],
)
def test_an_unknown_uri_scheme_or_dsn_keyword_exits_2(
    tmp_path: Path, db: str, shown: str
) -> None:
    """A URI other than postgresql://, or a mistyped DSN, exits 2 and makes no file."""
    done = cli("--db", db, "add", "a", "1m", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (USAGE, "")
    assert shown in done.stderr
    assert "s3cret" not in done.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("db", "shown"),
    [
        ("mysql://app:s3cret@db/app", "(got 'mysql://app:***@db/app')"),
        ("mysql://app:s3:cr/et@db/app", "(got 'mysql://app:***@db/app')"),
        ("redis://db/0?password=s3cret&x=1", "(got 'redis://db/0?password=***&x=1')"),
        ("file:///srv/t.db", "(got 'file:///srv/t.db')"),
    ],
)
def test_open_store_refuses_other_schemes_without_their_password(
    db: str, shown: str
) -> None:
    """open_store names a refused URI with its password replaced by ***."""
    with pytest.raises(InvalidConfigError) as refused:
        open_store(db)
    assert str(refused.value).startswith("'--db' must be an SQLite file path")
    assert str(refused.value).endswith(shown)


def test_a_missing_directory_is_named_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """add into a directory that does not exist exits 3 and names the directory."""
    db = tmp_path / "nodir" / "t.db"
    assert run("--db", str(db), "add", "a", "1m") == (UNAVAILABLE, "")
    assert f"no directory {brief(str(db.parent))}" in capsys.readouterr().err
    assert not db.parent.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["add", "x", "-5m"],
        ["add", "x", "-5m", "--disabled"],
        ["add", "--disabled", "x", "-5m"],
        ["add", "--", "x", "-5m"],
    ],
)
def test_an_interval_starting_with_a_dash_is_refused_by_the_grammar(
    tmp_path: Path, argv: list[str]
) -> None:
    """``-5m`` is read as the interval, not an option, and the grammar refuses it."""
    done = cli("--db", "t.db", *argv, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (REFUSED, "")
    assert "'interval' must be" in done.stderr
    assert "(got '-5m')" in done.stderr


def test_names_starting_with_a_dash_are_names_and_options_still_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A name such as ``-x`` is a value for every command; --disabled and -h work."""
    db = str(tmp_path / "t.db")
    assert run("--db", db, "add", "-x", "5m", "--disabled") == (
        0,
        "added '-x' every 5m\n",
    )
    assert cells(run("--db", db, "list")[1])[1][:4] == ["-x", "5m", "no", "never"]
    assert run("--db", db, "show", "-x")[1].startswith("name: -x\nkind: trigger\n")
    assert run("--db", db, "show", "-x", "--json")[0] == 0
    assert run("--db", db, "enable", "-x") == (0, "enabled '-x'\n")
    assert run("--db", db, "remove", "-x") == (0, "removed '-x'\n")
    assert run("--db", db, "disable", "-nope") == (REFUSED, "")
    assert "no trigger named '-nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        run("--db", db, "add", "x", "-h")
    assert exited.value.code == 0
    assert "--disabled" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exited:
        run("--db", db, "add", "x", "5m", "extra")
    assert exited.value.code == USAGE
    assert "unrecognized arguments: extra" in capsys.readouterr().err


def test_list_into_a_closed_pipe_exits_0_quietly(tmp_path: Path) -> None:
    """``list | head -1`` ends with exit 0 and nothing on stderr."""
    db = str(tmp_path / "t.db")
    # ~1 MB of table: far more than a pipe buffer (64 KiB on Linux).
    insert_rows(
        db, ((f"id{i}", f"t{i:05}-" + "x" * 190, "1h", 1, None) for i in range(5000))
    )
    with subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "tickwork.triggers", "--db", db, "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as child:
        assert child.stdout is not None
        assert child.stdout.readline().startswith(b"NAME")
        child.stdout.close()
        _, err = child.communicate(timeout=60)
        assert (child.returncode, err) == (0, b"")


class ClosedPipe(io.StringIO):
    """A stdout whose reader has gone: every write fails as a closed pipe does."""

    def __init__(self, fd: int) -> None:
        """Stand for the pipe's write end *fd*."""
        super().__init__()
        self.fd = fd

    def write(self, text: str) -> int:
        """Fail as writing to a pipe without a reader does."""
        raise BrokenPipeError

    def fileno(self) -> int:
        """The pipe's write end."""
        return self.fd


def test_a_closed_pipe_is_pointed_at_devnull(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After a broken pipe, the descriptor writes to devnull, so a last flush works."""
    db = str(tmp_path / "t.db")
    assert run("--db", db, "add", "a", "1m")[0] == 0
    reader, writer = os.pipe()
    os.close(reader)
    try:
        assert main(["--db", db, "list"], ClosedPipe(writer)) == 0
        assert os.write(writer, b"rest of the buffer") == 18
    finally:
        os.close(writer)
    assert capsys.readouterr().err == ""


def test_an_interval_below_the_sweepers_default_minimum_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """add 1s succeeds but warns that a default TriggerSweeper calls it invalid."""
    db = str(tmp_path / "t.db")
    assert run("--db", db, "add", "fast", "1s") == (0, "added 'fast' every 1s\n")
    err = capsys.readouterr().err
    assert err.startswith("warning: 'fast' every 1s is below")
    assert "default min_interval of 60 s" in err
    assert "invalid" in err
    assert run("--db", db, "add", "minute", "60s") == (0, "added 'minute' every 60s\n")
    assert capsys.readouterr().err == ""


def test_messages_cut_values_to_200_characters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Errors show at most 200 characters of a value the user typed."""
    db = str(tmp_path / "t.db")
    assert run("--db", db, "add", "seed", "1m")[0] == 0
    capsys.readouterr()
    assert run("--db", db, "add", "n" * 5000, "9" * 5000)[0] == REFUSED
    assert run("--db", db, "enable", "n" * 5000)[0] == REFUSED
    assert run("--db", str(tmp_path / ("d" * 5000)), "list")[0] == UNAVAILABLE
    with pytest.raises(SystemExit) as exited:
        run("--db", db, "c" * 5000)
    assert exited.value.code == USAGE
    lines = capsys.readouterr().err.splitlines()
    assert len([line for line in lines if "…" in line]) == 4
    assert max(len(line) for line in lines) < 1200


def test_list_cuts_cells_and_shows_broken_rows(tmp_path: Path) -> None:
    """Long cells are cut to 200 characters; bytes and NULLs are listed as repr."""
    db = str(tmp_path / "t.db")
    insert_rows(
        db,
        [
            (None, b"\xffbad", b"\xfe5m", 1, b"\x00"),
            ("long", "n" * 5000, "1h", 0, "t" * 5000),
            ("nl", "two\nlines", "1h", 1, None),
        ],
    )
    with contextlib.closing(sqlite3.connect(db)) as connection, connection:
        connection.execute(
            "UPDATE tickwork_triggers SET anchor_us = 'then', window_us = X'01', "
            "token = 'two', lease_until_us = ?, holder = ? WHERE id = 'nl'",
            (2**62, "h" * 5000),
        )
        connection.execute(
            "UPDATE tickwork_triggers SET window_us = 'soon' WHERE name = 'seed'"
        )
    code, table = run("--db", db, "list", now=T)
    assert code == 0
    lines = table.splitlines()
    assert len(lines) == 5
    assert max(len(line) for line in lines) < 650
    assert any(line.startswith("n" * 199 + "… ") for line in lines)
    assert [
        "b'\\xffbad'",
        "b'\\xfe5m'",
        "yes",
        "never",
        "-",
        "-",
        "-",
        "0",
        "0",
        "-",
    ] in cells(table)
    # A window state edited by hand: shown as stored, no next fire from it.
    assert [
        "'two\\nlines'",
        "1h",
        "yes",
        "b'\\x01'",
        "-",
        "in 53356151d2h",
        "-",
        "0",
        "0",
        "h" * 199 + "…",
    ] in cells(table)
    code, text = run("--db", db, "list", "--json", now=T)
    assert code == 0
    rows = {row["id"]: row for row in map(json.loads, text.splitlines())}
    assert rows[None] == {
        "kind": "trigger",
        "id": None,
        "name": "b'\\xffbad'",
        "interval": "b'\\xfe5m'",
        "enabled": True,
        "last_fired_at": "b'\\x00'",
        "anchor_us": None,
        "window_us": None,
        "token": 0,
        "holder": None,
        "lease_until_us": None,
        "outcome": None,
        "attempt": 0,
        "lost": 0,
        "cron": None,
        "timezone": None,
        "status": None,
        "anchor_at": None,
        "window_at": None,
        "lease_until_at": None,
        "next_fire_us": None,
        "next_fire_at": None,
    }
    assert rows["long"]["last_fired_at"] == "t" * 5000
    assert rows["long"]["next_fire_us"] == T_US  # never fired, no anchor: now
    assert (rows["nl"]["anchor_us"], rows["nl"]["window_us"]) == ("then", "b'\\x01'")
    assert (rows["nl"]["lease_until_at"], rows["nl"]["next_fire_at"]) == (None, None)
    (seed,) = (row for row in rows.values() if row["name"] == "seed")
    assert (seed["window_us"], seed["window_at"], seed["next_fire_us"]) == (
        "soon",
        None,
        None,
    )
    code, text = run("--db", db, "show", "two\nlines", now=T)
    assert code == 0
    assert "anchor: then\nlast window: b'\\x01'\n" in text
    assert f"holder: {'h' * 199}…\n" in text
    assert f"lease until: {2**62} (in 53356151d2h)\n" in text
    code, text = run("--db", db, "show", "n" * 5000)
    assert code == 0
    assert text.startswith(f"name: {'n' * 199}…\n")
    assert max(len(line) for line in text.splitlines()) < 250


def window_state_db(tmp_path: Path) -> str:
    """An SQLite file whose triggers and loops went through claims and outcomes.

    On the store's clock (whole seconds from `T`): "refresh" (15m) was
    abandoned in window 0 by r1 and is running window 1 under r2; "hourly"
    succeeded; "stuck" (1d) is abandoned; "idle" (disabled) never fired.
    Loop "report" failed its window (at T + 0.25 s); "sync" is running.
    """
    db = str(tmp_path / "w.db")
    now = [float(T)]
    window_1 = T_US + 900_000_000

    async def build() -> None:
        async with SQLiteTriggerStore(db, clock=lambda: now[0]) as store:
            rows = {
                name: await store.add(name=name, interval=every, enabled=on)
                for name, every, on in [
                    ("refresh", "15m", True),
                    ("hourly", "1h", True),
                    ("stuck", "1d", True),
                    ("idle", "5m", False),
                ]
            }
            first = [
                Claim(rows[n].id, T_US, T_US) for n in ("refresh", "hourly", "stuck")
            ]
            await store.claim_windows("trigger", first, lease=30, holder="r1")
            report = T_US + 250_000
            claim = Claim("report", report, report)
            await store.claim_windows("loop", [claim], lease=30, holder="r1")
            await store.finish_windows("trigger", [(rows["hourly"].id, 1, "succeeded")])
            await store.finish_windows("loop", [("report", 1, "failed")])
            now[0] = T + 900
            claim = Claim(rows["refresh"].id, window_1, window_1)
            (won,) = await store.claim_windows(
                "trigger", [claim], lease=300, holder="r2"
            )
            assert (won.won, won.lost_window) == (True, T_US)
            claim = Claim("sync", window_1, window_1)
            await store.claim_windows("loop", [claim], lease=300, holder="r2")

    trio.run(build)
    return db


def test_list_shows_each_window_state_and_the_coordinated_loops(
    tmp_path: Path,
) -> None:
    """The table gives last window, outcome, lease, next fire, attempt, lost, holder."""
    db = window_state_db(tmp_path)
    code, table = run("--db", db, "list", now=LATER)
    assert code == 0
    assert table.splitlines() == [
        (
            "NAME     SCHEDULE  ENABLED  LAST WINDOW           OUTCOME    LEASE       "
            "NEXT FIRE  ATTEMPT  LOST  HOLDER"
        ),
        (
            "hourly   1h        yes      2024-05-01T12:00:00Z  succeeded  -           "
            "in 44m     1        0     r1"
        ),
        (
            "idle     5m        no       never                 -          -           "
            "16m ago    0        0     -"
        ),
        (
            "refresh  15m       yes      2024-05-01T12:15:00Z  running    in 4m       "
            "in 14m     1        1     r2"
        ),
        (
            "stuck    1d        yes      2024-05-01T12:00:00Z  abandoned  15m30s ago  "
            "in 23h44m  1        0     r1"
        ),
        "",
        (
            "LOOP    PAUSED  LAST WINDOW           OUTCOME  LEASE  NEXT FIRE  ATTEMPT  "
            "LOST  HOLDER"
        ),
        (
            "report  no      2024-05-01T12:00:00Z  failed   -      -          1        "
            "0     r1"
        ),
        (
            "sync    no      2024-05-01T12:15:00Z  running  in 4m  -          1        "
            "0     r2"
        ),
    ]
    assert max(len(line) for line in table.splitlines()) <= 120


def test_list_json_gives_the_window_state_in_microseconds_and_text(
    tmp_path: Path,
) -> None:
    """--json adds the state's µs and RFC 3339 values; loops follow as kind "loop"."""
    db = window_state_db(tmp_path)
    code, text = run("--db", db, "list", "--json", now=LATER)
    assert code == 0
    rows = [json.loads(line) for line in text.splitlines()]
    assert [(row["kind"], row["name"]) for row in rows] == [
        ("trigger", "hourly"),
        ("trigger", "idle"),
        ("trigger", "refresh"),
        ("trigger", "stuck"),
        ("loop", "report"),
        ("loop", "sync"),
    ]
    refresh = rows[2]
    assert isinstance(refresh.pop("id"), str)  # generated; the rest is exact
    assert refresh == {
        "kind": "trigger",
        "name": "refresh",
        "interval": "15m",
        "enabled": True,
        "last_fired_at": "2024-05-01T12:15:00Z",
        "anchor_us": T_US,
        "window_us": T_US + 900_000_000,
        "token": 2,
        "holder": "r2",
        "lease_until_us": T_US + 1_200_000_000,
        "outcome": None,
        "attempt": 1,
        "lost": 1,
        "cron": None,
        "timezone": None,
        "status": "running",
        "anchor_at": "2024-05-01T12:00:00Z",
        "window_at": "2024-05-01T12:15:00Z",
        "lease_until_at": "2024-05-01T12:20:00Z",
        "next_fire_us": T_US + 1_800_000_000,
        "next_fire_at": "2024-05-01T12:30:00Z",
    }
    assert [row["status"] for row in rows] == [
        "succeeded",
        None,
        "running",
        "abandoned",
        "failed",
        "running",
    ]
    assert rows[4] == {
        "kind": "loop",
        "name": "report",
        "anchor_us": None,
        "window_us": T_US + 250_000,
        "token": 1,
        "holder": "r1",
        "lease_until_us": None,
        "outcome": "failed",
        "attempt": 1,
        "lost": 0,
        "paused": False,
        "status": "failed",
        "anchor_at": None,
        "window_at": "2024-05-01T12:00:00.250000Z",
        "lease_until_at": None,
        "next_fire_us": None,
        "next_fire_at": None,
    }


def test_show_prints_everything_about_one_trigger(tmp_path: Path) -> None:
    """show NAME: one ``key: value`` line per field, times exact and relative."""
    db = window_state_db(tmp_path)
    code, text = run("--db", db, "show", "refresh", now=LATER)
    assert code == 0
    lines = text.splitlines()
    assert lines[2].startswith("id: ")
    del lines[2]
    assert lines == [
        "name: refresh",
        "kind: trigger",
        "interval: 15m",
        "enabled: yes",
        "last fired: 2024-05-01T12:15:00Z",
        "anchor: 2024-05-01T12:00:00Z",
        "last window: 2024-05-01T12:15:00Z",
        "outcome: running",
        "holder: r2",
        "token: 2",
        "lease until: 2024-05-01T12:20:00Z (in 4m)",
        "next fire: 2024-05-01T12:30:00Z (in 14m)",
        "attempt: 1",
        "lost: 1",
    ]
    code, text = run("--db", db, "show", "stuck", "--json", now=LATER)
    assert code == 0
    row = json.loads(text)
    assert (row["name"], row["status"], row["next_fire_at"]) == (
        "stuck",
        "abandoned",
        "2024-05-02T12:00:00Z",
    )


def test_show_falls_back_to_a_coordinated_loop(tmp_path: Path) -> None:
    """show NAME finds a coordinated loop when no trigger has that name."""
    db = window_state_db(tmp_path)
    code, text = run("--db", db, "show", "report", now=LATER)
    assert code == 0
    assert text.splitlines() == [
        "name: report",
        "kind: loop",
        "paused: no",
        "last window: 2024-05-01T12:00:00.250000Z",
        "outcome: failed",
        "holder: r1",
        "token: 1",
        "lease until: -",
        "next fire: -",
        "attempt: 1",
        "lost: 0",
    ]


def test_list_and_show_read_the_window_state_from_postgres(postgres_dsn: str) -> None:
    """On PostgreSQL too, list and show report a running trigger and loop."""
    assert run("--db", postgres_dsn, "add", "refresh", "15m")[0] == 0

    async def claim() -> None:
        async with PostgresTriggerStore(postgres_dsn) as store:
            (row,) = await store.all()
            assert row.anchor_us is not None
            want = Claim(row.id, row.anchor_us, row.anchor_us)
            await store.claim_windows("trigger", [want], lease=300, holder="r1")
            want = Claim("sync", row.anchor_us, row.anchor_us)
            await store.claim_windows("loop", [want], lease=300, holder="r1")

    trio.run(claim)
    code, table = run("--db", postgres_dsn, "list")
    assert code == 0
    rows = cells(table)
    assert [(row[0], row[4], row[-1]) for row in rows[:2]] == [
        ("NAME", "OUTCOME", "HOLDER"),
        ("refresh", "running", "r1"),
    ]
    assert rows[2] == [""]
    assert [(row[0], row[3], row[-1]) for row in rows[3:]] == [
        ("LOOP", "OUTCOME", "HOLDER"),
        ("sync", "running", "r1"),
    ]
    code, text = run("--db", postgres_dsn, "show", "refresh", "--json")
    assert code == 0
    row = json.loads(text)
    assert row["status"] == "running"
    assert row["window_us"] == row["anchor_us"]
    assert row["next_fire_us"] == row["anchor_us"] + 900_000_000
    assert row["lease_until_at"] is not None
    code, text = run("--db", postgres_dsn, "show", "sync")
    assert code == 0
    assert "kind: loop\n" in text
    assert "outcome: running\n" in text


def test_show_and_list_run_as_commands(tmp_path: Path) -> None:
    """In a child process: show --json after the name, an unknown name exits 1."""
    db = window_state_db(tmp_path)
    done = cli("--db", db, "show", "sync", "--json", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    row = json.loads(done.stdout)
    assert (row["kind"], row["holder"], row["window_at"]) == (
        "loop",
        "r2",
        "2024-05-01T12:15:00Z",
    )
    done = cli("--db", db, "list", cwd=tmp_path)
    assert done.returncode == 0
    assert [line[:8] for line in done.stdout.splitlines()] == [
        "NAME    ",
        "hourly  ",
        "idle    ",
        "refresh ",
        "stuck   ",
        "",
        "LOOP    ",
        "report  ",
        "sync    ",
    ]
    done = cli("--db", db, "show", "nope", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (REFUSED, "")
    assert done.stderr == "error: no trigger or coordinated loop named 'nope'\n"


def test_help_documents_the_db_forms_and_exit_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--help says which --db values are accepted and that a closed pipe exits 0."""
    with pytest.raises(SystemExit) as exited:
        run("--help")
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert 'libpq key=value string such as "host=db dbname=app"' in text
    assert "exit codes: 0 done, also when the reader goes away" in text


def test_pause_and_resume_a_trigger_or_a_coordinated_loop(tmp_path: Path) -> None:
    """pause/resume find a trigger first, then a loop; --loop names a new loop."""
    db = window_state_db(tmp_path)
    assert run("--db", db, "pause", "hourly") == (0, "paused trigger 'hourly'\n")
    code, text = run("--db", db, "show", "hourly", "--json")
    assert (code, json.loads(text)["enabled"]) == (0, False)
    assert run("--db", db, "resume", "hourly") == (0, "resumed trigger 'hourly'\n")
    assert run("--db", db, "pause", "report") == (0, "paused loop 'report'\n")
    assert "paused: yes" in run("--db", db, "show", "report", now=LATER)[1]
    assert run("--db", db, "resume", "report") == (0, "resumed loop 'report'\n")
    assert "paused: no" in run("--db", db, "show", "report", now=LATER)[1]
    assert run("--db", db, "pause", "nightly-export", "--loop") == (
        0,
        "paused loop 'nightly-export'\n",
    )
    assert "paused: yes" in run("--db", db, "show", "nightly-export", now=LATER)[1]


def test_pause_refuses_a_name_that_is_neither(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown name is refused (exit 1), and the message says what --loop does."""
    db = window_state_db(tmp_path)
    capsys.readouterr()
    assert run("--db", db, "pause", "nope") == (REFUSED, "")
    error = capsys.readouterr().err
    assert "no trigger or coordinated loop named 'nope'" in error
    assert "--loop" in error


# --- calendar triggers ------------------------------------------------------------

SPRING = 1_774_612_800  # 2026-03-27T12:00:00Z, two days before Berlin springs forward
AUTUMN = 1_792_756_800  # 2026-10-23T12:00:00Z, two days before it falls back


def calendar_db(tmp_path: Path, added: float) -> str:
    """An SQLite file with "nightly" (30 2 * * * in Berlin) and "daily" (1d).

    Both were added at *added* (the store's clock), neither claimed yet.
    """
    db = str(tmp_path / "c.db")

    async def build() -> None:
        async with SQLiteTriggerStore(db, clock=lambda: added) as store:
            await store.add(name="nightly", cron="30 2 * * *", timezone="Europe/Berlin")
            await store.add(name="daily", interval="1d")

    trio.run(build)
    return db


def test_add_a_cron_trigger_then_list_and_show_it(tmp_path: Path) -> None:
    """add NAME "cron" --timezone ZONE; list and show give the expression and zone."""
    db = str(tmp_path / "t.db")
    code, out = run(
        "--db", db, "add", "nightly", "30 2 * * *", "--timezone", "Europe/Berlin"
    )
    assert code == 0
    added = re.fullmatch(
        r"added 'nightly' at 30 2 \* \* \* in Europe/Berlin, first fire "
        r"(\S+Z) = (\S+)\n",
        out,
    )
    assert added is not None
    first = datetime.fromisoformat(added[1].replace("Z", "+00:00"))
    local = datetime.fromisoformat(added[2])
    assert first == local
    assert local.strftime("%H:%M:%S") in ("02:30:00", "03:00:00")  # 03:00: a gap
    assert run("--db", db, "add", "hourly", "@hourly", "--timezone=Asia/Tokyo")[0] == 0
    code, out = run("--db", db, "add", "daily", "0 0 * * *", "--disabled")
    assert code == 0
    assert out.startswith("added 'daily' at 0 0 * * * in UTC, first fire ")
    table = cells(run("--db", db, "list")[1])
    assert [row[:3] for row in table] == [
        ["NAME", "SCHEDULE", "ENABLED"],
        ["daily", "0 0 * * * (UTC)", "no"],
        ["hourly", "@hourly (Asia/Tokyo)", "yes"],
        ["nightly", "30 2 * * * (Europe/Berlin)", "yes"],
    ]
    lines = run("--db", db, "show", "nightly")[1].splitlines()
    assert lines[3:6] == ["cron: 30 2 * * *", "timezone: Europe/Berlin", "enabled: yes"]
    assert not any(line.startswith("interval:") for line in lines)
    assert f"next fire: {added[1]}" in "\n".join(lines)
    record = json.loads(run("--db", db, "show", "nightly", "--json")[1])
    assert (record["interval"], record["cron"], record["timezone"]) == (
        "",
        "30 2 * * *",
        "Europe/Berlin",
    )
    assert record["next_fire_at"] == added[1]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["add", "x", "61 * * * *"], "'cron' field 'minute' must be 0-59 (got '61')"),
        (["add", "x", "0 3 * *"], "'cron' must have 5 fields"),
        (["add", "x", "@often"], "'cron' macro must be one of"),
        (
            ["add", "x", "0 3 * * *", "--timezone", "Mars/Base"],
            (
                "'timezone' must be an IANA zone name such as 'Europe/Berlin': "
                "unknown zone (got 'Mars/Base')"
            ),
        ),
        (["next", "nope"], "no trigger named 'nope'"),
    ],
)
def test_a_bad_expression_or_zone_is_refused_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """Refused like a bad interval: exit 1, the field and value on stderr, no row."""
    db = str(tmp_path / "t.db")
    assert run("--db", db, "add", "seed", "1m")[0] == 0
    capsys.readouterr()
    assert run("--db", db, *argv) == (REFUSED, "")
    assert message in capsys.readouterr().err
    assert [row[0] for row in cells(run("--db", db, "list")[1])] == ["NAME", "seed"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["add", "x", "15m", "--timezone", "Europe/Berlin"],
            (
                "argument --timezone: applies to a cron expression only, not to "
                "the interval '15m'"
            ),
        ),
        (["next", "x", "-n", "0"], "argument -n: must be a whole number from 1"),
        (["next", "x", "-n", "1001"], "(got '1001')"),
        (["next", "x", "-n", "two"], "(got 'two')"),
        (["add", "x", "0 3 * * *", "--timezone"], "expected one argument"),
    ],
)
def test_timezone_with_an_interval_and_a_bad_count_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """--timezone on an interval, or -n out of 1 to 1000, exits 2 naming the option."""
    with pytest.raises(SystemExit) as exited:
        run("--db", str(tmp_path / "t.db"), *argv)
    assert exited.value.code == USAGE
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("added", "lines"),
    [
        (
            SPRING,
            [
                "2026-03-28T01:30:00Z  2026-03-28T02:30:00+01:00  in 13h30m",
                "2026-03-29T01:00:00Z  2026-03-29T03:00:00+02:00  in 1d13h",
                "2026-03-30T00:30:00Z  2026-03-30T02:30:00+02:00  in 2d12h",
                "2026-03-31T00:30:00Z  2026-03-31T02:30:00+02:00  in 3d12h",
            ],
        ),
        (
            AUTUMN,
            [
                "2026-10-24T00:30:00Z  2026-10-24T02:30:00+02:00  in 12h30m",
                "2026-10-25T00:30:00Z  2026-10-25T02:30:00+02:00  in 1d12h",
                "2026-10-26T01:30:00Z  2026-10-26T02:30:00+01:00  in 2d13h",
                "2026-10-27T01:30:00Z  2026-10-27T02:30:00+01:00  in 3d13h",
            ],
        ),
    ],
)
def test_next_prints_the_coming_fire_times_in_utc_and_local_time(
    tmp_path: Path, added: int, lines: list[str]
) -> None:
    """next NAME -n 4 across a DST change: one a local day, each in UTC and Berlin."""
    db = calendar_db(tmp_path, added)
    code, out = run("--db", db, "next", "nightly", "-n", "4", now=added)
    assert code == 0
    assert out.splitlines() == [
        "UTC                   LOCAL (Europe/Berlin)      FROM NOW",
        *lines,
    ]
    code, out = run("--db", db, "next", "-n", "2", "nightly", now=added)
    assert code == 0
    assert out.splitlines()[1:] == lines[:2]
    assert len(run("--db", db, "next", "nightly", now=added)[1].splitlines()) == 6


def test_next_of_an_interval_trigger_prints_utc_times(tmp_path: Path) -> None:
    """An interval trigger's next fires are its anchor plus whole intervals, in UTC."""
    db = calendar_db(tmp_path, SPRING)
    code, out = run("--db", db, "next", "daily", "-n", "3", now=SPRING + 60)
    assert code == 0
    assert out.splitlines() == [
        "UTC                   FROM NOW",
        "2026-03-27T12:00:00Z  1m ago",  # never claimed: the next sweep fires it
        "2026-03-28T12:00:00Z  in 23h59m",
        "2026-03-29T12:00:00Z  in 1d23h",
    ]
    code, out = run("--db", db, "next", "daily", "-n", "1", now=SPRING - 60)
    assert (code, out.splitlines()[1:]) == (0, ["2026-03-27T12:00:00Z  in 1m"])


def test_next_starts_after_the_last_claim_and_at_the_latest_window_due(
    tmp_path: Path,
) -> None:
    """After a claim, the window after it; when overdue, the latest started one."""
    db = calendar_db(tmp_path, SPRING)

    async def claim() -> None:
        async with SQLiteTriggerStore(db, clock=lambda: SPRING + 86400) as store:
            (row,) = [r for r in await store.all() if r.name == "nightly"]
            window = (SPRING + 13 * 3600 + 1800) * 1_000_000  # 03-28 01:30Z
            claims = [Claim(row.id, window, window)]
            (won,) = await store.claim_windows("trigger", claims, lease=30, holder="r")
            assert won.won

    trio.run(claim)
    day = 86400
    code, out = run("--db", db, "next", "nightly", "-n", "2", now=SPRING + day)
    assert code == 0
    assert out.splitlines()[1:] == [
        "2026-03-29T01:00:00Z  2026-03-29T03:00:00+02:00  in 13h",
        "2026-03-30T00:30:00Z  2026-03-30T02:30:00+02:00  in 1d12h",
    ]
    # Three days on, 03-29 and 03-30 passed unfired: the next sweep fires 03-30.
    code, out = run("--db", db, "next", "nightly", "-n", "2", now=SPRING + 3 * day)
    assert code == 0
    assert out.splitlines()[1:] == [
        "2026-03-30T00:30:00Z  2026-03-30T02:30:00+02:00  11h30m ago",
        "2026-03-31T00:30:00Z  2026-03-31T02:30:00+02:00  in 12h30m",
    ]
    assert run("--db", db, "next", "daily", "-n", "1", now=SPRING + 3 * day + 60) == (
        0,
        "UTC                   FROM NOW\n2026-03-30T12:00:00Z  1m ago\n",
    )


def test_next_notes_a_disabled_trigger_and_refuses_a_broken_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A disabled trigger's times come with a note; a broken row exits 1 by field."""
    db = calendar_db(tmp_path, SPRING)
    assert run("--db", db, "disable", "nightly")[0] == 0
    capsys.readouterr()
    code, out = run("--db", db, "next", "nightly", "-n", "1", now=SPRING)
    assert (code, len(out.splitlines())) == (0, 2)
    assert "note: 'nightly' is disabled" in capsys.readouterr().err
    with contextlib.closing(sqlite3.connect(db)) as connection, connection:
        connection.execute(
            "UPDATE tickwork_triggers SET timezone = 'Mars/Base' WHERE name = 'nightly'"
        )
        connection.execute(
            "UPDATE tickwork_triggers SET anchor_us = 'x' WHERE name = 'daily'"
        )
    assert run("--db", db, "next", "nightly", now=SPRING) == (REFUSED, "")
    assert "(got 'Mars/Base')" in capsys.readouterr().err
    assert run("--db", db, "next", "daily", now=SPRING) == (REFUSED, "")
    assert "has anchor_us 'x', not a time" in capsys.readouterr().err
    table = cells(run("--db", db, "list", now=SPRING)[1])
    assert table[2][:2] == ["nightly", "30 2 * * * (Mars/Base)"]
    assert table[2][6] == "-"  # no next fire from a broken schedule


def test_list_shows_what_a_broken_schedule_holds(tmp_path: Path) -> None:
    """Both schedules, or a zone alone: the SCHEDULE cell and show give them all."""
    db = calendar_db(tmp_path, SPRING)
    with contextlib.closing(sqlite3.connect(db)) as connection, connection:
        connection.execute(
            "UPDATE tickwork_triggers SET interval = '1h' WHERE name = 'nightly'"
        )
        connection.execute(
            "UPDATE tickwork_triggers SET timezone = 'UTC' WHERE name = 'daily'"
        )
    table = cells(run("--db", db, "list", now=SPRING)[1])
    assert [row[:2] for row in table[1:]] == [
        ["daily", "1d (UTC)"],
        ["nightly", "1h 30 2 * * * (Europe/Berlin)"],
    ]
    lines = run("--db", db, "show", "nightly", now=SPRING)[1].splitlines()
    assert lines[3:6] == [
        "interval: 1h",
        "cron: 30 2 * * *",
        "timezone: Europe/Berlin",
    ]
    lines = run("--db", db, "show", "daily", now=SPRING)[1].splitlines()
    assert lines[3:5] == ["interval: 1d", "timezone: UTC"]


def test_cron_triggers_are_added_and_listed_as_commands(tmp_path: Path) -> None:
    """In a child process: add with a quoted expression and a zone, then next."""
    done = cli(
        "--db",
        "t.db",
        "add",
        "nightly",
        "0 3 * * *",
        "--timezone",
        "Europe/Berlin",
        cwd=tmp_path,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("added 'nightly' at 0 3 * * * in Europe/Berlin")
    done = cli("--db", "t.db", "next", "nightly", "-n", "2", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    header, *times = done.stdout.splitlines()
    assert header.split() == ["UTC", "LOCAL", "(Europe/Berlin)", "FROM", "NOW"]
    assert len(times) == 2
    assert all(re.search(r"T0[345]:00:00\+0[12]:00", line) for line in times)


def test_next_of_a_calendar_with_no_fire_time_left_prints_the_header(
    tmp_path: Path,
) -> None:
    """@yearly added in June 9998: the calendar ends first; no line, no next fire."""
    june_9998 = 253_352_275_200  # 9998-06-01T00:00:00Z
    db = str(tmp_path / "end.db")

    async def build() -> None:
        async with SQLiteTriggerStore(db, clock=lambda: june_9998) as store:
            await store.add(name="yearly", cron="@yearly")

    trio.run(build)
    assert run("--db", db, "next", "yearly", now=june_9998) == (
        0,
        "UTC  LOCAL (UTC)  FROM NOW\n",
    )
    assert cells(run("--db", db, "list", now=june_9998)[1])[1][6] == "-"
