"""``python -m tickwork.triggers``: list and edit triggers from a shell.

Exit codes: 0 done; 1 the request was refused (unknown name, duplicate name,
bad interval); 2 bad usage; 3 the database could not be used.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final, TextIO

import attrs
import trio

from tickwork._errors import InvalidConfigError, UnknownTriggerError, WrongTypeError
from tickwork.triggers._postgres import PostgresTriggerStore
from tickwork.triggers._sqlite import SQLiteTriggerStore

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tickwork.triggers._model import TriggerRow, TriggerStore

ENV_DB: Final = "TICKWORK_TRIGGERS_DB"
OK: Final = 0
REFUSED: Final = 1
USAGE: Final = 2
UNAVAILABLE: Final = 3

_EPILOG = f"""\
PATH_OR_DSN is an SQLite file, or a postgresql:// (or postgres://) URI. It
defaults to ${ENV_DB}, which keeps a password out of the process list.
Intervals are duration text: 90s, 15m, 1h30m, 2d.

exit codes: 0 done, 1 refused (unknown or duplicate name, bad interval),
2 bad usage, 3 the database could not be used."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tickwork.triggers",
        description="List and edit tickwork's persisted interval triggers.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--db",
        metavar="PATH_OR_DSN",
        default=os.environ.get(ENV_DB),
        help=f"the trigger database (default: ${ENV_DB})",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=5.0,
        help="how long to wait for a PostgreSQL connection (default: 5)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    listing = commands.add_parser("list", help="show every trigger")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    add = commands.add_parser(
        "add", help="create a trigger (it fires at the next sweep)"
    )
    add.add_argument("name")
    add.add_argument("interval", help="duration text such as 15m or 1h30m")
    add.add_argument("--disabled", action="store_true", help="create it disabled")
    for name, text in (
        ("enable", "sweep this trigger again"),
        ("disable", "stop sweeping this trigger; its row stays"),
        ("remove", "delete this trigger"),
    ):
        commands.add_parser(name, help=text).add_argument("name")
    return parser


class _LastMessage(logging.Handler):
    """Keeps the pool's last complaint, so exit 3 can say why it had no connection."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.last = record.getMessage()


def _is_postgres(db: str) -> bool:
    """Whether a ``--db`` value is a PostgreSQL URI (else it is an SQLite file)."""
    return db.startswith(("postgresql://", "postgres://"))


def open_store(db: str, timeout: float = 5.0) -> TriggerStore:
    """The store a ``--db`` value names: PostgreSQL for a URI, else SQLite."""
    if _is_postgres(db):
        return PostgresTriggerStore(db, connect_timeout=timeout)
    return SQLiteTriggerStore(db, busy_timeout=timeout)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; return its exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    out = sys.stdout if out is None else out
    if not args.db:
        parser.error(f"--db is required when ${ENV_DB} is not set")
    if (
        not _is_postgres(args.db)
        and args.command != "add"
        and not Path(args.db).exists()
    ):
        return _fail(UNAVAILABLE, f"no database at {args.db!r} (add creates one)")
    try:
        store = open_store(args.db, args.timeout)
    except InvalidConfigError as exc:
        return _fail(USAGE, str(exc))
    # A command line owns its process: the pool's retry warnings would repeat
    # one cause several times, so keep the last one for the error message.
    pool_logger = logging.getLogger("psycopg.pool")
    complaint = _LastMessage()
    pool_logger.addHandler(complaint)
    pool_logger.propagate = False
    try:
        return trio.run(_command, store, args, out)
    except (InvalidConfigError, WrongTypeError, UnknownTriggerError) as exc:
        return _fail(REFUSED, str(exc))
    except Exception as exc:  # noqa: BLE001 - any store failure is exit 3
        cause = f" (last connection error: {complaint.last})" if complaint.last else ""
        return _fail(UNAVAILABLE, f"{store!r}: {type(exc).__name__}: {exc}{cause}")
    finally:
        pool_logger.removeHandler(complaint)
        pool_logger.propagate = True


async def _command(store: TriggerStore, args: argparse.Namespace, out: TextIO) -> int:
    async with store:
        if args.command == "list":
            _print_rows(await store.all(), out, as_json=args.json)
        elif args.command == "add":
            row = await store.add(
                name=args.name, interval=args.interval, enabled=not args.disabled
            )
            print(f"added {row.name!r} every {row.interval}", file=out)
        elif args.command == "remove":
            await store.remove(args.name)
            print(f"removed {args.name!r}", file=out)
        else:
            await store.set_enabled(args.name, args.command == "enable")
            print(f"{args.command}d {args.name!r}", file=out)
    return OK


def _print_rows(rows: Sequence[TriggerRow], out: TextIO, *, as_json: bool) -> None:
    if as_json:
        for row in rows:
            print(json.dumps(attrs.asdict(row)), file=out)
        return
    table = [("NAME", "INTERVAL", "ENABLED", "LAST FIRED (UTC)")]
    table += [
        (
            row.name,
            row.interval,
            "yes" if row.enabled else "no",
            row.last_fired_at or "never",
        )
        for row in rows
    ]
    widths = [max(len(str(line[i])) for line in table) for i in range(3)]
    for line in table:
        cells = [
            str(cell).ljust(width) for cell, width in zip(line, widths, strict=False)
        ]
        print("  ".join([*cells, str(line[3])]), file=out)


def _fail(code: int, message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code
