"""``python -m tickwork.triggers``: list and edit triggers from a shell.

PATH_OR_DSN is an SQLite file, a postgresql:// (or postgres://) URI, or a
libpq key=value string such as "host=db dbname=app" (one that starts with
word=, or has a libpq key word such as host= after a space). Other scheme://
values are refused, so a typo never becomes a new SQLite file; write ./a=b.db
for a file named like a pair. It defaults to $TICKWORK_TRIGGERS_DB, which
keeps a password out of the process list.

Intervals are duration text: 90s, 15m, 1h30m, 2d. Words after COMMAND are
values even when they start with "-" (add x -5m reaches the interval grammar);
--db and --timeout are spelled in full. Messages and table cells show at most
200 characters of a value.

exit codes: 0 done, also when the reader goes away (list | head -1 ends
quietly); 1 refused (unknown or duplicate name, bad interval); 2 bad usage,
also a URI of another scheme or a string libpq refuses; 3 the database could
not be used, also a missing file (only add creates one) or directory.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import os
import re
import sys
from typing import TYPE_CHECKING, Final, NoReturn, TextIO

import attrs
import trio

from tickwork._errors import InvalidConfigError, UnknownTriggerError, WrongTypeError
from tickwork._text import LIMIT, brief, cut
from tickwork.triggers._model import parse_interval
from tickwork.triggers._postgres import PostgresTriggerStore
from tickwork.triggers._sqlite import SQLiteTriggerStore
from tickwork.triggers._sweeper import TriggerSweeper

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from tickwork.triggers._model import TriggerRow
    from tickwork.triggers._store import TriggerStore

ENV_DB: Final = "TICKWORK_TRIGGERS_DB"
OK: Final = 0
REFUSED: Final = 1
USAGE: Final = 2
UNAVAILABLE: Final = 3

# Read from the signature, so the warning follows the sweeper if it changes.
SWEEPER_MIN_INTERVAL: Final[float] = (
    inspect.signature(TriggerSweeper.__init__).parameters["min_interval"].default
)
# A whole error line: its values are cut to LIMIT each, but messages built by
# a store or libpq may hold several values, or one uncut.
_MESSAGE_LIMIT: Final = 5 * LIMIT
# The options of each command that takes values (list takes none); every
# other word after the command is a value.
_OPTIONS: Final = {"add": ("--disabled",), "enable": (), "disable": (), "remove": ()}
_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
# Any word= first, so libpq names a mistyped key word; then libpq's usual key
# words (its docs, "Parameter Key Words") after a space.
_LIBPQ: Final = re.compile(
    r"\s*\w+\s*=|.*\s(host|hostaddr|port|dbname|user|password|passfile|options"
    r"|connect_timeout|application_name|sslmode|service)\s*=",
    re.DOTALL,
)

# --help ends with the module docstring after its summary (none under -OO).
_EPILOG: Final = (__doc__ or "").partition("\n\n")[2]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose error lines show at most 1000 characters."""

    def error(self, message: str) -> NoReturn:
        """Exit 2 with *message* cut, as it may quote a whole argument."""
        super().error(cut(message, _MESSAGE_LIMIT))


