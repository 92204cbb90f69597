"""tickwork.otel: hook events as OpenTelemetry metrics, read with the SDK's reader."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
)

from tests.trigger_helpers import START, Recorder, Wall
from tickwork import Loop, Scheduler
from tickwork._lease import Claim
from tickwork.otel import DURATION_BUCKETS, LATENESS_BUCKETS, OpenTelemetryHooks
from tickwork.triggers import MemoryTriggerStore, TriggerRow, TriggerSweeper
from tickwork.triggers._model import datetime_micros

if TYPE_CHECKING:
    from collections.abc import Sequence

Key = tuple[str, frozenset[tuple[str, object]]]


class Metrics:
    """Hooks wired to an in-memory reader, and the reader's data as dicts."""

    def __init__(self, *, per_trigger: bool = False) -> None:
        """A fresh provider, so no state leaks between tests."""
        self.reader = InMemoryMetricReader()
        self.hooks = OpenTelemetryHooks(
            meter_provider=MeterProvider([self.reader]), per_trigger=per_trigger
        )

    def read(self) -> tuple[dict[Key, float], dict[Key, HistogramDataPoint]]:
        """Counter totals and histogram points, keyed by name and attributes."""
        sums: dict[Key, float] = {}
        histograms: dict[Key, HistogramDataPoint] = {}
        data = self.reader.get_metrics_data()
        assert data is not None
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                assert scope.scope.name == "tickwork"
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        key = (metric.name, frozenset((point.attributes or {}).items()))
                        if isinstance(point, NumberDataPoint):
                            sums[key] = point.value
                        else:
                            assert isinstance(point, HistogramDataPoint)
                            histograms[key] = point
        return sums, histograms


def key(name: str, **attributes: object) -> Key:
    """The key of a data point: ``tickwork.<attribute>`` for each attribute."""
    return name, frozenset((f"tickwork.{k}", v) for k, v in attributes.items())


async def test_scheduler_events_become_counters_and_histograms(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Every scheduler event lands in its instrument with exact values."""

    async def ok() -> None:
        await trio.sleep(0.5)

    async def broken() -> None:
        raise RuntimeError

    async def slow() -> None:
        await trio.sleep(2.5)  # on a 1 s interval: skips; cut by timeout 2

    async def stuck() -> None:
        await trio.sleep(100)

    metrics = Metrics()
    scheduler = Scheduler(
        [
            Loop(name="ok", fn=ok, interval=1, jitter=0),
            Loop(name="broken", fn=broken, interval=1, jitter=0),
            Loop(name="slow", fn=slow, interval=1, jitter=0, timeout=2),
            Loop(name="stuck", fn=stuck, interval=1000, jitter=0),
        ],
        hooks=[metrics.hooks],
    )

    async def stop_later() -> None:
        await trio.sleep(3.25)
        scheduler.stop(grace=0.5)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(stop_later)
        report = await scheduler.run()
    # stop at 3.25 with grace 0.5: the deadline 3.75 cuts what still runs.
    assert report.cancelled == ("slow", "stuck")
    sums, histograms = metrics.read()
    # ok runs at 0, 1, 2, 3 for 0.5 s each; broken fails at 0, 1, 2, 3. slow
    # runs at 0, is cut by its timeout at 2 (ticks 1 and 2 skipped), runs
    # again at 3 and is cut by shutdown at 3.75; stuck runs from 0 to 3.75.
    assert sums[key("tickwork.loop.runs", loop="ok", outcome="succeeded")] == 4
    assert sums[key("tickwork.loop.runs", loop="broken", outcome="failed")] == 4
    assert sums[key("tickwork.loop.runs", loop="slow", outcome="timed_out")] == 1
    assert sums[key("tickwork.loop.runs", loop="slow", outcome="cancelled")] == 1
    assert sums[key("tickwork.loop.runs", loop="stuck", outcome="cancelled")] == 1
    assert sums[key("tickwork.loop.timeouts", loop="slow")] == 1
    assert sums[key("tickwork.loop.skipped_ticks", loop="slow")] == 2
    assert sums[("tickwork.scheduler.shutdown.cancelled", frozenset())] == 2
    ok_runs = histograms[
        key("tickwork.loop.run.duration", loop="ok", outcome="succeeded")
    ]
    assert (ok_runs.count, ok_runs.sum) == (4, 2.0)
    assert tuple(ok_runs.explicit_bounds) == DURATION_BUCKETS
    lateness = histograms[key("tickwork.loop.lateness", loop="ok")]
    assert (lateness.count, lateness.sum) == (4, 0.0)
    assert tuple(lateness.explicit_bounds) == LATENESS_BUCKETS
    shutdown = histograms[key("tickwork.scheduler.shutdown.duration", timed_out=True)]
    assert (shutdown.count, shutdown.sum) == (1, 0.5)


def row(name: str, interval: str = "15m", last: str | None = None) -> TriggerRow:
    """An enabled row whose id is its name."""
    return TriggerRow(name, name, interval, True, last)


class Racing(MemoryTriggerStore):
    """Another replica claims "lost" right after this sweeper lists."""

    async def enabled(self) -> Sequence[TriggerRow]:
        """List, then let the other replica win "lost"."""
        rows = await super().enabled()
        window = datetime_micros(START)
        await self.claim_windows(
            "trigger", [Claim("lost", window, window)], lease=30, holder="other"
        )
        return rows


@pytest.mark.parametrize("per_trigger", [False, True])
async def test_sweeper_events_count_fires_lost_claims_and_invalid_rows(
    per_trigger: bool,  # noqa: FBT001 - a parameter
) -> None:
    """Trigger counters; the trigger's name is an attribute only if asked for."""
    metrics = Metrics(per_trigger=per_trigger)
    store = Racing(
        [row("a"), row("b"), row("lost"), row("bad", interval="often")],
        clock=Wall().seconds,
    )
    sweeper = TriggerSweeper(store, Recorder(), clock=Wall(), hooks=[metrics.hooks])
    for _ in range(2):  # the second sweep: a and b not due, bad invalid again
        await sweeper.sweep()
    sums, _ = metrics.read()
    if per_trigger:
        assert sums == {
            key("tickwork.trigger.fires", trigger="a"): 1,
            key("tickwork.trigger.fires", trigger="b"): 1,
            key("tickwork.trigger.lost_claims", trigger="lost"): 1,
            key("tickwork.trigger.invalid", trigger="bad"): 2,
        }
    else:
        assert sums == {
            key("tickwork.trigger.fires"): 2,
            key("tickwork.trigger.lost_claims"): 1,
            key("tickwork.trigger.invalid"): 2,
        }


OUTCOMES = st.sampled_from(["succeeded", "failed", "timed_out", "cancelled"])
EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        OUTCOMES,
        st.floats(min_value=0, max_value=1e4, allow_nan=False),
    ),
    max_size=50,
)


