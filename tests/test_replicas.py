"""Several replicas sharing one store, under MockClock and seeded fault plans.

Each "replica" is a `Scheduler` (coordinated loops) or a `TriggerSweeper`
loop talking to one `MemoryTriggerStore` through its own `FaultyStore`
(latency, errors, lost replies, a skewed wall clock). A plan kills replicas
(their store goes away, then their scope is cancelled: nothing is released,
as with SIGKILL), restarts them, and takes the store away from everyone for
a while. Over many seeds the properties of the lease rules must hold:

- no window runs twice (at most once), and a window runs again only after
  its earlier holder was killed or cut (at least once);
- no two runs of one schedule overlap in time, on any replicas;
- at most once: the windows recorded lost are exactly windows whose holder
  was killed or cut mid-run;
- at least once: every claimed window ends with an outcome recorded.
"""

from __future__ import annotations

import contextvars
import itertools
import math
import random
from collections import Counter, defaultdict
from typing import TYPE_CHECKING

import attrs
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickwork import Loop, Scheduler, current_run
from tickwork._context import utc
from tickwork.testing import FaultyStore
from tickwork.triggers import MemoryTriggerStore, TriggerRow, TriggerSweeper

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from tickwork._lease import Claim, Claimed
    from tickwork.triggers._store import Kind

EPOCH = 1_800_000_000.0  # the wall clock's reading at Trio time 0
LEASE = 6.0


def wall() -> float:
    """The true wall clock: follows Trio's (mock) clock."""
    return EPOCH + trio.current_time()


@attrs.define
class Run:
    """One run of a window, as the job saw it."""

    name: str
    window: float | datetime
    attempt: int
    replica: str
    start: float
    end: float = math.inf
    completed: bool = False


@attrs.define
class World:
    """The shared store, the replicas alive, and what ran."""

    store: MemoryTriggerStore
    rng: random.Random
    runs: list[Run] = attrs.Factory(list)
    killed_mid_run: set[tuple[str, object]] = attrs.Factory(set)
    lost: list[tuple[str, object]] = attrs.Factory(list)
    windows: dict[tuple[str, int], datetime] = attrs.Factory(dict)
    """(name, token) -> window, for every claim a replica heard it won."""
    recorded: set[tuple[str, object]] = attrs.Factory(set)
    """Windows whose outcome a replica heard was recorded."""
    uncertain: set[tuple[str, object]] = attrs.Factory(set)
    """Windows whose outcome a replica sent without hearing back."""
    claimed_by: dict[str, set[tuple[str, object]]] = attrs.Factory(dict)
    """Replica name -> the windows it heard it won."""
    killed_holding: set[tuple[str, object]] = attrs.Factory(set)
    """Windows won by a replica that was killed before it heard the outcome
    recorded (mid-run, or after the run while recording)."""
    """Windows a replica found abandoned and recorded lost (from the hook)."""
    replicas: dict[str, tuple[trio.CancelScope, FaultyStore, Scheduler]] = (
        attrs.Factory(dict)
    )
    serial: int = 0
    stores: list[FaultyStore] = attrs.Factory(list)

    @property
    def lost_replies(self) -> int:
        """How many answers the replicas' stores dropped."""
        return sum(store.injected["lost_reply"] for store in self.stores)


def job(world: World, name: str) -> object:
    """A loop body that records its run and takes a random time (some > lease/3)."""

    async def run() -> None:
        context = current_run()
        record = Run(
            name,
            context.window,
            context.attempt,
            replica_of(context),
            trio.current_time(),
        )
        world.runs.append(record)
        try:
            await trio.sleep(world.rng.choice([0.1, 0.5, 1.0, 2.5, 4.0]))
            record.completed = True
        finally:
            record.end = trio.current_time()

    return run


def replica_of(_context: object) -> str:
    """The replica running this task (set per replica task below)."""
    return CURRENT_REPLICA.get()


CURRENT_REPLICA: contextvars.ContextVar[str] = contextvars.ContextVar("replica")


@attrs.define
class LostWindows:
    """A hook that notes each window recorded lost."""

    world: World

    def on_window_lost(self, *, name: str, window: datetime, kind: str) -> None:
        """Note it."""
        self.world.lost.append((name, window))


