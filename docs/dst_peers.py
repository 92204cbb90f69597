# ruff: noqa: INP001 - a script run by hand, not part of a package
"""Print the table of docs/calendar.md: what each scheduler fires across DST.

Three cases in Europe/Berlin, every peer driven as its scheduler drives it
(from 2026-03-28 12:00 UTC, each fire time computed from the one before):

- ``30 2 * * *`` on 2026-03-29, the spring-forward day: 02:00-03:00 local
  does not exist;
- ``30 2 * * *`` on 2026-10-25, the fall-back day: 02:00-03:00 local happens
  twice, first in CEST (+02) and then in CET (+01);
- ``0 * * * *`` on 2026-10-25: the fires from 02:00 CEST to 03:00 CET, and
  how many fires the whole local day has (it is 25 hours long).

The peers, each measured only if it imports in the running interpreter:

- tickwork's `CronSchedule`, with the defaults and each other policy;
- croniter and cronsim, iterated from the start;
- APScheduler 4 (``CronTrigger.next()``, stateful) or APScheduler 3
  (``CronTrigger.get_next_fire_time(previous, now)``, as its scheduler calls
  it after each run);
- Celery beat: the real ``celery.beat.Scheduler.tick()`` with a ``crontab``
  entry, a clock that jumps by each delay ``tick()`` asks to sleep (and by
  1 ms at least, the time a tick takes), and ``apply_async`` replaced by a
  recorder: no broker is touched.

APScheduler 3 and 4 cannot share an environment, so ``--with PYTHON`` (may
repeat) also runs this script in another interpreter (one with, say, celery
and ``apscheduler<4`` installed; it needs no tickwork) and merges its rows.
``--json`` prints the rows as JSON instead of the table.

Usage: ``python docs/dst_peers.py [--with PYTHON]... [--json]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    # A name, and its fire times from START for an expression (may stop early).
    Peer = tuple[str, Callable[[str], Iterator[datetime]]]

UTC = timezone.utc
ZONE_NAME = "Europe/Berlin"
ZONE = ZoneInfo(ZONE_NAME)
START = datetime(2026, 3, 28, 12, tzinfo=UTC)
SPRING = datetime(2026, 3, 29, tzinfo=ZONE)
AUTUMN = datetime(2026, 10, 25, tzinfo=ZONE)
# The fall-back hour and its two neighbours: 02:00 CEST to 03:00 CET.
FOLD_HOURS = (
    datetime(2026, 10, 25, 0, tzinfo=UTC),
    datetime(2026, 10, 25, 2, tzinfo=UTC),
)
DAILY, HOURLY = "30 2 * * *", "0 * * * *"
END = datetime(2026, 10, 27, tzinfo=UTC)
TICK_COST = timedelta(milliseconds=1)
MAX_TICKS = 1_000_000  # beat ticks at least every 5 minutes: ~60 000 to END


def _day(day: datetime) -> tuple[datetime, datetime]:
    """The UTC instants a local date runs from and to."""
    following = datetime.combine(day.date() + timedelta(days=1), day.timetz())
    return day.astimezone(UTC), following.astimezone(UTC)


def _label(instant: datetime) -> str:
    local = instant.astimezone(ZONE)
    return f"{local:%H:%M} {local:%Z}"


def _fires(
    source: Callable[[str], Iterator[datetime]], expression: str
) -> list[datetime]:
    """The fire instants, in UTC, from START to END (or where *source* stops)."""
    fires: list[datetime] = []
    for fire in source(expression):
        instant = fire.astimezone(UTC)
        if instant >= END:
            break
        fires.append(instant)
    return fires


def _cells(source: Callable[[str], Iterator[datetime]]) -> list[str]:
    """The three cases' cells for one peer."""
    daily = _fires(source, DAILY)
    hourly = _fires(source, HOURLY)
    cells = []
    for day in (SPRING, AUTUMN):
        start, end = _day(day)
        found = [f"{_label(t)} ({t:%H:%M} UTC)" for t in daily if start <= t < end]
        cells.append(", ".join(found) or "no fire")
    start, end = _day(AUTUMN)
    low, high = FOLD_HOURS
    around = ", ".join(_label(t) for t in hourly if low <= t <= high)
    count = sum(start <= t < end for t in hourly)
    cells.append(f"{around} ({count} that day)")
    return cells


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "?"


def _tickwork() -> Iterator[Peer]:
    from tickwork._cron import CronSchedule  # noqa: PLC0415 - optional here

    policies = [
        ("defaults: shift, first", {}),
        ('on_gap="skip"', {"on_gap": "skip"}),
        ('on_fold="last"', {"on_fold": "last"}),
        ('on_fold="both"', {"on_fold": "both"}),
    ]
    for label, options in policies:

        def source(
            expression: str, options: dict[str, str] = options
        ) -> Iterator[datetime]:
            schedule = CronSchedule(expression, timezone=ZONE_NAME, **options)  # type: ignore[arg-type]
            return schedule.fire_times(START)

        yield f"tickwork {_version('tickwork')}, {label}", source


