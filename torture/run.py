"""Torture run: replicas killed at random, a PostgreSQL outage, hung jobs.

Starts a throwaway PostgreSQL server (loopback only, as the tests do), adds
the triggers, starts REPLICAS processes of ``torture/replica.py`` (each one
`Scheduler` with the coordinated loops and two trigger sweepers), then for
DURATION seconds SIGKILLs a random replica every 1-3 s (restarting it at
once under a new name) and, once, stops PostgreSQL with ``pg_ctl stop -m
immediate`` for OUTAGE seconds. A calm tail follows (no kills) so that
at-least-once windows cut by the last kills run again, then every replica
is killed and the stores' final state is read.

From the replicas' event files (see replica.py) it computes one table:
runs started, duplicates, overlaps, lost windows (at least once; at most
once, explained or not), fenced runs, recovery after the outage, fires in
the first second after it, and the stores' ``lost`` counters against the
logs, each with PASS/FAIL; writes it to benchmarks/results/torture.json;
exits 1 if a requirement fails.

``--overlap`` (the coordinated loops') and ``--catch-up`` / ``--catch-up-limit``
(the loops' and both sweepers') run the same torture under the run policies;
the analysis then accepts a replace takeover's bounded overlap and explains
windows lost beyond the catch-up limit (see README.md).

Run: ``nox -s torture`` or ``python torture/run.py [--seed N] [--duration S]``.
"""

# ruff: noqa: T201, S311, S603, INP001, C901, PLR0912, PLR0915

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import random
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg
import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pgserver import PostgresServer  # noqa: E402

from tickwork.triggers import PostgresTriggerStore  # noqa: E402

REPLICA = Path(__file__).resolve().parent / "replica.py"
RESULTS = ROOT / "benchmarks" / "results" / "torture.json"
WALL_LIMIT = 300.0  # the whole run, setup and analysis included
RECOVERY_LIMIT = 1.0
LOOP_INTERVALS = (1.0, 1.0, 1.5, 1.5, 2.0, 2.0, 2.5, 2.5, 3.0, 3.0, 1.25, 1.75)
TRIGGER_INTERVALS = ("2s", "3s", "4s", "5s")
DELIVERIES = ("at_most_once", "at_least_once")
COMPLETED = frozenset({"returned", "timeout"})  # an outcome tickwork keeps as final


class Server(PostgresServer):
    """pgserver's throwaway server, but commits survive ``stop -m immediate``.

    pgserver turns synchronous_commit off for speed; an immediate stop (a
    crash) would then forget the last commits, i.e. claims, and a window
    could run twice for a reason that is not tickwork's. fsync stays off:
    the operating system does not crash here.
    """

    def start(self, *, wait: bool = True) -> None:
        """Start on the same port and data directory; *wait* until it is up."""
        options = [
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            "-c unix_socket_directories=''",
            "-c max_connections=200",
            "-c fsync=off",
            "-c synchronous_commit=on",
        ]
        self._pg(
            "pg_ctl",
            "start",
            "--wait" if wait else "--no-wait",
            "--timeout=60",
            "--pgdata",
            str(self.data),
            "--log",
            str(self.log),
            "-o",
            " ".join(options),
        )

    def dsn_for(self, database: str) -> str:
        """The DSN of another database on this server."""
        return self.dsn.rsplit("/", 1)[0] + f"/{database}"


# --- setup ---------------------------------------------------------------------