class Recording(FaultyStore):
    """A replica's faulty store that also notes what the replica heard."""

    world: World

    async def claim_windows(
        self, kind: Kind, claims: Sequence[Claim], *, lease: float, holder: str
    ) -> Sequence[Claimed]:
        """Note each window won, by token."""
        answers = await super().claim_windows(kind, claims, lease=lease, holder=holder)
        for answer in answers:
            if answer.won and answer.window is not None:
                window = utc(answer.window)
                self.world.windows[answer.key, answer.token] = window
                self.world.claimed_by.setdefault(holder, set()).add(
                    (answer.key, window)
                )
        return answers

    async def finish_windows(
        self, kind: Kind, outcomes: Sequence[tuple[str, int, str]]
    ) -> Sequence[bool]:
        """Note each outcome recorded."""
        try:
            done = await super().finish_windows(kind, outcomes)
        except Exception:
            for key, token, _ in outcomes:  # perhaps recorded, answer lost
                self.world.uncertain.add((key, self.world.windows[key, token]))
            raise
        for (key, token, _), ok in zip(outcomes, done, strict=True):
            if ok:
                self.world.recorded.add((key, self.world.windows[key, token]))
        return done


async def start_replica(
    world: World,
    nursery: trio.Nursery,
    loops: list[str],
    delivery: str,
    faults: bool,  # noqa: FBT001
) -> None:
    """Start one more replica: a Scheduler of coordinated loops on its own faults."""
    world.serial += 1
    name = f"r{world.serial}"
    faulty = Recording(
        world.store,
        latency=world.rng.choice([0.0, 0.01, 0.2]),
        error_rate=world.rng.choice([0.0, 0.05]) if faults else 0.0,
        lost_reply_rate=world.rng.choice([0.0, 0.02]) if faults else 0.0,
        skew=world.rng.uniform(-0.5, 0.5),
        seed=world.rng.randrange(2**32),
        wall_clock=wall,
    )
    faulty.world = world
    world.stores.append(faulty)
    scheduler = Scheduler(
        [
            Loop(
                name=loop,
                fn=job(world, loop),  # type: ignore[arg-type]
                interval=3.0,
                jitter=0.2,
                coordinated=True,
                delivery=delivery,  # type: ignore[arg-type]
            )
            for loop in loops
        ],
        store=faulty,
        lease=LEASE,
        wall_clock=faulty.wall_clock,
        replica=name,
        grace=1.0,
        hooks=[LostWindows(world)],
    )
    scope = trio.CancelScope()
    world.replicas[name] = (scope, faulty, scheduler)

    async def live() -> None:
        CURRENT_REPLICA.set(name)
        with scope:
            await scheduler.run()

    nursery.start_soon(live)


def kill(world: World, name: str) -> None:
    """SIGKILL: the replica's store goes away first, so it releases nothing."""
    scope, faulty, _ = world.replicas.pop(name)
    faulty.go_down()
    for run in world.runs:
        if run.replica == name and run.end == math.inf:
            world.killed_mid_run.add((run.name, run.window))
    held = world.claimed_by.get(name, set())
    world.killed_holding |= held - world.recorded
    scope.cancel()


async def play(seed: int, delivery: str, faults: bool = True) -> World:  # noqa: FBT001, FBT002
    """Three replicas, two loops, 150 s with kills and restarts.

    With *faults*, replicas' stores also fail, lose replies, and go away
    for 15 s all at once.
    """
    rng = random.Random(seed)
    world = World(MemoryTriggerStore(clock=wall), rng)
    loops = ["renew", "reap"]
    async with trio.open_nursery() as nursery:
        for _ in range(3):
            await start_replica(world, nursery, loops, delivery, faults)
        outage_at = rng.uniform(40, 90)
        outage_done = False
        while trio.current_time() < 150:
            await trio.sleep(rng.uniform(1, 8))
            now = trio.current_time()
            if faults and not outage_done and now >= outage_at:
                outage_done = True
                for _, faulty, _ in world.replicas.values():
                    faulty.outage(now, now + 15)
            elif world.replicas and rng.random() < 0.4:
                kill(world, rng.choice(sorted(world.replicas)))
            if len(world.replicas) < 3:
                await start_replica(world, nursery, loops, delivery, faults)
        # The end: a calm stretch, then everyone stops gracefully.
        await trio.sleep(LEASE * 3)
        for _, _, scheduler in world.replicas.values():
            scheduler.stop(grace=10)
    return world


def check_no_overlap(world: World) -> None:
    """No two runs of one loop overlap in time, whichever replicas ran them."""
    by_name: dict[str, list[Run]] = defaultdict(list)
    for run in world.runs:
        by_name[run.name].append(run)
    for runs in by_name.values():
        runs.sort(key=lambda r: r.start)
        for earlier, later in itertools.pairwise(runs):
            assert earlier.end <= later.start, (earlier, later)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(seed=st.integers(0, 2**32 - 1))