@given(events=EVENTS)
def test_run_counts_and_duration_sums_match_the_events(
    events: list[tuple[str, str, float]],
) -> None:
    """For any events, each (loop, outcome) series counts and sums exactly them."""
    metrics = Metrics()
    for loop, outcome, duration in events:
        metrics.hooks.on_run_finished(
            loop=loop, outcome=outcome, duration=duration, lateness=0.0
        )
    sums, histograms = metrics.read() if events else ({}, {})
    expected = Counter((loop, outcome) for loop, outcome, _ in events)
    assert {k: v for k, v in sums.items() if k[0] == "tickwork.loop.runs"} == {
        key("tickwork.loop.runs", loop=name, outcome=o): n
        for (name, o), n in expected.items()
    }
    for (loop, outcome), count in expected.items():
        point = histograms[
            key("tickwork.loop.run.duration", loop=loop, outcome=outcome)
        ]
        durations = [d for name, o, d in events if (name, o) == (loop, outcome)]
        assert point.count == count
        assert point.sum == pytest.approx(sum(durations))
        assert point.max == max(durations)


def test_without_an_sdk_every_event_is_a_no_op() -> None:
    """With the API's default provider nothing is recorded and nothing raises."""
    hooks = OpenTelemetryHooks()
    hooks.on_run_started(loop="a", lateness=0.1)
    hooks.on_run_finished(loop="a", outcome="failed", duration=1.0, lateness=0.1)
    hooks.on_tick_skipped(loop="a", count=3)
    hooks.on_run_timed_out(loop="a", duration=1.0)
    hooks.on_trigger_fired(trigger=row("t"))
    assert repr(hooks) == "OpenTelemetryHooks(per_trigger=False)"


@pytest.mark.parametrize("per_trigger", [False, True])
def test_coordination_events_count_by_kind(per_trigger: bool) -> None:  # noqa: FBT001
    """Fenced runs, lost windows and renewal failures, by kind (and loop name)."""
    metrics = Metrics(per_trigger=per_trigger)
    hooks = metrics.hooks
    window = datetime.now(timezone.utc)
    hooks.on_run_fenced(name="renew", duration=1.0, kind="loop")
    hooks.on_window_lost(name="renew", window=window, kind="loop")
    hooks.on_window_lost(name="t", window=window, kind="trigger")
    hooks.on_lease_renewal_failed(name="t", kind="trigger")
    hooks.on_lease_renewal_failed(name="t", kind="trigger")
    sums, _ = metrics.read()
    named = {"trigger": "t"} if per_trigger else {}
    assert sums == {
        key("tickwork.window.fenced", kind="loop", loop="renew"): 1,
        key("tickwork.window.lost", kind="loop", loop="renew"): 1,
        key("tickwork.window.lost", kind="trigger", **named): 1,
        key("tickwork.lease.renewal_failures", kind="trigger", **named): 2,
    }


def test_policy_events_count_paused_missed_caught_up_and_lost_windows() -> None:
    """A pause counts its windows; a catch-up splits missed into run, lost, neither."""
    metrics = Metrics()
    hooks = metrics.hooks
    hooks.on_window_paused(name="renew", count=3, kind="loop")
    hooks.on_catch_up(name="renew", missed=5, running=1, lost=0, kind="loop")
    hooks.on_catch_up(name="t", missed=5, running=3, lost=2, kind="trigger")
    hooks.on_catch_up(name="t", missed=4, running=0, lost=0, kind="trigger")
    sums, _ = metrics.read()
    assert sums == {
        key("tickwork.window.paused", kind="loop", loop="renew"): 3,
        key("tickwork.window.caught_up", kind="loop", loop="renew"): 1,
        key("tickwork.window.missed", kind="loop", loop="renew"): 4,
        key("tickwork.window.caught_up", kind="trigger"): 3,
        key("tickwork.window.lost", kind="trigger"): 2,
        key("tickwork.window.missed", kind="trigger"): 4,
    }


async def test_a_replaced_run_is_counted_by_its_outcome(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """overlap="replace" runs end with outcome "replaced" in tickwork.loop.runs."""
    metrics = Metrics()

    async def slow() -> None:
        await trio.sleep(5)

    loop = Loop(name="r", fn=slow, interval=1, jitter=0, overlap="replace")
    scheduler = Scheduler([loop], hooks=[metrics.hooks])
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        await trio.sleep(2.5)
        scheduler.stop(grace=0)
    sums, _ = metrics.read()
    assert sums[key("tickwork.loop.runs", loop="r", outcome="replaced")] == 2
