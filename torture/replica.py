"""One replica of the torture run: coordinated loops and two trigger sweepers.

Started by ``torture/run.py`` (``python torture/replica.py CONFIG NAME EVENTS
SEED``), killed by it with SIGKILL at random. It runs one `Scheduler` with the
configured coordinated loops plus the loops of two `TriggerSweeper` objects:
one over the at-most-once triggers (database ``postgres``), one over the
at-least-once triggers (database ``alo``), since a sweeper has one delivery
mode for all the rows of its store.

Every line it writes to EVENTS is one JSON object, appended with one
``write`` (so it survives a SIGKILL); a run's ``start`` line is also
fsync'ed before the job body runs, so a start without an end means the run
was killed mid-run. Lines (``e`` is the event):

- ``start`` / ``end``: a run or dispatch (schedule ``n``, ``kind``, window
  ``w`` in µs, ``a`` attempt, ``tok`` token, ``cu`` whether
  ``current_run().catching_up``, ``t`` wall time; ``end`` has ``how``:
  ``returned``, ``timeout`` or ``fenced`` (cut before its timeout; a run
  the next window replaced is followed by a ``replaced`` line)).
- ``lost`` / ``fenced`` / ``catchup`` / ``replaced``: the ``on_window_lost``
  / ``on_run_fenced`` / ``on_catch_up`` hooks, and ``on_run_finished`` with
  outcome ``"replaced"`` (``overlap="replace"``: the run just ended on this
  replica was cut by the next window).
- ``claim?`` / ``claimed`` / ``claim!``: every claim batch sent to a store,
  the windows it won (with any ``lost_window`` the store recorded, and the
  catch-up: ``missed``, ``lost`` beyond ``catch_up_limit``, ``catching_up``),
  the answers not won that carry a catch-up or a lost window, or its error;
  ``fin?`` / ``fin`` / ``fin!`` the same for outcomes; ``ren`` lease
  renewals refused or failed. A thin wrapper around the store writes them
  (the `TriggerStore` protocol, nothing private), so that a lost window can
  be traced to the replica that held it even when that replica died before
  its job began.
"""

# ruff: noqa: INP001, S311

from __future__ import annotations

import json
import logging
import os
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from tickwork import Loop, Scheduler, current_run
from tickwork.triggers import PostgresTriggerStore, TriggerRow, TriggerSweeper

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICRO = timedelta(microseconds=1)
HANG = 3600.0  # a hung job sleeps this long: only its timeout (or a fence) ends it


def micros(when: datetime) -> int:
    """An aware datetime as exact microseconds since the epoch."""
    return (when - _EPOCH) // _MICRO


class Events:
    """Appends JSON lines to the replica's event file, one write each."""

    def __init__(self, path: Path, replica: str) -> None:
        """Open *path* for appending."""
        self.replica = replica
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, event: dict[str, Any], *, sync: bool = False) -> None:
        """One line; *sync* also fsyncs it (a start line, before the job)."""
        event["r"] = self.replica
        if "t" not in event:
            event["t"] = time.time()
        os.write(self._fd, (json.dumps(event, separators=(",", ":")) + "\n").encode())
        if sync:
            os.fsync(self._fd)