def _croniter() -> Iterator[Peer]:
    from croniter import croniter  # noqa: PLC0415 - optional

    def source(expression: str) -> Iterator[datetime]:
        return croniter(expression, START.astimezone(ZONE)).all_next(datetime)

    yield f"croniter {_version('croniter')}", source


def _cronsim() -> Iterator[Peer]:
    from cronsim import CronSim  # noqa: PLC0415 - optional

    def source(expression: str) -> Iterator[datetime]:
        return iter(CronSim(expression, START.astimezone(ZONE)))

    yield f"cronsim {_version('cronsim')}", source


def _apscheduler() -> Iterator[Peer]:
    from apscheduler.triggers.cron import CronTrigger  # noqa: PLC0415 - optional

    release = _version("apscheduler")
    if int(release.split(".")[0]) >= 4:

        def source(expression: str) -> Iterator[datetime]:
            trigger = CronTrigger.from_crontab(
                expression, start_time=START, timezone=ZONE_NAME
            )
            while (fire := trigger.next()) is not None:
                yield fire

    else:

        def source(expression: str) -> Iterator[datetime]:
            trigger = CronTrigger.from_crontab(expression, timezone=ZONE_NAME)
            fire = trigger.get_next_fire_time(None, START)
            while fire is not None:
                yield fire
                # The scheduler asks right after the run, "now" being the run.
                fire = trigger.get_next_fire_time(fire, fire)

    yield f"APScheduler {release}", source


def _celery() -> Iterator[Peer]:
    from celery import Celery  # noqa: PLC0415 - optional
    from celery.beat import Scheduler  # noqa: PLC0415
    from celery.schedules import crontab  # noqa: PLC0415

    def source(expression: str) -> Iterator[datetime]:
        app = Celery("dst", broker="memory://", set_as_current=False)
        app.conf.timezone = ZONE_NAME
        app.conf.result_expires = None  # no backend_cleanup entry
        clock = [START]
        sent: list[datetime] = []

        class Recording(Scheduler):  # type: ignore[misc]
            producer = None

            def apply_async(self, *_args: object, **_kwargs: object) -> None:
                sent.append(clock[0])

        minute, hour, day, month, weekday = expression.split()
        schedule = crontab(
            minute, hour, weekday, day, month, nowfun=lambda: clock[0], app=app
        )
        app.conf.beat_schedule = {"job": {"task": "job", "schedule": schedule}}
        beat = Recording(app)
        for _ in range(MAX_TICKS):
            if clock[0] >= END:
                return
            # What beat.Service.start does, with a clock instead of sleep().
            delay = beat.tick()
            yield from sent
            sent.clear()
            # A tick takes time too: beat's -10 ms drift can leave a 0 s delay.
            clock[0] += max(timedelta(seconds=delay or 0), TICK_COST)

    yield f"Celery beat {_version('celery')}", source


PEERS = [_tickwork, _croniter, _cronsim, _apscheduler, _celery]


def _rows(peer: Callable[[], Iterator[Peer]]) -> list[list[str]]:
    """*peer*'s rows, or none if it is not installed here."""
    try:
        return [[name, *_cells(source)] for name, source in peer()]
    except ImportError:
        return []


def rows() -> list[list[str]]:
    """One row per peer (and per tickwork policy) importable here."""
    return [row for peer in PEERS for row in _rows(peer)]


def main() -> None:
    """Measure here and in every ``--with`` interpreter, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with", dest="others", action="append", default=[])
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    table = rows()
    for python in options.others:
        output = subprocess.run(  # noqa: S603 - an interpreter the user names
            [python, str(Path(__file__).resolve()), "--json"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        table.extend(row for row in json.loads(output) if row not in table)
    if options.json:
        print(json.dumps(table))  # noqa: T201
        return
    header = [
        "scheduler (measured)",
        "`30 2 * * *` on 2026-03-29 (02:00-03:00 skipped)",
        "`30 2 * * *` on 2026-10-25 (02:00-03:00 twice)",
        "`0 * * * *` from 02:00 CEST to 03:00 CET on 2026-10-25",
    ]
    print(f"| {' | '.join(header)} |")  # noqa: T201
    print(f"|{'|'.join('---' for _ in header)}|")  # noqa: T201
    for row in table:
        print(f"| {' | '.join(row)} |")  # noqa: T201


if __name__ == "__main__":
    sys.exit(main())
