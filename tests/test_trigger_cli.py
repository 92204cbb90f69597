"""``python -m tickwork.triggers``: commands, messages and exit codes."""

from __future__ import annotations

import io
import json
import runpy
import sys
from typing import TYPE_CHECKING

import pytest

from tests.pgserver import PASSWORD, free_port
from tickwork.triggers._cli import ENV_DB, REFUSED, UNAVAILABLE, USAGE, main

if TYPE_CHECKING:
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
