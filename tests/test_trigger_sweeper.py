"""TriggerSweeper decisions on a MemoryTriggerStore with an injected wall clock."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pytest
import trio

from tests.trigger_helpers import START, Recorder, Wall, stamp
from tickwork import Loop, Scheduler, WrongTypeError
from tickwork._lease import Claim
from tickwork.triggers import MemoryTriggerStore, TriggerRow, TriggerSweeper
from tickwork.triggers._model import datetime_micros, timestamp_micros
from tickwork.triggers._sweeper import CLAIM_BATCH

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from tickwork._lease import Claimed
    from tickwork.triggers._store import Kind


def row(
    name: str, interval: str = "15m", last: str | None = None, *, enabled: bool = True
) -> TriggerRow:
    """A row whose id is its name."""
    return TriggerRow(name, name, interval, enabled, last)


def ago(seconds: float) -> str:
    """last_fired_at text *seconds* before START."""
    return stamp(START - timedelta(seconds=seconds))


def sweeper_for(
    rows: Iterable[TriggerRow], dispatch: Recorder | None = None, **options: object
) -> tuple[TriggerSweeper, MemoryTriggerStore, Recorder]:
    """A sweeper at START over a memory store holding *rows*."""
    wall = Wall()
    store = MemoryTriggerStore(rows, clock=wall.seconds)
    dispatch = Recorder() if dispatch is None else dispatch
    sweeper = TriggerSweeper(store, dispatch, clock=wall, **options)  # type: ignore[arg-type]
    return sweeper, store, dispatch


def warnings_about(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    """WARNING messages from tickwork.triggers that name trigger *name*."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "tickwork.triggers"
        and r.levelno == logging.WARNING
        and repr(name) in r.getMessage()
    ]


async def test_never_fired_row_fires_and_dispatch_sees_the_row_as_read() -> None:
    """A row that never fired is due; dispatch gets it with last_fired_at None."""
    sweeper, store, dispatch = sweeper_for([row("new")])
    report = await sweeper.sweep()
    assert report.fired == ("new",)
    assert dispatch.rows == [row("new")]
    assert (await store.all())[0].last_fired_at == stamp(START)


async def test_not_due_until_exactly_one_interval_has_passed() -> None:
    """now < last + interval is not due; now == last + interval is due."""
    sweeper, _, dispatch = sweeper_for(
        [
            row(
                "early",
                "15m",
                stamp(START - timedelta(minutes=15) + timedelta(microseconds=1)),
            ),
            row("exact", "15m", ago(900)),
        ]
    )
    report = await sweeper.sweep()
    assert report.not_due == ("early",)
    assert report.fired == ("exact",)
    assert dispatch.names == ["exact"]


async def test_unparseable_and_too_short_intervals_are_invalid_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Bad intervals are reported invalid every sweep, WARNED once, never fired."""
    invalid: list[tuple[str, str]] = []

    class Hook:
        def on_trigger_invalid(self, *, trigger: TriggerRow, reason: str) -> None:
            invalid.append((trigger.name, reason))

    sweeper, store, dispatch = sweeper_for(
        [row("garbled", "15 minutes"), row("short", "30s"), row("fine", "1m")],
        hooks=[Hook()],
    )
    first = await sweeper.sweep()
    second = await sweeper.sweep()
    assert first.invalid == second.invalid == ("garbled", "short")
    assert dispatch.names == ["fine"]
    assert len(warnings_about(caplog, "garbled")) == 1
    assert len(warnings_about(caplog, "short")) == 1
    assert "below min_interval 60 s" in warnings_about(caplog, "short")[0]
    assert [name for name, _ in invalid] == ["garbled", "short"] * 2
    assert "does not parse" in invalid[0][1]
    # Changed to another bad value: warned again.
    await store.remove("short")
    await store.add(name="short", interval="1m")
    await store.claim((await store.all())[2].id, None, stamp(START))
    assert (await sweeper.sweep()).invalid == ("garbled",)


async def test_a_row_that_cannot_be_read_is_invalid_not_fatal() -> None:
    """A row with values of the wrong type is reported invalid; the rest fire."""
    broken = TriggerRow("b", "broken", None, True, None)  # type: ignore[arg-type]
    sweeper, _, dispatch = sweeper_for([broken, row("ok")])
    report = await sweeper.sweep()
    assert report.invalid == ("broken",)
    assert report.fired == ("ok",)
    assert dispatch.names == ["ok"]


async def test_row_that_fails_to_read_for_any_reason_is_invalid() -> None:
    """Even an unexpected error while deciding a row only makes it invalid."""

    class Weird(str):
        __slots__ = ()

        def __hash__(self) -> int:
            raise ArithmeticError

    sweeper, _, dispatch = sweeper_for([row("weird", Weird("15m")), row("ok")])
    report = await sweeper.sweep()
    assert report.invalid == ("weird",)
    assert dispatch.names == ["ok"]


async def test_unparseable_timestamp_is_due_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A last_fired_at that is not RFC 3339 counts as due, with a WARNING."""
    sweeper, store, _ = sweeper_for([row("odd", "15m", "yesterday at noon")])
    assert (await sweeper.sweep()).fired == ("odd",)
    assert "not an RFC 3339 timestamp" in warnings_about(caplog, "odd")[0]
    assert (await store.all())[0].last_fired_at == stamp(START)