def test_at_most_once_runs_each_window_once_never_overlapping(seed: int) -> None:
    """At most once: one run per window; lost windows are exactly killed ones."""
    world = trio.run(
        play, seed, "at_most_once", clock=trio.testing.MockClock(autojump_threshold=0)
    )
    counts = Counter((run.name, run.window) for run in world.runs)
    assert counts, "nothing ran"
    assert max(counts.values()) == 1, [k for k, v in counts.items() if v > 1]
    check_no_overlap(world)
    assert all(run.attempt == 1 for run in world.runs)
    # Lost: exactly the windows whose holder vanished (killed, or cut off
    # from the store) before its outcome was recorded. Every window killed
    # mid-run is recorded lost, once; no window whose outcome was recorded
    # is ever counted lost.
    lost = Counter(world.lost)
    assert max(lost.values(), default=1) == 1
    # The store counts every lost window; a replica logs (and the hook
    # hears) the ones it recorded and heard back about: a claim whose reply
    # was lost recorded its lost window unheard.
    stored = {row.name: row.state.lost for row in trio.run(world.store.loops)}
    for name in ("renew", "reap"):
        killed = {w for n, w in world.killed_mid_run if n == name}
        heard = {w for n, w in lost if n == name}
        assert len(heard) <= stored.get(name, 0)
        assert len(killed) <= stored.get(name, 0)
        assert killed <= heard or world.lost_replies
    assert not set(lost) & world.recorded
    # Every claimed window ends recorded or lost: nothing vanishes silently.
    claimed = {(key, window) for (key, _), window in world.windows.items()}
    accounted = (
        world.recorded
        | set(lost)
        | world.killed_mid_run
        | world.killed_holding
        | world.uncertain
    )
    late = {(r.name, r.window) for r in world.runs if r.start > 150}
    missing = claimed - accounted - late
    assert not missing, [
        (key, [r for r in world.runs if (r.name, r.window) == key]) for key in missing
    ]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(seed=st.integers(0, 2**32 - 1))
def test_at_least_once_reruns_only_what_was_cut_and_never_overlaps(seed: int) -> None:
    """At least once: a window runs again only after a cut; every one completes."""
    world = trio.run(
        play, seed, "at_least_once", clock=trio.testing.MockClock(autojump_threshold=0)
    )
    by_window: dict[tuple[str, object], list[Run]] = defaultdict(list)
    for run in sorted(world.runs, key=lambda r: r.start):
        by_window[run.name, run.window].append(run)
    check_no_overlap(world)
    for runs in by_window.values():
        # Attempts of a window come in order, each under a new claim.
        attempts = [run.attempt for run in runs]
        assert attempts == sorted(set(attempts)), runs
        # The window is delivered: some attempt completed (the plan ends with
        # a calm stretch of three leases, enough for a re-run).
        assert any(run.completed for run in runs), runs
    assert any(len(runs) > 1 for runs in by_window.values()) or not world.killed_mid_run


def test_at_least_once_without_store_faults_completes_each_window_once() -> None:
    """With kills only (every outcome reaches the store), no window completes twice."""
    for seed in range(3):
        world = trio.run(
            play,
            seed,
            "at_least_once",
            False,
            clock=trio.testing.MockClock(autojump_threshold=0),
        )
        completed = Counter(
            (run.name, run.window) for run in world.runs if run.completed
        )
        assert completed
        assert max(completed.values()) == 1
        # Each window killed mid-run was run again and completed.
        assert world.killed_mid_run <= set(completed), seed


def test_replica_names_must_be_clean_text() -> None:
    """A replica name is checked like every tickwork name."""
    with pytest.raises(ValueError, match="'replica'"):
        Scheduler(store=MemoryTriggerStore(), replica="bad\nname")


async def test_a_coordinated_loop_needs_a_store() -> None:
    """coordinated=True without Scheduler(store=...) is refused by name."""

    async def noop() -> None: ...

    with pytest.raises(ValueError, match=r"coordinated=True, which needs"):
        Scheduler([Loop(name="x", fn=noop, interval=1, coordinated=True)])


async def test_triggers_fire_once_per_window_across_three_sweepers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Three sweepers on one store: every 10 s window of a trigger fires once."""
    store = MemoryTriggerStore(clock=wall)
    row = await store.add(name="t", interval="10s")
    fired: list[tuple[str, float]] = []

    def sweeper(replica: str) -> TriggerSweeper:
        async def dispatch(trigger: TriggerRow) -> None:
            fired.append((replica, trio.current_time()))
            await trio.sleep(2)

        return TriggerSweeper(
            store,
            dispatch,
            tick_interval=1,
            min_interval=1,
            clock=FaultyStore(store, wall_clock=wall).wall_datetime,
            replica=replica,
        )

    schedulers = [Scheduler([sweeper(f"s{i}").loop()], seed=i) for i in range(3)]
    async with trio.open_nursery() as nursery:
        for scheduler in schedulers:
            await nursery.start(scheduler.run)
        await trio.sleep(95)
        for scheduler in schedulers:
            scheduler.stop()
    windows = [int(at // 10) for _, at in fired]
    assert windows == list(range(10)), fired
    [stored] = await store.all()
    assert stored.token == 10
    assert stored.anchor_us == row.anchor_us