class RecordingStore:
    """A `TriggerStore` that forwards every call and notes claims and outcomes."""

    def __init__(
        self, inner: PostgresTriggerStore, events: Events, names: dict[str, str]
    ) -> None:
        """Wrap *inner*; *names* maps trigger ids to names (loops are by name)."""
        self._inner = inner
        self._events = events
        self._names = names
        self._batches = 0

    def __getattr__(self, attribute: str) -> Any:  # noqa: ANN401 - a plain proxy
        """Everything else goes to the real store."""
        return getattr(self._inner, attribute)

    def _name(self, key: str) -> str:
        return self._names.get(key, key)

    async def enabled(self) -> Sequence[TriggerRow]:
        """The real store's listing."""
        return await self._inner.enabled()

    async def claim_windows(
        self, kind: str, claims: Sequence[Any], *, lease: float, holder: str
    ) -> Sequence[Any]:
        """Note the batch, forward it, note the windows won (or the error)."""
        events = self._events
        self._batches += 1
        batch = self._batches
        events.write(
            {
                "e": "claim?",
                "b": batch,
                "c": [[self._name(c.key), c.window] for c in claims],
            }
        )
        try:
            answers = await self._inner.claim_windows(
                kind, claims, lease=lease, holder=holder
            )
        except Exception as exc:
            events.write({"e": "claim!", "b": batch, "err": type(exc).__name__})
            raise
        won = [
            [
                self._name(a.key),
                a.window,
                a.token,
                a.attempt,
                a.lost_window,
                a.missed,
                a.lost,
                a.catching_up,
            ]
            for a in answers
            if a.won
        ]
        # Not won, but the store changed something: a window recorded lost,
        # or missed windows (catch_up="skip", or lost beyond the limit).
        other = [
            [self._name(a.key), a.status, a.window, a.lost_window, a.missed, a.lost]
            for a in answers
            if not a.won and (a.lost_window is not None or a.missed or a.lost)
        ]
        line: dict[str, Any] = {"e": "claimed", "b": batch, "a": won}
        if other:
            line["x"] = other
        events.write(line)
        return answers

    async def renew_leases(
        self, kind: str, leases: Sequence[tuple[str, int]], *, lease: float
    ) -> Sequence[bool]:
        """Forward; note refusals and errors."""
        try:
            done = await self._inner.renew_leases(kind, leases, lease=lease)
        except Exception as exc:
            self._events.write(
                {
                    "e": "ren",
                    "l": [[self._name(k), tok] for k, tok in leases],
                    "err": type(exc).__name__,
                }
            )
            raise
        refused = [
            [self._name(k), tok]
            for (k, tok), ok in zip(leases, done, strict=True)
            if not ok
        ]
        if refused:
            self._events.write({"e": "ren", "l": refused, "err": "refused"})
        return done

    async def finish_windows(
        self, kind: str, outcomes: Sequence[tuple[str, int, str]]
    ) -> Sequence[bool]:
        """Note the outcomes sent, forward them, note which were recorded."""
        events = self._events
        sent = [[self._name(k), tok, out] for k, tok, out in outcomes]
        events.write({"e": "fin?", "f": sent})
        try:
            done = await self._inner.finish_windows(kind, outcomes)
        except Exception as exc:
            events.write({"e": "fin!", "f": sent, "err": type(exc).__name__})
            raise
        events.write(
            {"e": "fin", "f": [[*s, ok] for s, ok in zip(sent, done, strict=True)]}
        )
        return done


class Hook:
    """Writes the coordination hooks' events (loops and both sweepers)."""

    def __init__(self, events: Events) -> None:
        """Write to *events*."""
        self._events = events

    def on_window_lost(self, *, name: str, window: datetime, **_: object) -> None:
        """A window this replica found abandoned and recorded lost."""
        self._events.write({"e": "lost", "n": name, "w": micros(window)})

    def on_run_fenced(self, *, name: str, duration: float, **_: object) -> None:
        """A run or dispatch cut by its lease, or that ended after losing it."""
        self._events.write({"e": "fenced", "n": name, "d": round(duration, 4)})

    def on_catch_up(
        self, *, name: str, missed: int, running: int, lost: int, kind: str
    ) -> None:
        """Windows missed while no replica could run them: what runs, what is lost."""
        self._events.write(
            {
                "e": "catchup",
                "n": name,
                "missed": missed,
                "running": running,
                "lost": lost,
                "kind": kind,
            }
        )

    def on_run_finished(
        self, *, loop: str, outcome: str, duration: float, **_: object
    ) -> None:
        """Only a run the next window replaced (its end line says "fenced")."""
        if outcome == "replaced":
            self._events.write({"e": "replaced", "n": loop, "d": round(duration, 4)})