async def test_catch_up_fires_once_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A row overdue by more than catch_up_factor intervals fires once, WARNED."""
    sweeper, _, dispatch = sweeper_for(
        [row("daily", "1d", ago(10 * 86_400)), row("onlylate", "1h", ago(2 * 3600))]
    )
    report = await sweeper.sweep()
    assert report.fired == ("daily", "onlylate")
    assert dispatch.counts == {"daily": 1, "onlylate": 1}
    (message,) = warnings_about(caplog, "daily")
    assert "catch-up" in message
    assert warnings_about(caplog, "onlylate") == []  # exactly 2x is not > 2x
    assert (await sweeper.sweep()).not_due == ("daily", "onlylate")
    assert len(dispatch.rows) == 2


async def test_far_future_timestamp_is_not_due_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """last_fired_at more than an interval ahead is not fired, and is WARNED."""
    ahead = stamp(START + timedelta(hours=2))
    slightly = stamp(START + timedelta(seconds=5))  # replica clocks differ a bit
    sweeper, _, dispatch = sweeper_for(
        [row("ahead", "1h", ahead), row("skewed", "1h", slightly)]
    )
    report = await sweeper.sweep()
    assert report.not_due == ("ahead", "skewed")
    assert dispatch.rows == []
    assert "in the future" in warnings_about(caplog, "ahead")[0]
    assert warnings_about(caplog, "skewed") == []


async def test_disabled_rows_are_not_swept() -> None:
    """Disabled rows appear in no group of the report."""
    sweeper, _, dispatch = sweeper_for([row("off", enabled=False)])
    assert await sweeper.sweep() == type(await sweeper.sweep())()
    assert dispatch.rows == []


async def test_claim_is_stored_before_dispatch() -> None:
    """When dispatch runs, the store already holds the new last_fired_at."""
    seen: list[str | None] = []
    wall = Wall()
    store = MemoryTriggerStore([row("a")], clock=wall.seconds)

    async def dispatch(trigger: TriggerRow) -> None:
        seen.append((await store.all())[0].last_fired_at)

    await TriggerSweeper(store, dispatch, clock=wall).sweep()
    assert seen == [stamp(START)]


async def test_failed_dispatch_is_isolated_and_waits_a_full_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A raising dispatch lands in errors; others fire; it is not retried early."""
    wall = Wall()
    store = MemoryTriggerStore([row("bad"), row("good")])
    dispatch = Recorder(fail=frozenset({"bad"}))
    sweeper = TriggerSweeper(store, dispatch, clock=wall)
    report = await sweeper.sweep()
    assert report.fired == ("good",)
    ((name, error),) = report.errors
    assert name == "bad"
    assert isinstance(error, RuntimeError)
    assert any(
        r.levelno == logging.ERROR and "'bad'" in r.getMessage() and r.exc_info
        for r in caplog.records
    )
    wall.advance(15 * 60 - 1e-6)
    assert (await sweeper.sweep()).not_due == ("bad", "good")
    wall.advance(1e-6)
    assert (await sweeper.sweep()).errors[0][0] == "bad"
    assert dispatch.counts == {"bad": 2, "good": 2}


class Flaky(MemoryTriggerStore):
    """A memory store whose listing or claims can be made to fail."""

    list_error: Exception | None = None
    claim_error: Exception | None = None

    async def enabled(self) -> Sequence[TriggerRow]:
        """Fail if told to."""
        if self.list_error is not None:
            raise self.list_error
        return await super().enabled()

    async def claim_windows(
        self, kind: Kind, claims: Sequence[Claim], *, lease: float, holder: str
    ) -> Sequence[Claimed]:
        """Fail if told to."""
        if self.claim_error is not None:
            raise self.claim_error
        return await super().claim_windows(kind, claims, lease=lease, holder=holder)


