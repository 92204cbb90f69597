"""``python -m tickwork.triggers``: commands, messages and exit codes."""

from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import sqlite3
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from tests.pgserver import PASSWORD, free_port
from tickwork._errors import InvalidConfigError
from tickwork._text import brief
from tickwork.triggers import PostgresTriggerStore
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


def run(*argv: str) -> tuple[int, str]:
    """Exit code and stdout of one command."""
    out = io.StringIO()
    return main(list(argv), out), out.getvalue()


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
    assert table.splitlines() == [
        "NAME     INTERVAL  ENABLED  LAST FIRED (UTC)",
        "nightly  1d        no       never",
        "refresh  15m       yes      never",
    ]
    assert run("--db", db, "enable", "nightly") == (0, "enabled 'nightly'\n")
    assert run("--db", db, "disable", "refresh") == (0, "disabled 'refresh'\n")
    code, lines = run("--db", db, "list", "--json")
    rows = [json.loads(line) for line in lines.splitlines()]
    assert [(r["name"], r["enabled"], r["last_fired_at"]) for r in rows] == [
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
            "INSERT INTO tickwork_triggers (id, name, interval, enabled, last_fired_at) "
            "VALUES (?, ?, ?, ?, ?)",
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
    assert run("--db", db, "list")[1].splitlines()[1].split() == [
        "-x",
        "5m",
        "no",
        "never",
    ]
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
    code, table = run("--db", db, "list")
    assert code == 0
    lines = table.splitlines()
    assert len(lines) == 5
    assert max(len(line) for line in lines) < 450
    assert any(line.startswith("n" * 199 + "… ") for line in lines)
    assert ["b'\\xffbad'", "b'\\xfe5m'", "yes", "b'\\x00'"] in [
        line.split() for line in lines
    ]
    assert "'two\\nlines'" in table
    code, text = run("--db", db, "list", "--json")
    assert code == 0
    rows = {row["id"]: row for row in map(json.loads, text.splitlines())}
    assert rows[None] == {
        "id": None,
        "name": "b'\\xffbad'",
        "interval": "b'\\xfe5m'",
        "enabled": True,
        "last_fired_at": "b'\\x00'",
    }
    assert rows["long"]["last_fired_at"] == "t" * 5000


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