class Jobs:
    """The job bodies: record start (fsync'ed) and end, sleep, hang 10 %."""

    def __init__(self, events: Events, rng: random.Random, hang_rate: float) -> None:
        """Decide each job's fate with *rng*."""
        self._events = events
        self._rng = rng
        self._hang_rate = hang_rate

    def duration(self) -> float:
        """Mostly short; one in five long enough to renew its lease."""
        rng = self._rng
        if rng.random() < self._hang_rate:
            return HANG
        return rng.uniform(1.5, 3.0) if rng.random() < 0.2 else rng.uniform(0.02, 0.5)

    async def run(self, kind: str, name: str, limit: float) -> None:
        """One run of *name*: the body every loop and dispatch shares."""
        context = current_run()
        assert isinstance(context.window, datetime)  # noqa: S101 - coordinated
        sleep = self.duration()
        fields = {
            "kind": kind,
            "n": name,
            "w": micros(context.window),
            "a": context.attempt,
            "tok": context.token,
            "cu": context.catching_up,
        }
        started = time.time()
        self._events.write(
            {"e": "start", **fields, "t": started, "hang": sleep == HANG}, sync=True
        )
        how = "fenced"
        try:
            await trio.sleep(sleep)
            how = "returned"
        finally:
            ended = time.time()
            if how != "returned" and ended - started >= limit - 0.05:
                how = "timeout"
            self._events.write({"e": "end", **fields, "t": ended, "how": how})

    def loop(self, name: str, timeout: float) -> Callable[[], Awaitable[None]]:
        """A coordinated loop's fn."""

        async def fn() -> None:
            await self.run("loop", name, timeout)

        return fn

    def dispatch(self, timeout: float) -> Callable[[TriggerRow], Awaitable[None]]:
        """A sweeper's dispatch."""

        async def fn(row: TriggerRow) -> None:
            await self.run("trigger", row.name, timeout)

        return fn


async def main(config: dict[str, Any], name: str, events_path: Path, seed: int) -> None:
    """Build the stores, the sweepers and the scheduler; run until killed."""
    events = Events(events_path, name)
    events.write({"e": "up", "pid": os.getpid()})
    jobs = Jobs(events, random.Random(seed), config["hang_rate"])
    lease = config["lease"]
    names = {t["id"]: t["name"] for t in config["triggers"]}
    stores = {
        db: RecordingStore(
            PostgresTriggerStore(dsn, **config["store_options"]), events, names
        )
        for db, dsn in config["dsn"].items()
    }
    hooks = [Hook(events)]
    sweepers = [
        TriggerSweeper(
            stores[db],  # type: ignore[arg-type]
            jobs.dispatch(config["dispatch_timeout"]),
            tick_interval=config["tick_interval"],
            min_interval=1,
            dispatch_timeout=config["dispatch_timeout"],
            lease=lease,
            delivery=delivery,
            replica=name,
            hooks=hooks,
            catch_up=config["catch_up"],
            catch_up_limit=config["catch_up_limit"],
        ).loop(f"sweep-{db}")
        for db, delivery in config["trigger_delivery"].items()
    ]
    loops = [
        Loop(
            name=loop["name"],
            fn=jobs.loop(loop["name"], loop["timeout"]),
            interval=loop["interval"],
            jitter=loop["jitter"],
            timeout=loop["timeout"],
            coordinated=True,
            delivery=loop["delivery"],
            overlap=config["overlap"],
            catch_up=config["catch_up"],
            catch_up_limit=config["catch_up_limit"],
        )
        for loop in config["loops"]
    ]
    scheduler = Scheduler(
        [*loops, *sweepers],
        store=stores[config["loop_db"]],  # type: ignore[arg-type]
        lease=lease,
        replica=name,
        hooks=hooks,
        grace=1.0,
    )
    await scheduler.run()


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    config_path, replica, events_file, seed_text = sys.argv[1:5]
    trio.run(
        main,
        json.loads(Path(config_path).read_text()),
        replica,
        Path(events_file),
        int(seed_text),
    )