async def test_listing_failure_is_logged_and_the_next_sweep_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A store that cannot list ends the sweep with listing_error, not a raise."""
    store = Flaky([row("a")])
    dispatch = Recorder()
    sweeper = TriggerSweeper(store, dispatch, clock=Wall())
    store.list_error = OSError("disk gone")
    report = await sweeper.sweep()
    assert report.listing_error is store.list_error
    assert report.fired == ()
    assert any("could not list" in r.getMessage() for r in caplog.records)
    store.list_error = None
    assert (await sweeper.sweep()).fired == ("a",)


async def test_claim_failure_is_an_error_without_dispatch() -> None:
    """A claim that raises reports every row of its batch and dispatches none."""
    store = Flaky([row("a"), row("b")])
    store.claim_error = OSError("locked")
    sweeper = TriggerSweeper(store, Recorder(), clock=Wall())
    report = await sweeper.sweep()
    assert [name for name, _ in report.errors] == ["a", "b"]
    assert report.fired == report.lost_claim == ()
    assert all(error is store.claim_error for _, error in report.errors)


@pytest.mark.parametrize("store", [None, "triggers.db", object()])
def test_what_is_no_store_is_refused_at_construction(store: object) -> None:
    """None, a path or an object without enabled/claim_windows is no store."""
    with pytest.raises(
        WrongTypeError, match="'store' must be a TriggerStore"
    ) as caught:
        TriggerSweeper(store, Recorder())  # type: ignore[arg-type]
    assert "claim_windows" in str(caught.value)


async def test_a_window_claimed_by_another_sweeper_is_lost_not_dispatched() -> None:
    """When another sweeper claims between our read and our claim, we lose it."""
    lost: list[str] = []

    class Hook:
        def on_trigger_lost_claim(self, *, trigger: TriggerRow) -> None:
            lost.append(trigger.name)

    class Racing(MemoryTriggerStore):
        async def enabled(self) -> Sequence[TriggerRow]:
            rows = await super().enabled()
            # The other replica wins "a" right after our read.
            window = datetime_micros(START)
            await self.claim_windows(
                "trigger", [Claim("a", window, window)], lease=30, holder="other"
            )
            return rows

    dispatch = Recorder()
    sweeper = TriggerSweeper(
        Racing([row("a"), row("b")], clock=Wall().seconds),
        dispatch,
        clock=Wall(),
        hooks=[Hook()],
    )
    report = await sweeper.sweep()
    assert report.lost_claim == ("a",)
    assert report.fired == ("b",)
    assert dispatch.names == ["b"]
    assert lost == ["a"]


async def test_many_due_rows_are_claimed_in_batches_before_any_dispatch() -> None:
    """1 200 due rows take 3 claim_windows calls, all before the first dispatch."""
    events: list[str] = []

    class Counting(MemoryTriggerStore):
        async def claim_windows(
            self, kind: Kind, claims: Sequence[Claim], *, lease: float, holder: str
        ) -> Sequence[Claimed]:
            events.append(f"claim {len(claims)}")
            return await super().claim_windows(kind, claims, lease=lease, holder=holder)

        async def finish_windows(
            self, kind: Kind, outcomes: Sequence[tuple[str, int, str]]
        ) -> Sequence[bool]:
            return await super().finish_windows(kind, outcomes)

    async def dispatch(trigger: TriggerRow) -> None:
        events.append("dispatch")

    rows = [row(f"t{i:04}") for i in range(1200)]
    store = Counting(rows, clock=Wall().seconds)
    report = await TriggerSweeper(store, dispatch, clock=Wall()).sweep()
    assert len(report.fired) == 1200
    assert events[:3] == [f"claim {CLAIM_BATCH}", f"claim {CLAIM_BATCH}", "claim 200"]
    assert events[3:] == ["dispatch"] * 1200


async def test_dispatch_concurrency_is_bounded_by_max_concurrent(
    autojump_clock: object,
) -> None:
    """No more than max_concurrent dispatches are in flight; all of them run."""
    in_flight = peak = 0
    fired: list[str] = []

    async def dispatch(trigger: TriggerRow) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await trio.sleep(1)
        in_flight -= 1
        fired.append(trigger.name)

    rows = [row(f"t{i:02}") for i in range(20)]
    sweeper = TriggerSweeper(
        MemoryTriggerStore(rows), dispatch, clock=Wall(), max_concurrent=3
    )
    start = trio.current_time()
    report = await sweeper.sweep()
    assert peak == 3
    assert sorted(fired) == [r.name for r in rows] == list(report.fired)
    assert trio.current_time() - start == 7  # ceil(20 / 3) rounds of 1 s


async def test_fired_hook_runs_after_a_successful_dispatch_only() -> None:
    """on_trigger_fired is called for each dispatched row that did not raise."""
    fired: list[str] = []

    class Hook:
        def on_trigger_fired(self, *, trigger: TriggerRow) -> None:
            fired.append(trigger.name)

    sweeper, _, _ = sweeper_for(
        [row("a"), row("b")], Recorder(fail=frozenset({"a"})), hooks=[Hook()]
    )
    await sweeper.sweep()
    assert fired == ["b"]


async def test_naive_clock_is_a_type_error() -> None:
    """A clock returning a naive datetime is refused: its UTC time is unknown."""
    store = MemoryTriggerStore([row("a")])
    sweeper = TriggerSweeper(store, Recorder(), clock=lambda: datetime(2026, 1, 1))  # noqa: DTZ001
    with pytest.raises(WrongTypeError, match="aware datetime"):
        await sweeper.sweep()


async def test_a_clock_in_another_zone_claims_the_same_window() -> None:
    """The sweeper's clock may be in any zone: windows are UTC instants."""
    zone = timezone(timedelta(hours=-5))
    store = MemoryTriggerStore([row("a")], clock=Wall().seconds)
    sweeper = TriggerSweeper(store, Recorder(), clock=lambda: START.astimezone(zone))
    await sweeper.sweep()
    [stored] = await store.all()
    assert stored.window_us == stored.anchor_us == datetime_micros(START)
    assert stored.last_fired_at == "2026-11-23T12:00:00Z"


