"""``python -m tickwork.triggers``: list and edit triggers from a shell.

PATH_OR_DSN is an SQLite file, a postgresql:// (or postgres://) URI, or a
libpq key=value string such as "host=db dbname=app" (one that starts with
word=, or has a libpq key word such as host= after a space). Other scheme://
values are refused, so a typo never becomes a new SQLite file; write ./a=b.db
for a file named like a pair. It defaults to $TICKWORK_TRIGGERS_DB, which
keeps a password out of the process list.

A schedule is duration text (90s, 15m, 1h30m, 2d) or a cron expression,
quoted: add nightly "0 3 * * *" --timezone Europe/Berlin (text with a space,
a * or a leading @ is cron; the zone is an IANA name, UTC by default, and
only for cron). next NAME [-n N] prints a trigger's next N fire times (5 by
default) in UTC and in its zone. Words after COMMAND are values even when
they start with "-" (add x -5m reaches the interval grammar); --db and
--timeout are spelled in full. Messages and table cells show at most 200
characters of a value.

list and show give each trigger's and coordinated loop's last window (its
start, UTC), its outcome ("running" while leased, "abandoned" once the lease
ran out without one), lease, next fire, attempt and lost windows. The table
shows a lease's end and the next fire relative to this machine's clock, which
also tells running from abandoned; --json gives microseconds since the epoch
and RFC 3339 text. A coordinated loop's next fire is not in the store ("-").

pause and resume act on every replica: a paused trigger is a disabled one
(enable and disable are the same switch); a paused coordinated loop's
replicas claim none of its windows. Resuming is not a catch-up: the
schedule runs again from its next window.

exit codes: 0 done, also when the reader goes away (list | head -1 ends
quietly); 1 refused (unknown or duplicate name, bad interval, cron expression
or zone, a broken row for next); 2 bad usage, also --timezone with an
interval, a URI of another scheme or a string libpq refuses; 3 the database
could not be used, also a missing file (only add creates one) or directory.
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import json
import logging
import os
import re
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Final, NoReturn, TextIO

import attrs
import trio

from tickwork._errors import InvalidConfigError, UnknownTriggerError, WrongTypeError
from tickwork._lease import micros
from tickwork._text import LIMIT, brief, cut
from tickwork.triggers._calendar import calendar_grid, check_schedule, is_cron_text
from tickwork.triggers._model import interval_seconds, micros_timestamp, parse_interval
from tickwork.triggers._postgres import PostgresTriggerStore
from tickwork.triggers._sqlite import SQLiteTriggerStore
from tickwork.triggers._sweeper import TriggerSweeper

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from tickwork._cron import CalendarGrid
    from tickwork._lease import WindowState
    from tickwork.triggers._model import LoopRow, TriggerRow
    from tickwork.triggers._store import Kind, TriggerStore

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
# The options of each command that takes values (list takes none): its flags,
# and its options that take the next word (or one after "="); every other
# word after the command is a value.
_OPTIONS: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "add": (("--disabled",), ("--timezone",)),
    "enable": ((), ()),
    "disable": ((), ()),
    "remove": ((), ()),
    "show": (("--json",), ()),
    "next": ((), ("-n",)),
    "pause": (("--loop",), ()),
    "resume": (("--loop",), ()),
}
_MICROS: Final = 1_000_000
# next -n: the default, and the most a typo can ask for (a screenful is what
# one reads; the cap keeps a slip of the finger from printing millions).
_NEXT_DEFAULT: Final = 5
_NEXT_MAX: Final = 1000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Units of the relative times in a table, the interval grammar's; two at
# most ("in 1d2h", not "in 1d2h14m53s") keep the columns narrow.
_UNITS: Final = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))
_GROUPS: Final = 2
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


_UNLISTED: Final = ("claimed_us", "ended_us", "resumed_us")


def _parser() -> argparse.ArgumentParser:
    """The command line's grammar, help and epilog."""
    parser = _Parser(
        prog="python -m tickwork.triggers",
        description="List and edit tickwork's persisted triggers.",
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
    listing = commands.add_parser(
        "list", help="show every trigger, then every coordinated loop"
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    show = commands.add_parser(
        "show", help="everything about one trigger (or coordinated loop)"
    )
    show.add_argument("name")
    show.add_argument("--json", action="store_true", help="one JSON object")
    add = commands.add_parser(
        "add",
        help="create a trigger (an interval fires at the next sweep, a cron "
        "expression at its first fire time)",
    )
    add.add_argument("name")
    add.add_argument(
        "schedule",
        help="duration text such as 15m or 1h30m, or a quoted cron expression "
        "such as '0 3 * * *'",
    )
    add.add_argument(
        "--timezone",
        metavar="ZONE",
        help="the IANA zone a cron expression is read in (default: UTC)",
    )
    add.add_argument("--disabled", action="store_true", help="create it disabled")
    coming = commands.add_parser(
        "next", help="a trigger's coming fire times, in UTC and its zone"
    )
    coming.add_argument("name")
    coming.add_argument(
        "-n",
        metavar="N",
        type=_count,
        default=_NEXT_DEFAULT,
        help=f"how many (default: {_NEXT_DEFAULT}, at most {_NEXT_MAX})",
    )
    for name, text in (
        ("enable", "sweep this trigger again"),
        ("disable", "stop sweeping this trigger; its row stays"),
        ("remove", "delete this trigger"),
    ):
        commands.add_parser(name, help=text).add_argument("name")
    for name, text in (
        ("pause", "pause a trigger or coordinated loop on every replica"),
        ("resume", "resume it from its next window (no catch-up)"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("name")
        command.add_argument(
            "--loop",
            action="store_true",
            help="NAME is a coordinated loop, even one that never ran yet",
        )
    return parser


def _count(text: str) -> int:
    """next's -n: a whole number from 1 to `_NEXT_MAX`."""
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= _NEXT_MAX):
        msg = f"must be a whole number from 1 to {_NEXT_MAX} (got {brief(text)})"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


def _values_last(argv: Sequence[str]) -> list[str]:
    """*argv* with the command's values behind a ``--``, so "-5m" is a value.

    After the command, its options and -h stay options (one that takes a
    value keeps the next word, or its ``=value``), "--" ends them and every
    other word is a value, in its order.
    """
    args = list(argv)
    at = 0
    while at < len(args) and args[at].startswith("-") and args[at] != "--":
        at += 2 if args[at] in ("--db", "--timeout") else 1
    if at >= len(args) or args[at] not in _OPTIONS:
        return args  # argparse says what is wrong
    rest = args[at + 1 :]
    end = rest.index("--") if "--" in rest else len(rest)
    flags, valued = _OPTIONS[args[at]]
    flags = ("-h", "--help", *flags)
    options: list[str] = []
    values: list[str] = []
    words = iter(rest[:end])
    for word in words:
        if word in flags or word.startswith(tuple(f"{v}=" for v in valued)):
            options.append(word)
        elif word in valued:
            options += [word, *itertools.islice(words, 1)]
        else:
            values.append(word)
    values += rest[end + 1 :]
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


def open_store(
    db: str, timeout: float = 5.0
) -> SQLiteTriggerStore | PostgresTriggerStore:
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


def main(
    argv: Sequence[str] | None = None,
    out: TextIO | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> int:
    """Run the command line; return its exit code.

    *clock* (seconds since the epoch) is "now" for the lease and next fire
    that list and show report.
    """
    parser = _parser()
    args = parser.parse_args(_values_last(sys.argv[1:] if argv is None else argv))
    out = sys.stdout if out is None else out
    if not args.db:
        parser.error(f"--db is required when ${ENV_DB} is not set")
    if (
        args.command == "add"
        and args.timezone is not None
        and not is_cron_text(args.schedule)
    ):
        parser.error(
            "argument --timezone: applies to a cron expression only, not to "
            f"the interval {brief(args.schedule)}"
        )
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
        lines = trio.run(_command, store, args, clock)
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


async def _command(
    store: SQLiteTriggerStore | PostgresTriggerStore,
    args: argparse.Namespace,
    clock: Callable[[], float],
) -> list[str]:
    """Run one command against *store*; the lines it prints."""
    async with store:
        if args.command in ("list", "show"):
            rows, loops = await store.all(), await store.loops()
            now = micros(clock())
            if args.command == "list":
                records = [_trigger(row, now) for row in rows]
                records += [_loop(loop, now) for loop in loops]
                return _listing(records, now, as_json=args.json)
            return _show(args.name, rows, loops, now, as_json=args.json)
        if args.command == "next":
            return _coming(args.name, await store.all(), micros(clock()), args.n)
        if args.command == "add":
            return await _add(store, args)
        return await _edit(store, args)


async def _edit(store: TriggerStore, args: argparse.Namespace) -> list[str]:
    """Remove, pause, resume, enable or disable a trigger (or loop)."""
    if args.command == "remove":
        await store.remove(args.name)
        return [f"removed {brief(args.name)}"]
    if args.command in ("pause", "resume"):
        kind = await _kind(store, args.name, loop=args.loop)
        await store.set_paused(kind, args.name, args.command == "pause")
        return [f"{args.command}d {kind} {brief(args.name)}"]
    await store.set_enabled(args.name, args.command == "enable")
    return [f"{args.command}d {brief(args.name)}"]


async def _add(
    store: SQLiteTriggerStore | PostgresTriggerStore, args: argparse.Namespace
) -> list[str]:
    """Add the trigger *args* describe: an interval, or cron text in a zone."""
    enabled = not args.disabled
    if is_cron_text(args.schedule):
        row = await store.add(
            name=args.name, cron=args.schedule, timezone=args.timezone, enabled=enabled
        )
        grid = calendar_grid(row.cron, row.timezone)
        first = next(grid.starts(row.anchor_us or 0), None)
        when = "-" if first is None else f"{_text(first)} = {_local(first, grid)}"
        added = f"added {brief(row.name)} at {_cell(row.cron)} in"
        return [f"{added} {_cell(row.timezone)}, first fire {when}"]
    row = await store.add(name=args.name, interval=args.schedule, enabled=enabled)
    if parse_interval(row.interval) < SWEEPER_MIN_INTERVAL:
        print(
            f"warning: {brief(row.name)} every {_cell(row.interval)} is "
            "below TriggerSweeper's default min_interval of "
            f"{SWEEPER_MIN_INTERVAL:g} s: a sweeper with default "
            "settings will report it invalid",
            file=sys.stderr,
        )
    return [f"added {brief(row.name)} every {_cell(row.interval)}"]


async def _kind(store: TriggerStore, name: str, *, loop: bool) -> Kind:
    """Whether *name* is a trigger or a coordinated loop (a trigger first).

    Raises:
        UnknownTriggerError: neither has that name (and not *loop*).
    """
    if loop:
        return "loop"
    if any(row.name == name for row in await store.all()):
        return "trigger"
    if any(row.name == name for row in await store.loops()):
        return "loop"
    msg = (
        f"no trigger or coordinated loop named {brief(name)} (--loop pauses a "
        "coordinated loop that never ran yet)"
    )
    raise UnknownTriggerError(msg)


def _trigger(row: TriggerRow, now: int) -> dict[str, object]:
    """*row* as list --json prints it: its fields, then what they mean at *now*."""
    fields = attrs.asdict(row, filter=lambda field, _: field.name not in _UNLISTED)
    return {"kind": "trigger", **fields, **_derived(row.state, now, row)}


def _loop(loop: LoopRow, now: int) -> dict[str, object]:
    """A coordinated loop with the keys of `_trigger` its row has."""
    state = loop.state
    fields = {
        "anchor_us": state.anchor,
        "window_us": state.window,
        "token": state.token,
        "holder": state.holder,
        "lease_until_us": state.lease_until,
        "outcome": state.outcome,
        "attempt": state.attempt,
        "lost": state.lost,
        "paused": bool(state.paused),
    }
    return {"kind": "loop", "name": loop.name, **fields, **_derived(state, now)}


def _derived(
    state: WindowState, now: int, row: TriggerRow | None = None
) -> dict[str, object]:
    """The status, the times as RFC 3339 text and (for a trigger) the next fire.

    A value a store could not read as an int (a row edited by hand) has no
    text (None), and no next fire follows from it.
    """
    token: object = state.token
    status: object = None  # never claimed
    if type(token) is int and token > 0:
        lease: object = state.lease_until
        status = state.outcome
        if status is None:
            status = "running" if type(lease) is int and lease > now else "abandoned"
    next_fire = None if row is None else _next_fire(row, now)
    return {
        "status": status,
        "anchor_at": _text(state.anchor),
        "window_at": _text(state.window),
        "lease_until_at": _text(state.lease_until),
        "next_fire_us": next_fire,
        "next_fire_at": _text(next_fire),
    }


def _next_fire(row: TriggerRow, now: int) -> int | None:
    """The first window start after the last one claimed; None if unknown.

    A row with no anchor fires at the next sweep: *now*. A broken schedule
    or time never fires.
    """
    try:
        schedule = _schedule(row)
    except (ValueError, TypeError):
        return None
    anchor: object = row.anchor_us
    window: object = row.window_us
    if anchor is None:
        return now
    if type(anchor) is not int or (window is not None and type(window) is not int):
        return None
    if isinstance(schedule, int):
        if window is None:
            return anchor
        return anchor + max(0, (window - anchor) // schedule + 1) * schedule
    low = anchor if window is None else max(anchor, window + 1)
    return next(schedule.starts(low), None)


def _schedule(row: TriggerRow) -> int | CalendarGrid:
    """A row's schedule: its interval in microseconds, or its calendar.

    Raises:
        InvalidConfigError: the row's schedule is broken (the message names
            the field), as the sweeper would report it.
        WrongTypeError: a field of the wrong type.
    """
    interval: object = row.interval
    check_schedule(None if interval == "" else interval, row.cron, row.timezone)
    if row.cron is None:
        return interval_seconds(row.interval) * _MICROS
    return calendar_grid(row.cron, row.timezone)


def _coming(name: str, rows: Sequence[TriggerRow], now: int, count: int) -> list[str]:
    """The next *count* fire times of the trigger called *name*, as a table.

    They start at its next fire as list shows it; when that has passed (the
    trigger is overdue) at its latest window that has started, the one the
    next sweep fires (with catch_up="latest"). A calendar trigger's times
    are shown in UTC and in its zone.

    Raises:
        UnknownTriggerError: no trigger has that name.
        InvalidConfigError: its schedule, anchor or last window is broken.
    """
    row = next((r for r in rows if r.name == name), None)
    if row is None:
        msg = (
            f"no trigger named {brief(name)} (a coordinated loop's schedule "
            "is in its code, not in the store)"
        )
        raise UnknownTriggerError(msg)
    schedule = _schedule(row)
    broken = [
        f"{field} {brief(value)}"
        for field, value in (("anchor_us", row.anchor_us), ("window_us", row.window_us))
        if value is not None and type(value) is not int
    ]
    if broken:
        msg = (
            f"trigger {brief(name)} has {' and '.join(broken)}, not a time in "
            "microseconds since the epoch"
        )
        raise InvalidConfigError(msg)
    first = _next_fire(row, now)
    if row.enabled is not True:
        print(
            f"note: {brief(name)} is disabled: these are the times its "
            "schedule gives, it fires from the first after it is enabled",
            file=sys.stderr,
        )
    # None: a calendar with no fire time left (it ends in the year 9998).
    starts = () if first is None else _starts(schedule, first, now)
    times = list(itertools.islice(starts, count))
    if isinstance(schedule, int):
        return _columns(
            ("UTC", "FROM NOW"), [(_cell(_text(t)), _relative(t, now)) for t in times]
        )
    zone = schedule.schedule.zone.key
    return _columns(
        ("UTC", f"LOCAL ({_cell(zone)})", "FROM NOW"),
        [(_cell(_text(t)), _local(t, schedule), _relative(t, now)) for t in times],
    )


def _starts(schedule: int | CalendarGrid, first: int, now: int) -> Iterator[int]:
    """The window starts of *schedule* from *first* on (a window start).

    A *first* before *now* is moved up to the latest window started by
    then: the windows before it are the catch-up's to fire or not.
    """
    if isinstance(schedule, int):
        if first < now:
            first += (now - first) // schedule * schedule
        return itertools.count(first, schedule)
    if first < now:  # a window start, so one at least started by now
        first = schedule.before(now + 1, 1)[0]
    return schedule.starts(first)


def _local(us: int, grid: CalendarGrid) -> str:
    """A time as RFC 3339 text in *grid*'s zone, with its offset."""
    moment = _EPOCH + timedelta(microseconds=us)
    return moment.astimezone(grid.schedule.zone).isoformat()


def _text(us: object) -> str | None:
    """Microseconds since the epoch as RFC 3339 text; None if not such an int."""
    if type(us) is not int:
        return None
    try:
        return micros_timestamp(us)
    except (OverflowError, ValueError):  # beyond datetime's years 1 to 9999
        return None


def _listing(
    records: Sequence[dict[str, object]], now: int, *, as_json: bool
) -> list[str]:
    """Triggers, then coordinated loops (if any), as tables or JSON lines."""
    if as_json:
        return [_json(record) for record in records]
    triggers = [r for r in records if r["kind"] == "trigger"]
    loops = [r for r in records if r["kind"] == "loop"]
    state = ("LAST WINDOW", "OUTCOME", "LEASE", "NEXT FIRE", "ATTEMPT", "LOST")
    lines = _columns(
        ("NAME", "SCHEDULE", "ENABLED", *state, "HOLDER"),
        [
            (
                _cell(r["name"]),
                _schedule_cell(r),
                _cell(r["enabled"]),
                *_state_cells(r, now),
            )
            for r in triggers
        ],
    )
    if loops:
        lines += [
            "",
            *_columns(
                ("LOOP", "PAUSED", *state, "HOLDER"),
                [
                    (_cell(r["name"]), _cell(r["paused"]), *_state_cells(r, now))
                    for r in loops
                ],
            ),
        ]
    return lines


def _schedule_cell(record: dict[str, object]) -> str:
    """A trigger's schedule as a table cell: ``15m``, or ``0 3 * * * (Europe/Berlin)``.

    A broken row shows what it holds: both schedules, or a zone alone.
    """
    interval, cron, zone = record["interval"], record["cron"], record["timezone"]
    if cron is None and zone is None:
        return _cell(interval)
    parts = [] if interval == "" else [_cell(interval)]
    if cron is not None:
        parts.append(_cell(cron))
    return " ".join([*parts, f"({_cell(zone, 'UTC')})"])


def _state_cells(record: dict[str, object], now: int) -> tuple[str, ...]:
    """A record's window state as table cells, holder last."""
    window = record["window_us"]
    return (
        "never" if window is None else _second(window),
        _cell(record["status"], "-"),
        _relative(record["lease_until_us"], now),
        _relative(record["next_fire_us"], now),
        _cell(record["attempt"]),
        _cell(record["lost"]),
        _cell(record["holder"], "-"),
    )


def _show(
    name: str,
    rows: Sequence[TriggerRow],
    loops: Sequence[LoopRow],
    now: int,
    *,
    as_json: bool,
) -> list[str]:
    """The trigger called *name*, or else the coordinated loop, as lines.

    Raises:
        UnknownTriggerError: neither has that name.
    """
    record = next((_trigger(r, now) for r in rows if r.name == name), None)
    if record is None:
        record = next((_loop(loop, now) for loop in loops if loop.name == name), None)
    if record is None:
        msg = f"no trigger or coordinated loop named {brief(name)}"
        raise UnknownTriggerError(msg)
    if as_json:
        return [_json(record)]
    fields: list[tuple[str, str]] = [
        ("name", _cell(record["name"])),
        ("kind", _cell(record["kind"])),
    ]
    if record["kind"] == "trigger":
        fields.append(("id", _cell(record["id"])))
        cron, zone = record["cron"], record["timezone"]
        if record["interval"] != "" or cron is None:
            fields.append(("interval", _cell(record["interval"])))
        if cron is not None:
            fields.append(("cron", _cell(cron)))
        if cron is not None or zone is not None:
            fields.append(("timezone", _cell(zone, "UTC")))
        fields += [
            ("enabled", _cell(record["enabled"])),
            ("last fired", _cell(record["last_fired_at"], "never")),
            ("anchor", _exact(record, "anchor", "-")),
        ]
    else:
        fields.append(("paused", _cell(record["paused"])))
    fields += [
        ("last window", _exact(record, "window", "never")),
        ("outcome", _cell(record["status"], "-")),
        ("holder", _cell(record["holder"], "-")),
        ("token", _cell(record["token"])),
        ("lease until", _exact(record, "lease_until", "-", now)),
        ("next fire", _exact(record, "next_fire", "-", now)),
        ("attempt", _cell(record["attempt"])),
        ("lost", _cell(record["lost"])),
    ]
    return [f"{key}: {value}" for key, value in fields]


def _exact(
    record: dict[str, object], key: str, absent: str, now: int | None = None
) -> str:
    """A time of *record* as RFC 3339 text (else as stored), and from *now*."""
    us = record[f"{key}_us"]
    if us is None:
        return absent
    text = record[f"{key}_at"]
    shown = _cell(us if text is None else text)
    if now is None or type(us) is not int:
        return shown
    return f"{shown} ({_relative(us, now)})"


def _json(record: dict[str, object]) -> str:
    """*record* as one JSON line, never cut.

    default=repr: bytes (text a store could not decode) become their repr
    string, so a broken row is listed, not fatal.
    """
    return json.dumps(record, default=repr)


def _cell(value: object, absent: str | None = None) -> str:
    """Printable text cut to 200 characters, a bool as yes/no, else the repr.

    bytes, None (unless *absent* stands for it) or text with a newline (which
    would split a row) show as repr.
    """
    if value is None and absent is not None:
        return absent
    if isinstance(value, bool):
        return "yes" if value else "no"
    return (
        cut(value) if isinstance(value, str) and value.isprintable() else brief(value)
    )


def _second(us: object) -> str:
    """A window start as RFC 3339 text to the second, for a table cell."""
    text = _text(us - us % _MICROS) if type(us) is int else None
    return _cell(us) if text is None else text


def _relative(us: object, now: int) -> str:
    """*us* from *now* as "in 14m53s", "3m10s ago" or "now"; "-" for None.

    Two units at most, whole seconds cut toward zero.
    """
    if type(us) is not int:
        return _cell(us, "-")
    seconds = abs(us - now) // _MICROS
    if seconds == 0:
        return "now"
    groups: list[str] = []
    for unit, size in _UNITS:
        count, seconds = divmod(seconds, size)
        if count and len(groups) < _GROUPS:
            groups.append(f"{count}{unit}")
        elif groups:
            break
    text = "".join(groups)
    return f"in {text}" if us > now else f"{text} ago"


def _columns(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    """*header* and *rows* as aligned columns; the last one is not padded."""
    table = [header, *rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header) - 1)]
    return [
        "  ".join([*(c.ljust(w) for c, w in zip(line, widths, strict=False)), line[-1]])
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