def build_config(args: argparse.Namespace, server: Server) -> dict[str, Any]:
    """Create the second database and the triggers; the replicas' config."""
    with psycopg.connect(server.dsn, autocommit=True) as connection:
        connection.execute("CREATE DATABASE alo")
    dsn = {"amo": server.dsn, "alo": server.dsn_for("alo")}
    loops = [
        {
            "name": f"loop-{i:02}",
            "interval": LOOP_INTERVALS[i % len(LOOP_INTERVALS)],
            "jitter": 0.1,
            "timeout": args.timeout,
            "delivery": DELIVERIES[i % 2],
        }
        for i in range(args.loops)
    ]

    async def add() -> list[dict[str, Any]]:
        triggers = []
        for db, delivery in (("amo", DELIVERIES[0]), ("alo", DELIVERIES[1])):
            async with PostgresTriggerStore(dsn[db]) as store:
                for i in range(args.triggers // 2):
                    interval = TRIGGER_INTERVALS[i % len(TRIGGER_INTERVALS)]
                    row = await store.add(name=f"{db}-{i:02}", interval=interval)
                    triggers.append(
                        {
                            "id": row.id,
                            "name": row.name,
                            "interval": interval,
                            "anchor_us": row.anchor_us,
                            "delivery": delivery,
                            "db": db,
                        }
                    )
                await store.loops()  # creates the schema of the loops' table too
        return triggers

    return {
        "dsn": dsn,
        "loop_db": "amo",
        "trigger_delivery": {"amo": DELIVERIES[0], "alo": DELIVERIES[1]},
        "loops": loops,
        "triggers": trio.run(add),
        "lease": args.lease,
        "tick_interval": args.tick,
        "dispatch_timeout": args.timeout,
        "hang_rate": args.hang_rate,
        "store_options": {},
        "overlap": args.overlap,
        "catch_up": args.catch_up,
        "catch_up_limit": args.catch_up_limit,
    }


def postgres_cpu(server: Server) -> float:
    """CPU seconds of the running postmaster and its ended backends."""
    try:
        pid = int((server.data / "postmaster.pid").read_text().split()[0])
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return 0.0
    # utime, stime, cutime, cstime: fields 14-17, so 11-14 after the name.
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


# --- chaos ---------------------------------------------------------------------


class Replicas:
    """The replica processes: start, SIGKILL, and their life times (wall clock)."""

    def __init__(self, work: Path, config_path: Path, seed: int) -> None:
        """Event and log files go under *work*."""
        self.work = work
        self.config_path = config_path
        self.seed = seed
        self.serial = 0
        self.alive: dict[str, subprocess.Popen[bytes]] = {}
        self.started: dict[str, float] = {}
        self.killed: dict[str, float] = {}
        self.crashed: dict[str, tuple[float, int]] = {}
        self.final: set[str] = set()

    def spawn(self) -> str:
        """Start one more replica under a new name."""
        self.serial += 1
        name = f"r{self.serial:03}"
        log = (self.work / f"{name}.log").open("wb")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.started[name] = time.time()
        self.alive[name] = subprocess.Popen(
            [
                sys.executable,
                str(REPLICA),
                str(self.config_path),
                name,
                str(self.work / f"{name}.jsonl"),
                str(self.seed * 1000 + self.serial),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        log.close()
        return name

    def kill(self, name: str, *, final: bool = False) -> None:
        """SIGKILL *name* and wait until it is gone; its death time is kept."""
        process = self.alive.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait()
        self.killed[name] = time.time()
        if final:
            self.final.add(name)

    def reap(self) -> list[str]:
        """Replicas that ended on their own (a crash: a finding), restarted."""
        gone = [name for name, p in self.alive.items() if p.poll() is not None]
        for name in gone:
            process = self.alive.pop(name)
            self.crashed[name] = (time.time(), process.returncode)
            self.killed[name] = time.time()
            print(f"  ! replica {name} exited by itself ({process.returncode})")
            self.spawn()
        return gone


class Outage:
    """One PostgreSQL outage, in a thread: stop -m immediate, wait, start."""

    def __init__(self, server: Server, length: float) -> None:
        """Stop *server* for *length* seconds."""
        self.server = server
        self.length = length
        self.down_at: float | None = None
        self.restart_at: float | None = None
        self.back_at: float | None = None
        self.accepted_at: float | None = None
        self.cpu_before = 0.0
        self.begun = False
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="outage", daemon=True)

    def start(self) -> None:
        """Begin the outage now."""
        self.begun = True
        self.thread.start()

    def join(self) -> None:
        """Wait for PostgreSQL to be back; raise what went wrong, if anything."""
        self.thread.join()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            self._outage()
        except BaseException as exc:
            self.error = exc
            raise

    def _outage(self) -> None:
        self.cpu_before = postgres_cpu(self.server)
        self.down_at = time.time()
        self.server.stop("immediate")
        time.sleep(max(0.0, self.down_at + self.length - time.time()))
        self.restart_at = time.time()
        self.server.start(wait=False)
        # "Back" is the start of the first connection attempt that succeeds
        # (attempts every 10 ms): the earliest it can be said to accept.
        while True:
            attempt = time.time()
            try:
                with psycopg.connect(self.server.dsn, connect_timeout=2):
                    pass
            except psycopg.OperationalError:
                time.sleep(0.01)
                continue
            self.back_at = attempt
            self.accepted_at = time.time()
            return


def chaos(
    args: argparse.Namespace, outage: Outage, replicas: Replicas, t0: float
) -> None:
    """Start the replicas, kill them at random, stop PostgreSQL once, calm tail."""
    rng = random.Random(f"{args.seed}:chaos")
    for _ in range(args.replicas):
        replicas.spawn()
    begin = time.monotonic()
    end = begin + args.duration
    outage_at = begin + rng.uniform(0.3, 0.4) * args.duration
    next_kill = begin + args.warmup + rng.uniform(1, 3)
    kills = 0
    while (now := time.monotonic()) < end:
        replicas.reap()
        if not outage.begun and now >= outage_at:
            outage.start()
            print(f"  [{now - t0:6.1f} s] PostgreSQL stopped (-m immediate)")
        if now >= next_kill:
            victim = rng.choice(sorted(replicas.alive))
            replicas.kill(victim)
            born = replicas.spawn()
            kills += 1
            next_kill += rng.uniform(1, 3)
            if kills % 10 == 0:
                print(
                    f"  [{now - t0:6.1f} s] {kills} kills so far ({victim} -> {born})"
                )
        wake = min(next_kill, end, end if outage.begun else outage_at)
        time.sleep(max(0.0, min(wake - time.monotonic(), 0.05)))
    outage.join()
    if outage.back_at is not None:
        gone = outage.back_at - outage.down_at
        print(f"  PostgreSQL was back {gone:.2f} s after it stopped")
    elapsed = time.monotonic() - t0
    print(f"  [{elapsed:6.1f} s] {kills} kills; calm tail of {args.tail:g} s")
    tail_end = time.monotonic() + args.tail
    while time.monotonic() < tail_end:
        replicas.reap()
        time.sleep(0.05)
    for name in sorted(replicas.alive):
        replicas.kill(name, final=True)


def final_state(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every schedule's window state in the stores, by name."""

    async def read() -> dict[str, dict[str, Any]]:
        state: dict[str, dict[str, Any]] = {}
        for db, dsn in config["dsn"].items():
            async with PostgresTriggerStore(dsn) as store:
                for row in await store.all():
                    state[row.name] = _state(row)
                if db == config["loop_db"]:
                    for loop in await store.loops():
                        state[loop.name] = _state(loop.state)
        return state

    return trio.run(read)


def _state(row: Any) -> dict[str, Any]:  # noqa: ANN401 - a TriggerRow or a WindowState
    window = getattr(row, "window_us", None)
    if window is None:
        window = getattr(row, "window", None)
    return {
        "window_us": window,
        "token": row.token,
        "holder": row.holder,
        "outcome": row.outcome,
        "attempt": row.attempt,
        "lost": row.lost,
    }


# --- analysis -----------------------------------------------------------------


def load_events(work: Path) -> list[dict[str, Any]]:
    """Every line of every replica's event file (a torn last line is skipped)."""
    lines = [
        line
        for path in sorted(work.glob("r*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    return [event for line in lines if (event := _parse(line)) is not None]


def _parse(line: str) -> dict[str, Any] | None:
    try:
        event: dict[str, Any] = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event


def grid_starts(schedule: dict[str, Any], lo: float, hi: float) -> int:
    """How many windows of *schedule* start in (lo, hi] (wall seconds)."""
    interval = schedule["interval_us"]
    anchor = schedule["anchor_us"]
    lo_us, hi_us = round(lo * 1e6), round(hi * 1e6)
    first = (lo_us - anchor) // interval + 1
    last = (hi_us - anchor) // interval
    return max(0, last - first + 1)


def unreported_catch_ups(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Claims' answers that recorded windows lost by a catch-up, unreported.

    Each such answer must be followed, on its replica and before that
    replica's next answer for the schedule, by an ``on_catch_up`` event with
    the same *lost*; unless the replica wrote nothing after the answer (it
    was killed in between).
    """
    pending: dict[tuple[str, str], dict[str, Any]] = {}
    last_line: dict[str, float] = {}
    unreported = []
    for ev in events:
        replica = ev["r"]
        last_line[replica] = max(last_line.get(replica, 0.0), ev["t"])
        if ev["e"] == "claimed":
            answers = [(a[0], a[6], a[1], a[2]) for a in ev["a"] if len(a) > 5]
            answers += [(x[0], x[5], x[2], None) for x in ev.get("x", [])]
            for name, lost, window, token in answers:
                if (replica, name) in pending:
                    unreported.append(pending.pop((replica, name)))
                if lost:
                    pending[replica, name] = {
                        "name": name,
                        "replica": replica,
                        "t": ev["t"],
                        "window": window,
                        "token": token,
                        "lost": lost,
                    }
        elif ev["e"] == "catchup":
            told = pending.pop((replica, ev["n"]), None)
            if told is not None and told["lost"] != ev["lost"]:
                unreported.append({**told, "reported": ev["lost"]})
    unreported += [
        told for told in pending.values() if last_line[told["replica"]] > told["t"]
    ]
    return sorted(unreported, key=lambda told: told["t"])


def analyse(  # noqa: PLR0913, PLR0917 - the run's every record
    config: dict[str, Any],
    events: list[dict[str, Any]],
    replicas: Replicas,
    outage: Outage,
    state: dict[str, dict[str, Any]],
    lease: float,
) -> dict[str, Any]:
    """Everything the table says, from the event lines and the final state."""
    schedules: dict[str, dict[str, Any]] = {}
    for loop in config["loops"]:
        schedules[loop["name"]] = {
            "kind": "loop",
            "delivery": loop["delivery"],
            "interval_us": round(loop["interval"] * 1e6),
            "anchor_us": 0,
            "jitter": loop["jitter"],
        }
    for trigger in config["triggers"]:
        seconds = int(trigger["interval"].rstrip("s"))
        schedules[trigger["name"]] = {
            "kind": "trigger",
            "delivery": trigger["delivery"],
            "interval_us": seconds * 1_000_000,
            "anchor_us": trigger["anchor_us"],
            "jitter": 0.0,
        }
    killed = replicas.killed
    final_kill = min((killed[r] for r in replicas.final), default=math.inf)

    runs: dict[tuple[str, int], dict[str, Any]] = {}
    claims: dict[tuple[str, int], dict[str, Any]] = {}
    intents: dict[tuple[str, int], list[tuple[str, int, float]]] = defaultdict(list)
    answered: set[tuple[str, int]] = set()  # (replica, claim batch) answered
    answers: list[tuple[float, str]] = []  # when each claim batch was answered
    sent: dict[tuple[str, int], float] = {}  # when each claim batch was sent
    late_wins: list[tuple[str, float, int]] = []  # won after 0.9 lease of waiting
    fin_sent: dict[tuple[str, int], list[tuple[str, float]]] = defaultdict(list)
    fin_ok: dict[tuple[str, int], bool] = {}
    fin_err: dict[tuple[str, int], list[float]] = defaultdict(list)
    cancelled_sent: set[tuple[str, int]] = set()  # outcome "cancelled" sent
    hook_lost: dict[tuple[str, int], list[tuple[str, float]]] = defaultdict(list)
    answer_lost: dict[tuple[str, int], list[tuple[str, float]]] = defaultdict(list)
    hook_fenced: list[dict[str, Any]] = []
    hook_catch_up: list[dict[str, Any]] = []  # on_catch_up events
    # Windows recorded lost by a catch-up (beyond catch_up_limit), as the
    # claims' answers say: (replica, when, lost) per schedule.
    answer_catch_up: dict[str, list[tuple[str, float, int]]] = defaultdict(list)
    replaced_events = 0
    last_run: dict[tuple[str, str], tuple[str, int]] = {}  # (replica, name) -> key
    renew_failures = Counter()
    anomalies: list[str] = []
    for ev in events:
        kind, replica, at = ev["e"], ev["r"], ev["t"]
        if kind == "start":
            key = (ev["n"], ev["tok"])
            if key in runs:
                anomalies.append(f"token {key} started twice: {runs[key]} and {ev}")
                key = (ev["n"], -len(anomalies))
            last_run[replica, ev["n"]] = key
            runs[key] = {
                "name": ev["n"],
                "kind": ev["kind"],
                "window": ev["w"],
                "attempt": ev["a"],
                "token": ev["tok"],
                "replica": replica,
                "start": at,
                "end": None,
                "how": None,
                "hang": ev["hang"],
                "catching_up": ev.get("cu", False),
            }
        elif kind == "end":
            run = runs.get((ev["n"], ev["tok"]))
            if run is None or run["replica"] != replica:
                anomalies.append(f"an end without its start: {ev}")
                continue
            run["end"], run["how"] = at, ev["how"]
        elif kind == "claimed":
            answered.add((replica, ev["b"]))
            answers.append((at, replica))
            waited = at - sent.get((replica, ev["b"]), at)
            if ev["a"] and waited > 0.9 * lease:
                late_wins.append((replica, round(waited, 3), len(ev["a"])))
            for name, window, token, attempt, lost_window, *catch in ev["a"]:
                missed, cu_lost, catching_up = catch or (0, 0, False)
                claims[name, token] = {
                    "window": window,
                    "attempt": attempt,
                    "replica": replica,
                    "t": at,
                    "lost_window": lost_window,
                    "missed": missed,
                    "catch_up_lost": cu_lost,
                    "catching_up": catching_up,
                }
                if lost_window is not None:
                    answer_lost[name, lost_window].append((replica, at))
                if cu_lost:
                    answer_catch_up[name].append((replica, at, cu_lost))
            for name, _status, _window, lost_window, _missed, cu_lost in ev.get(
                "x", []
            ):
                if lost_window is not None:
                    answer_lost[name, lost_window].append((replica, at))
                if cu_lost:
                    answer_catch_up[name].append((replica, at, cu_lost))
        elif kind == "claim?":
            sent[replica, ev["b"]] = at
            for name, window in ev["c"]:
                intents[name, window].append((replica, ev["b"], at))
        elif kind == "claim!":
            answered.add((replica, ev["b"]))
        elif kind == "fin?":
            for name, token, outcome in ev["f"]:
                fin_sent[name, token].append((replica, at))
                if outcome == "cancelled":
                    cancelled_sent.add((name, token))
        elif kind == "fin":
            for name, token, _outcome, ok in ev["f"]:
                fin_ok[name, token] = fin_ok.get((name, token), False) or ok
        elif kind == "fin!":
            for name, token, _outcome in ev["f"]:
                fin_err[name, token].append(at)
        elif kind == "lost":
            hook_lost[ev["n"], ev["w"]].append((replica, at))
        elif kind == "fenced":
            hook_fenced.append(ev)
        elif kind == "catchup":
            hook_catch_up.append(ev)
        elif kind == "replaced":
            # on_run_finished("replaced") follows the end line of the run
            # the next window cut, on this replica (its end says "fenced").
            replaced_events += 1
            run = runs.get(last_run.get((replica, ev["n"]), ("", 0)))
            if run is None or run["end"] is None or run["replica"] != replica:
                anomalies.append(f"a replaced run without its end: {ev}")
            else:
                run["how"] = "replaced"
        elif kind == "ren":
            renew_failures[ev["err"]] += len(ev["l"])

    # A start without an end: its replica was killed mid-run.
    for run in runs.values():
        if run["end"] is None:
            death = killed.get(run["replica"])
            if death is None:
                anomalies.append(f"a run never ended and its replica lives: {run}")
                death = math.inf
            run["end"], run["how"] = death, "killed"
            run["final"] = run["replica"] in replicas.final
        else:
            run["final"] = False

    by_schedule: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_window: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for run in runs.values():
        by_schedule[run["name"]].append(run)
        by_window[run["name"], run["window"]].append(run)

    # Duplicates.
    same_attempt = [
        (name, window, attempt, count)
        for (name, window, attempt), count in Counter(
            (r["name"], r["window"], r["attempt"]) for r in runs.values()
        ).items()
        if count > 1
    ]
    amo_completed_twice = [
        (name, window)
        for (name, window), rs in by_window.items()
        if schedules[name]["delivery"] == "at_most_once"
        and sum(r["how"] in COMPLETED for r in rs) > 1
    ]
    amo_started_twice = [
        key
        for key, rs in by_window.items()
        if schedules[key[0]]["delivery"] == "at_most_once" and len(rs) > 1
    ]
    alo_completed_twice = [
        key
        for key, rs in by_window.items()
        if schedules[key[0]]["delivery"] == "at_least_once"
        and sum(r["how"] in COMPLETED for r in rs) > 1
    ]

    # Takeovers (overlap="replace", coordinated loops): a claim won while
    # the previous claim of its schedule still held its lease. Its answer
    # names no lost window and no re-run (both need the lease to have
    # passed), and the previous token never got its outcome recorded (once
    # the new token exists, the old one's outcome is refused).
    replace = config.get("overlap") == "replace"

    def took_over(name: str, token: int) -> bool:
        claim = claims.get((name, token))
        if not replace or claim is None or schedules[name]["kind"] != "loop":
            return False
        previous = claims.get((name, token - 1))
        return (
            token > 1
            and claim["lost_window"] is None
            and claim["attempt"] == 1
            and not fin_ok.get((name, token - 1))
            and (previous is None or previous["window"] < claim["window"])
        )

    takeovers = {key for key in claims if took_over(*key)}
    # Windows whose run the policy cut: by the next window on its own
    # replica, or taken over by the next window's claim elsewhere.
    replaced_windows = {
        (r["name"], r["window"]) for r in runs.values() if r["how"] == "replaced"
    } | {
        (name, claims[name, token - 1]["window"])
        for name, token in takeovers
        if (name, token - 1) in claims
    }

    # Overlaps: a run starting before an earlier-started run of its schedule
    # ended. With replace, a run whose lease was taken over (the older
    # token: its run may even start a little after the taker's) may overlap
    # the runs of later tokens until its holder's next renewal is refused:
    # it must end within lease/3 (+ noise) of the start of the run that took
    # it over (the claim of the next token; a run that ends before its
    # first renewal may also overlap that run's successors, on the bound).
    takeover_bound = lease / 3 + 0.5
    # Unless the store went away before that renewal: then the refusal
    # cannot come, and the run is fenced at 90 % of its lease (reckoned
    # from its claim at the latest: a renewal before the takeover only
    # moves it earlier) - the failure table's "store unreachable" row.
    fence_bound = 0.9 * lease + 0.5

    def taken_over_at(run: dict[str, Any]) -> float | None:
        """When the next claim took *run*'s lease over (its run's start)."""
        name, token = run["name"], run["token"]
        if (name, token + 1) not in takeovers:
            return None
        taker = runs.get((name, token + 1))
        return taker["start"] if taker is not None else claims[name, token + 1]["t"]

    def takeover_ok(old: dict[str, Any], taken: float) -> bool | None:
        """True: within lease/3; None: within the fence, the store away."""
        if old["end"] <= taken + takeover_bound:
            return True
        claimed = claims.get((old["name"], old["token"]), {}).get("t", math.inf)
        stopped, returned = outage.down_at, outage.back_at
        assert stopped is not None  # noqa: S101 - the outage ran
        assert returned is not None  # noqa: S101
        if (
            stopped <= taken + takeover_bound
            and taken <= returned
            and old["end"] <= claimed + fence_bound
        ):
            return None
        return False

    overlaps = []
    takeover_overlaps: list[tuple[dict[str, Any], dict[str, Any], float]] = []
    fenced_overlaps: list[tuple[dict[str, Any], dict[str, Any], float]] = []
    for rs in by_schedule.values():
        rs.sort(key=lambda r: r["start"])
        longest: dict[str, Any] | None = None
        for run in rs:
            if longest is not None and run["start"] < longest["end"]:
                overlap = min(longest["end"], run["end"]) - run["start"]
                old, new = sorted((longest, run), key=lambda r: r["token"])
                taken = taken_over_at(old)
                verdict = (
                    False
                    if taken is None or not new["token"] > old["token"] > 0
                    else takeover_ok(old, taken)
                )
                if verdict:
                    takeover_overlaps.append((old, new, overlap))
                elif verdict is None:
                    fenced_overlaps.append((old, new, overlap))
                else:
                    overlaps.append((longest, run))
            if longest is None or run["end"] > longest["end"]:
                longest = run

    # Lost windows: what the hooks heard, and the claims' answers (a replica
    # killed between the store's answer and the hook still wrote the answer).
    recorded_lost = set(hook_lost) | set(answer_lost)
    down, back = outage.down_at, outage.back_at
    assert down is not None  # noqa: S101 - the outage ran
    assert back is not None  # noqa: S101
    claims_by_window: dict[tuple[str, int], list[tuple[int, dict[str, Any]]]] = (
        defaultdict(list)
    )
    for (name, token), claim in claims.items():
        claims_by_window[name, claim["window"]].append((token, claim))

    def unheard(name: str, window: int) -> list[tuple[str, float]]:
        """Claims of this window whose answer never came: their replica died."""
        return [
            (r, at)
            for r, batch, at in intents.get((name, window), [])
            if (r, batch) not in answered and r in killed
        ]

    def explain(name: str, window: int) -> tuple[str, dict[str, Any]]:  # noqa: PLR0911
        """Why window *window* of *name* was lost: its holder's fate."""
        held = claims_by_window.get((name, window))
        if not held:
            # Nobody logged winning it: a replica that sent the claim and died
            # before its answer came.
            if askers := unheard(name, window):
                return "killed before its claim's answer", {"asked_by": askers}
            return "unexplained", {"claims": "none logged"}
        token, claim = max(held, key=lambda item: item[0])
        holder = claim["replica"]
        death = killed.get(holder, math.inf)
        run = runs.get((name, token))
        detail = {"token": token, "holder": holder, "holder_killed": death, "run": run}
        if fin_ok.get((name, token)):
            return "unexplained", {**detail, "outcome": "recorded"}
        errors = fin_err.get((name, token), [])
        if run is None:
            if death < math.inf:
                return "killed before its run began", detail
            return "unexplained", detail
        if run["how"] == "killed":
            return "killed mid-run", detail
        if any(down <= at <= back + lease for at in errors) or (
            down - lease <= run["end"] <= back
        ):
            return "cut off by the outage", detail
        if death >= run["end"]:
            return "killed before its outcome was recorded", detail
        return "unexplained", detail

    lost_amo: dict[str, list[dict[str, Any]]] = defaultdict(list)
    lost_alo_recorded = []
    for name, window in sorted(recorded_lost):
        if schedules[name]["delivery"] == "at_least_once":
            lost_alo_recorded.append((name, window))
            continue
        why, detail = explain(name, window)
        lost_amo[why].append({"name": name, "window": window, **detail})
    # Missed windows beyond catch_up_limit (catch_up="all"), recorded lost
    # by the claim that found the gap: counted, with no window named and
    # no on_window_lost, but in its answer and its on_catch_up event.
    catch_up_lost = Counter(
        {name: sum(n for *_, n in told) for name, told in answer_catch_up.items()}
    )
    hook_catch_up_lost = Counter()
    for ev in hook_catch_up:
        hook_catch_up_lost[ev["n"]] += ev["lost"]
    for name, n in sorted(catch_up_lost.items()):
        if schedules[name]["delivery"] == "at_most_once":
            lost_amo["lost beyond catch_up_limit"] += [{"name": name}] * n
    # catch_up="all": the windows the first catch-up answer after the
    # outage owes (missed - lost, oldest first, one grid step apart up to
    # the window wanted), against what became of each since. A later claim
    # that won a window past owed ones, straight after the claim of a
    # window before them (the next token), passed them over: its answer
    # records up to its `lost` of them lost (the oldest; a jump to the
    # latest window re-applies the limit, a replace takeover gives up a
    # caught-up run's owed windows). An owed window nobody claimed and no
    # answer recorded lost, or claimed and released unrun (a claim that
    # came back after the next window began, at most once: cancelled), was
    # neither run nor recorded lost.
    owed_windows: dict[str, list[int]] = {}
    owed_from: dict[str, int] = {}  # the token of the first catch-up answer
    for (name, token), claim in sorted(claims.items(), key=lambda i: i[1]["t"]):
        if (
            config.get("catch_up") == "all"
            and name not in owed_windows
            and back <= claim["t"]
            and claim["missed"]
        ):
            owed = claim["missed"] - claim["catch_up_lost"]
            step = schedules[name]["interval_us"]
            owed_windows[name] = [claim["window"] + i * step for i in range(owed)]
            owed_from[name] = token
    claimed_windows: dict[tuple[str, int], list[int]] = defaultdict(list)
    tokens_of: dict[str, list[int]] = defaultdict(list)
    for (name, token), c in claims.items():
        claimed_windows[name, c["window"]].append(token)
        tokens_of[name].append(token)
    owed_dropped: dict[str, list[int]] = {}
    owed_released: dict[str, list[int]] = {}
    owed_passed_lost = 0  # recorded lost by a later answer that passed them
    for name, ws in owed_windows.items():
        tokens = sorted(t for t in tokens_of[name] if t > owed_from[name])
        passed: dict[int, list[int]] = defaultdict(list)  # token -> windows
        for w in ws:
            held = claimed_windows.get((name, w))
            if held:
                if all(
                    (name, t) in cancelled_sent and (name, t) not in runs for t in held
                ) and not answer_lost.get((name, w)):
                    owed_released.setdefault(name, []).append(w)
                continue
            if answer_lost.get((name, w)):
                continue  # a claim unlogged (its replica died), found abandoned
            passer = next((t for t in tokens if claims[name, t]["window"] > w), None)
            prior = None if passer is None else claims.get((name, passer - 1))
            if passer is not None and prior is not None and prior["window"] < w:
                passed[passer].append(w)
            else:
                owed_dropped.setdefault(name, []).append(w)
        for token, windows in passed.items():
            recorded = min(len(windows), claims[name, token]["catch_up_lost"])
            owed_passed_lost += recorded
            if len(windows) > recorded:  # the oldest are the ones recorded
                owed_dropped.setdefault(name, []).extend(windows[recorded:])
    catch_up_lost_alo = sum(
        n
        for name, n in catch_up_lost.items()
        if schedules[name]["delivery"] == "at_least_once"
    )

    # At least once: every window claimed (or started, or recorded lost)
    # eventually completed, unless it was still in flight when the run ended.
    alo_windows = {
        key for key in by_window if schedules[key[0]]["delivery"] == "at_least_once"
    }
    alo_windows |= {
        (name, c["window"])
        for (name, _), c in claims.items()
        if schedules[name]["delivery"] == "at_least_once"
    }
    alo_windows |= set(lost_alo_recorded)
    alo_lost = []
    alo_exempt = 0
    alo_replaced = 0
    for key in sorted(alo_windows):
        rs = by_window.get(key, [])
        if any(r["how"] in COMPLETED for r in rs):
            continue
        if key in replaced_windows:  # overlap="replace": the next window won
            alo_replaced += 1
            continue
        last_claim = max(
            (
                c["t"]
                for (n, _), c in claims.items()
                if n == key[0] and c["window"] == key[1]
            ),
            default=-math.inf,
        )
        if any(r["final"] for r in rs) or (not rs and last_claim >= final_kill - lease):
            alo_exempt += 1
            continue
        alo_lost.append(
            {
                "name": key[0],
                "window": key[1],
                "runs": rs,
                "recorded_lost": key in recorded_lost,
            }
        )

    # Fenced runs (a replaced run is not: its end is relabelled "replaced").
    fenced_runs = [r for r in runs.values() if r["how"] == "fenced"]
    replaced_runs = [r for r in runs.values() if r["how"] == "replaced"]
    # At least once: a window whose run was replaced, run again (attempt + 1)
    # because its stored outcome is "cancelled".
    replaced_rerun = [
        {k: r[k] for k in ("name", "window", "attempt", "token", "replica", "start")}
        for r in runs.values()
        if r["attempt"] > 1
        and any(
            o["how"] == "replaced" and o["attempt"] == r["attempt"] - 1
            for o in by_window[r["name"], r["window"]]
        )
    ]
    fenced_in_outage = [r for r in fenced_runs if down <= r["end"] <= back + lease]

    # Recovery after the outage.
    after = sorted(
        ((r["start"], r) for r in runs.values() if r["start"] >= back),
        key=lambda item: item[0],
    )
    first_any = after[0][0] - back if after else math.inf
    # A run cut by its fence at once (its claim answered after its lease
    # had passed, by the replica's reckoning) did no work: not a recovery.
    at_once = [
        r for _, r in after if r["how"] == "fenced" and r["end"] - r["start"] < 0.5
    ]
    after = [
        (start, r)
        for start, r in after
        if not (r["how"] == "fenced" and r["end"] - r["start"] < 0.5)
    ]
    first_after = after[0][0] - back if after else math.inf
    per_schedule_first = {}
    for start, run in after:
        per_schedule_first.setdefault(run["name"], start - back)
    during = [r for r in runs.values() if down + 1 < r["start"] < back]
    # Replicas alive through the return: how long each took to hear from
    # the store again (its first claim answered), or None if it died first.
    through = {
        name: killed.get(name, math.inf)
        for name, born in replicas.started.items()
        if born < back < killed.get(name, math.inf)
    }
    replica_back: dict[str, float | None] = {}
    for at, name in sorted(answers):
        if name in through and at >= back and name not in replica_back:
            replica_back[name] = at - back
    for name, death in through.items():
        if name not in replica_back:
            replica_back[name] = None if death < math.inf else math.inf
        elif replica_back[name] > death - back:  # type: ignore[operator]
            replica_back[name] = None

    # Caught-up runs: catching_up, and a window older than the one due
    # when the run started (the next window's fire instant had passed).
    def older_than_due(run: dict[str, Any]) -> bool:
        schedule = schedules[run["name"]]
        slack = schedule["jitter"] * schedule["interval_us"] / 2
        return (
            run["catching_up"]
            and run["window"] + schedule["interval_us"] + slack < run["start"] * 1e6
        )

    caught_up = sorted(
        (r for r in runs.values() if r["start"] >= back and older_than_due(r)),
        key=lambda r: r["start"],
    )
    caught_up_before = [
        r for r in runs.values() if r["start"] < back and older_than_due(r)
    ]
    caught_by_schedule: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in caught_up:
        caught_by_schedule[run["name"]].append(run)
    caught_out_of_order = []
    for name, rs in sorted(caught_by_schedule.items()):
        order = [(r["window"], r["attempt"]) for r in rs]
        if any(b <= a for a, b in itertools.pairwise(order)):
            caught_out_of_order.append({"name": name, "windows": order})

    # Fires per schedule in the first second after the return. Windows the
    # outage made miss are owed with catch_up="all": up to the limit of them
    # (+ the latest) may run back to back.
    limit = config.get("catch_up_limit", 10)
    bursts = []
    first_second = Counter(
        r["name"] for r in runs.values() if back <= r["start"] <= back + 1
    )
    for name, count in sorted(first_second.items()):
        schedule = schedules[name]
        slack = schedule["jitter"] * schedule["interval_us"] / 2e6
        owed = 1
        if config.get("catch_up") == "all":
            owed = max(1, min(grid_starts(schedule, down, back), limit + 1))
        allowed = owed + grid_starts(schedule, back, back + 1 + slack)
        if schedule["delivery"] == "at_least_once":
            allowed += 1  # one abandoned window run again
        if count > allowed:
            bursts.append({"name": name, "fires": count, "allowed": allowed})

    # The stores' lost counters against the logs: windows recorded lost
    # (hooks, claims' answers) plus those lost beyond catch_up_limit. A
    # claim whose replica died before its answer came may have recorded
    # one more lost window, or (catch_up="all", after the outage) a
    # catch-up's worth of them.
    logged_lost = Counter(name for name, _ in recorded_lost)
    unheard_claims = Counter(name for name, window in intents if unheard(name, window))
    unheard_catch_up = Counter(
        name
        for name, window in intents
        if config.get("catch_up") == "all"
        and any(back <= at for _, at in unheard(name, window))
    )
    counter_mismatch = []
    for name in sorted(schedules):
        stored = state.get(name, {}).get("lost", 0)
        logged = logged_lost.get(name, 0) + catch_up_lost.get(name, 0)
        slack = unheard_claims.get(name, 0) + unheard_catch_up.get(
            name, 0
        ) * grid_starts(schedules[name], down, back)
        if not logged <= stored <= logged + slack:
            counter_mismatch.append(
                {
                    "name": name,
                    "store": stored,
                    "logs": logged,
                    "catch_up_lost": catch_up_lost.get(name, 0),
                }
            )
    # Every catch-up that recorded lost windows is reported by on_catch_up,
    # unless its replica died between the answer and the hook.
    catch_up_unreported = unreported_catch_ups(
        sorted(events, key=lambda ev: (ev["r"], ev["t"]))
    )
    store_alo_lost = sum(
        state.get(n, {}).get("lost", 0)
        for n, s in schedules.items()
        if s["delivery"] == "at_least_once"
    )
    tokens_in_store = sum(s.get("token", 0) for s in state.values())

    hung = [r for r in runs.values() if r["hang"]]
    return {
        "runs": runs,
        "fired": len(runs),
        "fired_by_kind": Counter(r["kind"] for r in runs.values()),
        "completed": sum(r["how"] in COMPLETED for r in runs.values()),
        "hung": len(hung),
        "hung_timed_out": sum(r["how"] == "timeout" for r in hung),
        "how": Counter(r["how"] for r in runs.values()),
        "same_attempt": same_attempt,
        "amo_completed_twice": amo_completed_twice,
        "amo_started_twice": amo_started_twice,
        "alo_completed_twice": alo_completed_twice,
        "overlaps": overlaps,
        "takeover_overlaps": takeover_overlaps,
        "fenced_overlaps": fenced_overlaps,
        "takeovers": len(takeovers),
        "replaced_runs": replaced_runs,
        "replaced_events": replaced_events,
        "replaced_rerun": replaced_rerun,
        "alo_replaced": alo_replaced,
        "catch_up_events": hook_catch_up,
        "catch_up_lost": sum(catch_up_lost.values()),
        "catch_up_lost_alo": catch_up_lost_alo,
        "hook_catch_up_lost": sum(hook_catch_up_lost.values()),
        "catch_up_unreported": catch_up_unreported,
        "caught_up": caught_up,
        "owed_windows": sum(len(ws) for ws in owed_windows.values()),
        "owed_schedules": len(owed_windows),
        "owed_dropped": owed_dropped,
        "owed_released": owed_released,
        "owed_passed_lost": owed_passed_lost,
        "caught_up_schedules": len(caught_by_schedule),
        "caught_up_before": caught_up_before,
        "caught_out_of_order": caught_out_of_order,
        "lost_amo": lost_amo,
        "lost_alo": alo_lost,
        "lost_alo_recorded": lost_alo_recorded,
        "alo_exempt": alo_exempt,
        "alo_windows": len(alo_windows),
        "fenced_runs": fenced_runs,
        "fenced_in_outage": fenced_in_outage,
        "hook_fenced": len(hook_fenced),
        "renew_failures": dict(renew_failures),
        "first_after": first_after,
        "first_any": first_any,
        "fenced_at_once": at_once,
        "per_schedule_first": per_schedule_first,
        "replica_back": replica_back,
        "late_wins": late_wins,
        "started_during_outage": during,
        "first_second": dict(first_second),
        "bursts": bursts,
        "counter_mismatch": counter_mismatch,
        "store_lost": sum(s.get("lost", 0) for s in state.values()),
        "store_alo_lost": store_alo_lost,
        "logged_lost": sum(logged_lost.values()) + sum(catch_up_lost.values()),
        "unheard_claims": sum(unheard_claims.values()),
        "claims_logged": len(claims),
        "tokens_in_store": tokens_in_store,
        "anomalies": anomalies,
    }


# --- report ----------------------------------------------------------------------


def _ok(passed: bool) -> str:  # noqa: FBT001
    return "PASS" if passed else "FAIL"


def _replica_back(back: dict[str, float | None]) -> str:
    """Each surviving replica's delay to its first claim answered."""
    if not back:
        return "none"
    shown = [
        f"{name} {'died first' if delay is None else f'{delay:.2f} s'}"
        for name, delay in sorted(back.items())
    ]
    return "store answered again after: " + ", ".join(shown)


def report(  # noqa: PLR0913, PLR0917 - everything the table shows
    args: argparse.Namespace,
    config: dict[str, Any],
    result: dict[str, Any],
    replicas: Replicas,
    outage: Outage,
    wall: float,
    command: list[str],
) -> tuple[bool, dict[str, Any]]:
    """Print the table; the JSON payload and whether every requirement passed."""
    assert outage.down_at is not None  # noqa: S101
    assert outage.back_at is not None  # noqa: S101
    replace = args.overlap == "replace"
    lost_amo = result["lost_amo"]
    explained = {why: len(v) for why, v in lost_amo.items() if why != "unexplained"}
    unexplained = len(lost_amo.get("unexplained", []))
    lost_amo_total = sum(len(v) for v in lost_amo.values())
    by_cause = ", ".join(f"{n} {why}" for why, n in sorted(explained.items())) or "none"
    firsts = sorted(result["per_schedule_first"].values())
    dup = len(result["same_attempt"]) + len(result["amo_completed_twice"])
    fired_kinds = result["fired_by_kind"]
    slow = [
        d
        for d in result["replica_back"].values()
        if d is not None and d > RECOVERY_LIMIT
    ]
    rows: list[tuple[str, str, str, bool | str | None]] = []

    def add(measure: str, value: str, required: str, verdict: object) -> None:
        assert verdict is None or isinstance(verdict, (bool, str))  # noqa: S101
        rows.append((measure, value, required, verdict))

    fired = result["fired"]
    add(
        "windows fired (runs started)",
        f"{fired} ({fired_kinds['loop']} loop runs, {fired_kinds['trigger']} "
        f"dispatches); {result['completed']} completed",
        "",
        None,
    )
    add(
        "hung past their timeout",
        f"{result['hung']} ({100 * result['hung'] / max(1, fired):.1f} %), "
        f"{result['hung_timed_out']} cut by the timeout",
        "~10 %",
        None,
    )
    add(
        "replicas SIGKILLed / restarted",
        f"{len(replicas.killed) - len(replicas.final)} mid-run + "
        f"{len(replicas.final)} at the end; {len(replicas.crashed)} crashed",
        "no crash",
        not replicas.crashed,
    )
    add(
        "duplicates",
        f"{len(result['same_attempt'])} same window+attempt twice, "
        f"{len(result['amo_completed_twice'])} at-most-once windows completed twice",
        "0",
        dup == 0,
    )
    add(
        "overlaps (same schedule, wall time)",
        str(len(result["overlaps"]))
        + (" (replace takeovers within the bound apart)" if replace else ""),
        "0",
        not result["overlaps"],
    )
    bound = args.lease / 3 + 0.5
    pairs = result["takeover_overlaps"]
    away = result["fenced_overlaps"]
    add(
        "replace takeover overlap, max",
        f"{max((o for *_, o in pairs), default=0.0):.3f} s over {len(pairs)} "
        f"overlapping pairs ({result['takeovers']} claims took a lease over); "
        f"{len(away)} more ended by their fence, the store away at the renewal "
        f"(max {max((o for *_, o in away), default=0.0):.3f} s, "
        f"<= 0.9 lease + 0.5 s)"
        if replace
        else f"none (overlap={args.overlap})",
        f"<= lease/3 + 0.5 = {bound:.2f} s" if replace else "",
        True if replace else None,
    )
    add(
        "replaced runs",
        f"{len(result['replaced_runs'])} cut by the next window "
        f"({result['replaced_events']} on_run_finished 'replaced'); "
        f"{len(result['replaced_rerun'])} at-least-once replaced windows run "
        "again",
        "info",
        None,
    )
    add(
        "at_least_once lost",
        f"{len(result['lost_alo'])} of {result['alo_windows']} windows never "
        f"completed ({result['alo_exempt']} in flight at the end, "
        f"{result['alo_replaced']} replaced by the next window, exempt); "
        f"store recorded {result['store_alo_lost']} lost "
        f"({result['catch_up_lost_alo']} beyond catch_up_limit)",
        "0",
        not result["lost_alo"],
    )
    add("at_most_once lost: total", str(lost_amo_total), "", None)
    add(
        "at_most_once lost: explained",
        f"{sum(explained.values())}: {by_cause}",
        "",
        None,
    )
    add("at_most_once lost: unexplained", str(unexplained), "0", unexplained == 0)
    add(
        "store lost counters vs logs",
        f"store {result['store_lost']}, logs {result['logged_lost']} "
        f"({result['catch_up_lost']} beyond catch_up_limit; "
        f"{result['unheard_claims']} windows' claims in flight at a kill); "
        f"{len(result['counter_mismatch'])} schedules disagree",
        "agree",
        not result["counter_mismatch"],
    )
    events = result["catch_up_events"]
    unreported = result["catch_up_unreported"]
    add(
        "catch-ups reported (on_catch_up)",
        f"{len(events)} events ({sum(e['kind'] == 'loop' for e in events)} "
        f"loops), {sum(e['missed'] for e in events)} windows missed, "
        f"{sum(e['running'] for e in events)} to run, "
        f"{result['hook_catch_up_lost']} lost; claims' answers recorded "
        f"{result['catch_up_lost']} lost: {len(unreported)} answers "
        f"({sum(u['lost'] for u in unreported)} windows) never reported",
        "every lost reported",
        not unreported,
    )
    add(
        "fenced runs",
        f"{len(result['fenced_runs'])} cut by their fence "
        f"({len(result['fenced_in_outage'])} in the outage, "
        f"{len(result['fenced_at_once'])} at once after it, "
        f"{sum(n for *_, n in result['late_wins'])} claims won after "
        f"waiting > 0.9 lease); "
        f"{result['hook_fenced']} on_run_fenced events",
        "",
        None,
    )
    median = statistics.median(firsts) if firsts else math.nan
    add(
        "recovery after the outage",
        f"first fire {result['first_after']:.3f} s after PostgreSQL accepted "
        f"again (outage {outage.back_at - outage.down_at:.1f} s); per schedule "
        f"median {median:.2f} s, max {max(firsts, default=math.nan):.2f} s",
        f"<= {RECOVERY_LIMIT:g} s",
        result["first_after"] <= RECOVERY_LIMIT,
    )
    add(
        "replicas alive through the return",
        _replica_back(result["replica_back"]),
        f"info (<= {RECOVERY_LIMIT:g} s)",
        "WARN" if slow else None,
    )
    add(
        "fires in the first second after it",
        f"max {max(result['first_second'].values(), default=0)} per schedule; "
        f"{len(result['bursts'])} schedules above their due windows",
        "<= due windows"
        + (
            f" (+ missed, <= {args.catch_up_limit + 1})"
            if args.catch_up == "all"
            else ""
        ),
        not result["bursts"],
    )
    caught = result["caught_up"]
    add(
        "caught-up runs after the outage",
        f"{len(caught)} runs of windows older than the one due, on "
        f"{result['caught_up_schedules']} schedules "
        f"({sum(r['kind'] == 'loop' for r in caught)} loop runs); "
        f"{len(result['caught_out_of_order'])} schedules out of window order; "
        f"{len(result['caught_up_before'])} such runs before it",
        "in window order",
        not result["caught_out_of_order"],
    )
    if args.catch_up == "all":
        dropped = result["owed_dropped"]
        released = result["owed_released"]
        lost_owed = sum(len(ws) for ws in dropped.values())
        released_owed = sum(len(ws) for ws in released.values())
        both = set(dropped) | set(released)
        add(
            "owed windows after the outage, not run",
            f"{lost_owed + released_owed} of {result['owed_windows']} owed by the "
            f"first catch-up answer ({result['owed_schedules']} schedules) neither "
            f"run nor recorded lost: {lost_owed} never claimed, {released_owed} "
            f"claimed and released unrun ({len(both)} schedules, "
            f"{sum(n.startswith('loop') for n in both)} loops); "
            f"{result['owed_passed_lost']} recorded lost by a later answer",
            "info (0 expected)",
            "WARN" if both else None,
        )
    add("wall time", f"{wall:.1f} s", f"<= {WALL_LIMIT:g} s", wall <= WALL_LIMIT)
    headers = ["measure", "value", "required", "verdict"]
    table = [
        [m, v, r, "" if p is None else p if isinstance(p, str) else _ok(p)]
        for m, v, r, p in rows
    ]
    widths = [
        max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(headers)
    ]
    print(
        f"\n### Torture: {args.replicas} replicas, {args.loops} loops, "
        f"{args.triggers} triggers, lease {args.lease:g} s, seed {args.seed}, "
        f"overlap={args.overlap}, catch_up={args.catch_up} "
        f"(limit {args.catch_up_limit})\n"
    )
    print(
        "| "
        + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
        + " |"
    )
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in table:
        print(
            "| "
            + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
            + " |"
        )
    passed = all(p for *_, p in rows if isinstance(p, bool))
    print("\nPASS: every requirement met" if passed else "\nFAIL: see the table")

    def brief_run(run: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if run is None else {k: run[k] for k in sorted(run)}

    examples = {
        "same_attempt": result["same_attempt"][:10],
        "amo_completed_twice": result["amo_completed_twice"][:10],
        "overlaps": [[brief_run(a), brief_run(b)] for a, b in result["overlaps"][:10]],
        "takeover_overlaps": [
            [brief_run(a), brief_run(b), round(o, 4)]
            for a, b, o in sorted(
                result["takeover_overlaps"], key=lambda item: -item[2]
            )[:10]
        ],
        "fenced_overlaps": [
            [brief_run(a), brief_run(b), round(o, 4)]
            for a, b, o in result["fenced_overlaps"][:10]
        ],
        "replaced_rerun": result["replaced_rerun"][:10],
        "caught_out_of_order": result["caught_out_of_order"][:10],
        "catch_up_unreported": result["catch_up_unreported"][:10],
        "owed_dropped": dict(list(result["owed_dropped"].items())[:20]),
        "owed_released": dict(list(result["owed_released"].items())[:20]),
        "lost_alo": result["lost_alo"][:50],
        "lost_amo_unexplained": lost_amo.get("unexplained", [])[:10],
        "bursts": result["bursts"],
        "counter_mismatch": result["counter_mismatch"],
        "anomalies": result["anomalies"][:10],
        "started_during_outage": result["started_during_outage"][:10],
    }
    payload = {
        "command": command,
        "seed": args.seed,
        "settings": {
            "duration_s": args.duration,
            "tail_s": args.tail,
            "outage_s": args.outage,
            "replicas": args.replicas,
            "loops": [
                {k: loop[k] for k in ("name", "interval", "timeout", "delivery")}
                for loop in config["loops"]
            ],
            "triggers": [
                {k: t[k] for k in ("name", "interval", "delivery")}
                for t in config["triggers"]
            ],
            "lease_s": args.lease,
            "sweep_tick_s": args.tick,
            "dispatch_timeout_s": args.timeout,
            "hang_rate": args.hang_rate,
            "kill_every_s": [1, 3],
            "overlap": args.overlap,
            "catch_up": args.catch_up,
            "catch_up_limit": args.catch_up_limit,
        },
        "table": [dict(zip(headers, row, strict=True)) for row in table],
        "passed": passed,
        "measures": {
            "fired": result["fired"],
            "completed": result["completed"],
            "ended_how": dict(result["how"]),
            "hung": result["hung"],
            "replicas_started": len(replicas.started),
            "kills": len(replicas.killed) - len(replicas.final),
            "crashed": replicas.crashed,
            "duplicates_same_attempt": len(result["same_attempt"]),
            "duplicates_at_most_once_completed": len(result["amo_completed_twice"]),
            "at_most_once_windows_started_twice": len(result["amo_started_twice"]),
            "at_least_once_windows_completed_twice": len(result["alo_completed_twice"]),
            "overlaps": len(result["overlaps"]),
            "replace_takeovers": result["takeovers"],
            "replace_takeover_overlaps": len(result["takeover_overlaps"]),
            "replace_takeover_overlap_max_s": max(
                (o for *_, o in result["takeover_overlaps"]), default=0.0
            ),
            "replaced_runs": len(result["replaced_runs"]),
            "replaced_events": result["replaced_events"],
            "at_least_once_replaced_windows_run_again": len(result["replaced_rerun"]),
            "at_least_once_replaced_windows_exempt": result["alo_replaced"],
            "catch_up_events": len(result["catch_up_events"]),
            "catch_up_lost_by_answers": result["catch_up_lost"],
            "catch_up_lost_by_hooks": result["hook_catch_up_lost"],
            "caught_up_runs_after_outage": len(result["caught_up"]),
            "caught_up_runs_before_outage": len(result["caught_up_before"]),
            "at_least_once_windows": result["alo_windows"],
            "at_least_once_lost": len(result["lost_alo"]),
            "at_least_once_exempt_in_flight_at_end": result["alo_exempt"],
            "at_least_once_recorded_lost_by_store": result["store_alo_lost"],
            "at_most_once_lost": lost_amo_total,
            "at_most_once_lost_by_cause": {why: len(v) for why, v in lost_amo.items()},
            "store_lost_total": result["store_lost"],
            "logged_lost_total": result["logged_lost"],
            "claims_logged": result["claims_logged"],
            "tokens_in_store": result["tokens_in_store"],
            "fenced_runs": len(result["fenced_runs"]),
            "fenced_in_outage": len(result["fenced_in_outage"]),
            "claim_batches_won_after_0.9_lease_of_waiting": result["late_wins"],
            "on_run_fenced_events": result["hook_fenced"],
            "renewals_refused_or_failed": result["renew_failures"],
            "outage": {
                "stopped_at": outage.down_at,
                "restart_command_at": outage.restart_at,
                "accepting_at": outage.back_at,
                "length_s": outage.back_at - outage.down_at,
            },
            "recovery_first_fire_s": result["first_after"],
            "recovery_first_start_s": result["first_any"],
            "runs_fenced_at_once_after_outage": [
                {
                    k: r[k]
                    for k in ("name", "window", "attempt", "replica", "start", "end")
                }
                for r in result["fenced_at_once"]
            ],
            "recovery_per_schedule_s": result["per_schedule_first"],
            "store_answered_again_per_surviving_replica_s": result["replica_back"],
            "fires_in_first_second": result["first_second"],
            "started_during_outage": len(result["started_during_outage"]),
            "wall_time_s": wall,
        },
        "examples": examples,
        "environment": {
            "python": sys.version.split()[0],
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "trio": metadata.version("trio"),
            "psycopg": metadata.version("psycopg"),
            "tickwork": metadata.version("tickwork"),
            "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    }
    return passed, payload


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--duration", type=float, default=150.0, help="seconds of chaos (default 150)"
    )
    parser.add_argument("--outage", type=float, default=30.0)
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--loops", type=int, default=12)
    parser.add_argument("--triggers", type=int, default=60)
    parser.add_argument("--lease", type=float, default=4.0)
    parser.add_argument("--tick", type=float, default=0.5, help="sweep interval")
    parser.add_argument(
        "--timeout", type=float, default=5.0, help="loop timeout and dispatch_timeout"
    )
    parser.add_argument("--hang-rate", type=float, default=0.1)
    parser.add_argument(
        "--warmup", type=float, default=5.0, help="before the first kill"
    )
    parser.add_argument(
        "--tail", type=float, default=None, help="calm seconds at the end (3 leases)"
    )
    parser.add_argument(
        "--overlap",
        choices=("skip", "buffer_one", "replace"),
        default="skip",
        help="the coordinated loops' overlap policy (default skip)",
    )
    parser.add_argument(
        "--catch-up",
        choices=("latest", "skip", "all"),
        default="latest",
        help="catch_up of the coordinated loops and both sweepers (default latest)",
    )
    parser.add_argument(
        "--catch-up-limit",
        type=int,
        default=10,
        help="catch_up_limit of the loops and sweepers (default 10)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--keep", action="store_true", help="keep the event files")
    args = parser.parse_args(argv)
    if args.tail is None:
        args.tail = 3 * args.lease
    if args.duration < args.outage + 30:
        parser.error("--duration must leave 30 s beside the outage")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run, analyse, print, write; 1 if a requirement failed."""
    args = parse(argv)
    command = [Path(sys.executable).name, *map(str, sys.argv)]
    t0 = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="tickwork-torture-"))
    print(f"torture: {shlex.join(command)}\n  work files in {work}")
    server = Server()
    replicas = Replicas(work, work / "config.json", args.seed)
    outage = Outage(server, args.outage)
    try:
        server.start()
        config = build_config(args, server)
        (work / "config.json").write_text(json.dumps(config, indent=1))
        triggers = len(config["triggers"])
        print(f"  [{time.monotonic() - t0:6.1f} s] PostgreSQL up, {triggers} triggers")
        chaos(args, outage, replicas, t0)
        state = final_state(config)
        cpu = {
            "postgres_s": round(outage.cpu_before + postgres_cpu(server), 1),
            "replicas_s": round(
                sum(
                    getattr(resource.getrusage(resource.RUSAGE_CHILDREN), f)
                    for f in ("ru_utime", "ru_stime")
                ),
                1,
            ),
        }
    finally:
        for name in sorted(replicas.alive):
            replicas.kill(name, final=True)
        if outage.thread.is_alive():  # an error in the middle: let it finish
            outage.thread.join(timeout=2 * args.outage)
        server.destroy()
    result = analyse(config, load_events(work), replicas, outage, state, args.lease)
    wall = time.monotonic() - t0
    cpu["cores_used"] = round((cpu["postgres_s"] + cpu["replicas_s"]) / wall, 2)
    passed, payload = report(args, config, result, replicas, outage, wall, command)
    payload["measures"]["cpu"] = cpu
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    shown = args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out
    print(f"wrote {shown}")
    if passed and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"event files kept in {work}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