def _parser() -> argparse.ArgumentParser:
    """The command line's grammar, help and epilog."""
    parser = _Parser(
        prog="python -m tickwork.triggers",
        description="List and edit tickwork's persisted interval triggers.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
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


def _values_last(argv: Sequence[str]) -> list[str]:
    """*argv* with the command's values behind a ``--``, so "-5m" is a value.

    After the command, its options and -h stay options, "--" ends them and
    every other word is a value, in its order.
    """
    args = list(argv)
    at = 0
    while at < len(args) and args[at].startswith("-") and args[at] != "--":
        at += 2 if args[at] in ("--db", "--timeout") else 1
    if at >= len(args) or args[at] not in _OPTIONS:
        return args  # argparse says what is wrong
    rest = args[at + 1 :]
    end = rest.index("--") if "--" in rest else len(rest)
    flags = ("-h", "--help", *_OPTIONS[args[at]])
    options = [word for word in rest[:end] if word in flags]
    values = [word for word in rest[:end] if word not in flags] + rest[end + 1 :]
    return [*args[: at + 1], *options, *(["--", *values] if values else [])]


class _LastMessage(logging.Handler):
    """Keeps the pool's last complaint, so exit 3 can say why it had no connection."""

    def __init__(self) -> None:
        """Collect WARNING and above."""
        super().__init__(logging.WARNING)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        """Remember *record*'s message, replacing the one before."""
        self.last = record.getMessage()


def _without_password(uri: str) -> str:
    """*uri* with a ``user:password@`` or ``password=`` value shown as ``***``."""
    uri = re.sub(r"^([^:/?#@]+://[^:/?#@]*):.*@", r"\1:***@", uri, flags=re.DOTALL)
    return re.sub(r"(password\s*=\s*)[^&\s]*", r"\1***", uri)


def open_store(db: str, timeout: float = 5.0) -> TriggerStore:
    """The store a ``--db`` value names; nothing is opened yet.

    Raises:
        InvalidConfigError: *db* is a URI of another scheme, a connection
            string libpq refuses, or *timeout* is not > 0.
    """
    if db.startswith(("postgresql://", "postgres://")) or _LIBPQ.match(db):
        return PostgresTriggerStore(db, connect_timeout=timeout)
    if _SCHEME.match(db):
        msg = (
            "'--db' must be an SQLite file path, a postgresql:// or postgres:// "
            f"URI or a libpq key=value string (got {brief(_without_password(db))})"
        )
        raise InvalidConfigError(msg)
    return SQLiteTriggerStore(db, busy_timeout=timeout)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; return its exit code."""
    parser = _parser()
    args = parser.parse_args(_values_last(sys.argv[1:] if argv is None else argv))
    out = sys.stdout if out is None else out
    if not args.db:
        parser.error(f"--db is required when ${ENV_DB} is not set")
    try:
        store = open_store(args.db, args.timeout)
    except InvalidConfigError as exc:
        return _fail(USAGE, str(exc))
    if isinstance(store, SQLiteTriggerStore):
        # os.path, unlike Path, answers False for a name the OS refuses.
        directory = os.path.dirname(store.path) or "."  # noqa: PTH120
        if not os.path.isdir(directory):  # noqa: PTH112
            return _fail(UNAVAILABLE, f"no directory {brief(directory)} for --db")
        if args.command != "add" and not os.path.exists(store.path):  # noqa: PTH110
            msg = f"no database at {brief(store.path)} (add creates one)"
            return _fail(UNAVAILABLE, msg)
    # A command line owns its process: the pool's retry warnings would repeat
    # one cause several times, so keep the last one for the error message.
    pool_logger = logging.getLogger("psycopg.pool")
    complaint = _LastMessage()
    pool_logger.addHandler(complaint)
    pool_logger.propagate = False
    try:
        lines = trio.run(_command, store, args)
    except (InvalidConfigError, WrongTypeError, UnknownTriggerError) as exc:
        return _fail(REFUSED, str(exc))
    except Exception as exc:  # noqa: BLE001 - any store failure is exit 3
        last = complaint.last
        cause = f" (last connection error: {cut(last)})" if last else ""
        msg = f"{cut(repr(store))}: {type(exc).__name__}: {cut(str(exc))}{cause}"
        return _fail(UNAVAILABLE, msg)
    finally:
        pool_logger.removeHandler(complaint)
        pool_logger.propagate = True
    return _write(lines, out)


async def _command(store: TriggerStore, args: argparse.Namespace) -> list[str]:
    """Run one command against *store*; the lines it prints."""
    async with store:
        if args.command == "list":
            return _table(await store.all(), as_json=args.json)
        if args.command == "add":
            row = await store.add(
                name=args.name, interval=args.interval, enabled=not args.disabled
            )
            if parse_interval(row.interval) < SWEEPER_MIN_INTERVAL:
                print(
                    f"warning: {brief(row.name)} every {_cell(row.interval)} is "
                    "below TriggerSweeper's default min_interval of "
                    f"{SWEEPER_MIN_INTERVAL:g} s: a sweeper with default "
                    "settings will report it invalid",
                    file=sys.stderr,
                )
            return [f"added {brief(row.name)} every {_cell(row.interval)}"]
        if args.command == "remove":
            await store.remove(args.name)
            return [f"removed {brief(args.name)}"]
        await store.set_enabled(args.name, args.command == "enable")
        return [f"{args.command}d {brief(args.name)}"]


def _cell(value: object) -> str:
    """Printable text cut to 200 characters, a bool as yes/no, else the repr.

    bytes, None or text with a newline (which would split a row) show as repr.
    """
    if isinstance(value, bool):
        return "yes" if value else "no"
    return (
        cut(value) if isinstance(value, str) and value.isprintable() else brief(value)
    )


def _table(rows: Sequence[TriggerRow], *, as_json: bool) -> list[str]:
    """*rows* as aligned columns, or as one JSON object each."""
    if as_json:
        # default=repr: bytes (text a store could not decode) become their repr
        # string, so a broken row is listed, not fatal. JSON is never cut.
        return [json.dumps(attrs.asdict(row), default=repr) for row in rows]
    table = [("NAME", "INTERVAL", "ENABLED", "LAST FIRED (UTC)")]
    table += [
        (
            _cell(row.name),
            _cell(row.interval),
            _cell(row.enabled),
            "never" if row.last_fired_at is None else _cell(row.last_fired_at),
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(3)]
    return [
        "  ".join([*(c.ljust(w) for c, w in zip(line, widths, strict=False)), line[3]])
        for line in table
    ]


def _write(lines: Iterable[str], out: TextIO) -> int:
    """Print *lines*; a reader that went away (``list | head``) is no error."""
    try:
        for line in lines:
            print(line, file=out)
        out.flush()
    except BrokenPipeError:
        # Python's recipe (signal docs, "Note on SIGPIPE"): stdout goes to
        # devnull, so the interpreter's final flush cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        os.close(devnull)
    return OK


def _fail(code: int, message: str) -> int:
    """Print *message* (cut to 1000 characters) as an error; return *code*."""
    print(f"error: {cut(message, _MESSAGE_LIMIT)}", file=sys.stderr)
    return code