def test_tick_interval_above_300_is_clamped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """tick_interval=3600 becomes 300, with a WARNING naming both values."""
    sweeper = TriggerSweeper(MemoryTriggerStore(), Recorder(), tick_interval=3600)
    assert sweeper.tick_interval == 300
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "3600" in record.getMessage()
    assert "clamped to 300" in record.getMessage()
    assert (
        TriggerSweeper(
            MemoryTriggerStore(), Recorder(), tick_interval=300
        ).tick_interval
        == 300
    )


def test_loop_sweeps_at_start_every_tick_interval() -> None:
    """loop() is a named Loop that runs at start with the (clamped) tick interval."""
    sweeper = TriggerSweeper(MemoryTriggerStore(), Recorder(), tick_interval=10)
    loop = sweeper.loop()
    assert isinstance(loop, Loop)
    assert (loop.name, loop.interval, loop.run_on_start) == ("triggers", 10, True)
    assert sweeper.loop("other").name == "other"


async def test_loop_in_a_scheduler_fires_at_start_and_then_each_window(
    autojump_clock: object,
) -> None:
    """Run in a Scheduler, the sweep fires at start and again after an interval."""
    wall = Wall()
    dispatch = Recorder()
    sweeper = TriggerSweeper(
        MemoryTriggerStore([row("a", "1m")]), dispatch, clock=wall, tick_interval=10
    )
    scheduler = Scheduler([sweeper.loop()], seed=1)

    async def wall_follows_trio() -> None:
        start = trio.current_time()
        while True:
            await trio.sleep(1)
            wall.now = START + timedelta(seconds=trio.current_time() - start)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wall_follows_trio)
        async with trio.open_nursery() as inner:
            await inner.start(scheduler.run)
            await trio.sleep(0.5)
            assert dispatch.names == ["a"]  # at start, before any tick passed
            await trio.sleep(150)  # windows at 0, ~60-70 and ~120-140 s
            scheduler.stop()
        nursery.cancel_scope.cancel()
    assert dispatch.names == ["a", "a", "a"]
    assert scheduler.stats()["triggers"].failed == 0


async def test_the_default_clock_is_the_current_utc_time() -> None:
    """Without a clock, last_fired_at is written from the real UTC time."""
    store = MemoryTriggerStore([row("a")])
    before = datetime.now(timezone.utc)
    await TriggerSweeper(store, Recorder()).sweep()
    after = datetime.now(timezone.utc)
    written = (await store.all())[0].last_fired_at
    assert written is not None
    assert (
        datetime_micros(before) <= timestamp_micros(written) <= datetime_micros(after)
    )


async def test_the_interval_memo_stays_bounded() -> None:
    """Thousands of distinct interval texts are all parsed right; the memo is capped."""
    rows = [row(f"t{i}", f"{60 + i}s", ago(60 + i)) for i in range(5000)]
    sweeper, _, _ = sweeper_for(rows)
    report = await sweeper.sweep()
    assert len(report.fired) == 5000
    assert len(sweeper._decider._intervals) <= 4096


class FirstKeys(MemoryTriggerStore):
    """A memory store that notes the first key of each claim batch."""

    def __init__(self, rows: Iterable[TriggerRow]) -> None:
        """Hold *rows*."""
        super().__init__(rows, clock=Wall().seconds)
        self.first_keys: list[str] = []

    async def claim_windows(
        self, kind: Kind, claims: Sequence[Claim], *, lease: float, holder: str
    ) -> Sequence[Claimed]:
        """Note the batch's first key, and claim."""
        self.first_keys.append(claims[0].key)
        return await super().claim_windows(kind, claims, lease=lease, holder=holder)


async def test_each_replica_claims_from_a_start_of_its_own() -> None:
    """Claims go in listing order rotated to a point drawn per replica and sweep.

    Four replicas over the same 2 000 due rows start their claims at four
    different rows; each still claims every row once, and the report stays
    in listing order.
    """
    names = [f"t{i:04}" for i in range(4 * CLAIM_BATCH)]
    firsts = []
    for replica in ("r1", "r2", "r3", "r4"):
        store = FirstKeys([row(name) for name in names])
        report = await TriggerSweeper(
            store, Recorder(), clock=Wall(), replica=replica
        ).sweep()
        assert report.fired == tuple(names)
        start = names.index(store.first_keys[0])
        rotated = names[start:] + names[:start]
        assert store.first_keys == rotated[::CLAIM_BATCH]
        firsts.append(start)
    assert len(set(firsts)) == 4, firsts


def stored(name: str, **state: object) -> TriggerRow:
    """A row anchored at START with the given window state."""
    return TriggerRow(
        name,
        name,
        "1m",
        True,
        None,
        datetime_micros(START),
        **state,  # type: ignore[arg-type]
    )


async def test_an_anchor_that_is_not_an_integer_makes_its_row_invalid() -> None:
    """anchor_us edited to text: the row is invalid alone, with the reason."""
    reasons: list[str] = []

    class Hook:
        def on_trigger_invalid(self, *, trigger: TriggerRow, reason: str) -> None:
            reasons.append(reason)

    broken = TriggerRow("b", "broken", "1m", True, None, "soon")  # type: ignore[arg-type]
    sweeper, _, dispatch = sweeper_for([broken, row("ok")], hooks=[Hook()])
    report = await sweeper.sweep()
    assert report.invalid == ("broken",)
    assert dispatch.names == ["ok"]
    assert reasons == ["its anchor_us 'soon' is not usable text"]


async def test_a_last_window_far_in_the_future_is_not_due_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A window claimed ten intervals ahead (a clock set wrong): not due, warned."""
    ahead = datetime_micros(START) + 600_000_000
    sweeper, _, dispatch = sweeper_for([stored("t", window_us=ahead, token=1)])
    report = await sweeper.sweep()
    assert report.not_due == ("t",)
    assert dispatch.rows == []
    [warning] = warnings_about(caplog, "t")
    assert "its last window starts more than one interval in the future" in warning


async def test_at_least_once_a_cancelled_window_is_run_again_at_once() -> None:
    """At least once: the current window, recorded cancelled, is due again."""
    now = datetime_micros(START)
    cancelled = stored("t", window_us=now, token=1, outcome="cancelled", attempt=1)
    sweeper, _, dispatch = sweeper_for([cancelled], delivery="at_least_once")
    report = await sweeper.sweep()
    assert report.fired == ("t",)
    assert dispatch.names == ["t"]


async def test_at_least_once_a_window_never_claimed_by_a_token_is_not_redone() -> None:
    """A row written by tickwork 0.1 (a last fire, no token) is not abandoned."""
    legacy = row("t", "1m", stamp(START))
    sweeper, _, dispatch = sweeper_for([legacy], delivery="at_least_once")
    report = await sweeper.sweep()
    assert report.not_due == ("t",)
    assert dispatch.rows == []
