"""OpenTelemetry metrics from tickwork's hook events: the ``tickwork[otel]`` extra.

`OpenTelemetryHooks` is a hook object (see ``hooks=`` on `tickwork.Scheduler`
and `tickwork.triggers.TriggerSweeper`) that turns each event into counters
and histograms. It needs only ``opentelemetry-api``: until the application
installs an SDK ``MeterProvider``, every instrument is the API's no-op, so a
library or a test can wire it in unconditionally.

Instruments (meter ``tickwork``; durations in seconds):

==========================================  =========  ==========================
name                                        kind       attributes
==========================================  =========  ==========================
``tickwork.loop.runs``                      counter    loop, outcome
``tickwork.loop.run.duration``              histogram  loop, outcome
``tickwork.loop.lateness``                  histogram  loop
``tickwork.loop.skipped_ticks``             counter    loop
``tickwork.loop.timeouts``                  counter    loop
``tickwork.scheduler.shutdown.duration``    histogram  timed_out
``tickwork.scheduler.shutdown.cancelled``   counter    (none)
``tickwork.trigger.fires``                  counter    trigger (if per_trigger)
``tickwork.trigger.lost_claims``            counter    trigger (if per_trigger)
``tickwork.trigger.invalid``                counter    trigger (if per_trigger)
==========================================  =========  ==========================

Attribute keys are ``tickwork.loop`` (the loop's name), ``tickwork.outcome``
(``succeeded``, ``failed``, ``timed_out`` or ``cancelled``),
``tickwork.timed_out`` (a bool) and ``tickwork.trigger`` (the trigger's
name). Loop names are few and chosen in code, so they are always attached.
Trigger names are rows in a table that may hold 100 000 of them: one time
series each would swamp most metrics back ends, so they are attached only
with ``per_trigger=True``. A timed-out run counts both in ``runs`` (outcome
``timed_out``) and in ``timeouts``, so an alert on timeouts needs no filter.

Example, with the SDK's in-memory reader (how the tests read it):

    >>> from opentelemetry.sdk.metrics import MeterProvider
    >>> from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    >>> reader = InMemoryMetricReader()
    >>> hooks = OpenTelemetryHooks(meter_provider=MeterProvider([reader]))
    >>> hooks.on_run_finished(
    ...     loop="sessions", outcome="succeeded", duration=0.25, lateness=0.001
    ... )
    >>> [m.name for rm in reader.get_metrics_data().resource_metrics
    ...  for sm in rm.scope_metrics for m in sm.metrics]
    ['tickwork.loop.runs', 'tickwork.loop.run.duration']
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Final, final

try:
    from opentelemetry import metrics
except ImportError as exc:  # pragma: no cover - the extra is in every test env
    msg = (
        "tickwork.otel needs opentelemetry-api: "
        "pip install 'tickwork[otel]' (or opentelemetry-api)"
    )
    raise ImportError(msg) from exc

if TYPE_CHECKING:
    from datetime import datetime

    from opentelemetry.util.types import Attributes

    from tickwork._scheduler import ShutdownReport
    from tickwork.triggers._model import TriggerRow

__all__ = ["OpenTelemetryHooks"]

# Bucket advice (the SDK's default buckets, 0-10 000, suit milliseconds, not
# seconds): a run from 1 ms to 5 min; lateness from Trio's ~1 ms wake-up
# granularity to a stalled event loop.
DURATION_BUCKETS: Final = (
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 300.0,
)  # fmt: skip
LATENESS_BUCKETS: Final = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
)  # fmt: skip


def _version() -> str:
    try:
        return version("tickwork")
    except PackageNotFoundError:  # pragma: no cover - running from a checkout
        return ""


@final
class OpenTelemetryHooks:
    """Hook object recording scheduler and sweeper events as OTel metrics.

    Pass the same object to any number of schedulers and sweepers. Each event
    is a few dict lookups and one ``add``/``record`` per instrument; attribute
    mappings are built once per loop (and outcome) and reused.

    Args:
        meter_provider: where the meter comes from; None uses the global
            provider (``opentelemetry.metrics.set_meter_provider``), which is
            a no-op until the application sets one.
        per_trigger: attach the trigger's name to trigger metrics. Off by
            default: a large trigger table would mean one series per row.
    """

    def __init__(
        self,
        *,
        meter_provider: metrics.MeterProvider | None = None,
        per_trigger: bool = False,
    ) -> None:
        """Create the meter ``tickwork`` and its instruments."""
        meter = metrics.get_meter("tickwork", _version(), meter_provider)
        self._per_trigger = per_trigger
        self._runs = meter.create_counter(
            "tickwork.loop.runs", unit="{run}", description="Runs ended, by outcome."
        )
        self._duration = meter.create_histogram(
            "tickwork.loop.run.duration",
            unit="s",
            description="How long each run took, by outcome.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._lateness = meter.create_histogram(
            "tickwork.loop.lateness",
            unit="s",
            description="How long after its scheduled instant each run started.",
            explicit_bucket_boundaries_advisory=LATENESS_BUCKETS,
        )
        self._skipped = meter.create_counter(
            "tickwork.loop.skipped_ticks",
            unit="{tick}",
            description="Ticks skipped because the previous run was still going.",
        )
        self._timeouts = meter.create_counter(
            "tickwork.loop.timeouts",
            unit="{run}",
            description="Runs cut by the loop's timeout.",
        )
        self._shutdown = meter.create_histogram(
            "tickwork.scheduler.shutdown.duration",
            unit="s",
            description="Seconds from stop() until the scheduler returned.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._shutdown_cut = meter.create_counter(
            "tickwork.scheduler.shutdown.cancelled",
            unit="{run}",
            description="Runs the shutdown grace deadline cancelled.",
        )
        self._fires = meter.create_counter(
            "tickwork.trigger.fires",
            unit="{fire}",
            description="Triggers claimed and dispatched without error.",
        )
        self._lost = meter.create_counter(
            "tickwork.trigger.lost_claims",
            unit="{claim}",
            description="Windows another sweeper claimed first.",
        )
        self._invalid = meter.create_counter(
            "tickwork.trigger.invalid",
            unit="{trigger}",
            description="Rows skipped by a sweep for bad data.",
        )
        self._fenced = meter.create_counter(
            "tickwork.window.fenced",
            unit="{run}",
            description="Coordinated runs and dispatches cut because their "
            "lease could not be renewed, by kind.",
        )
        self._windows_lost = meter.create_counter(
            "tickwork.window.lost",
            unit="{window}",
            description="Windows recorded lost: their holder vanished before "
            "recording an outcome, by kind.",
        )
        self._renewal_failures = meter.create_counter(
            "tickwork.lease.renewal_failures",
            unit="{renewal}",
            description="Lease renewals that failed or were refused, by kind.",
        )
        self._paused = meter.create_counter(
            "tickwork.window.paused",
            unit="{window}",
            description="Windows not run because their loop or trigger was "
            "paused, by kind.",
        )
        self._missed = meter.create_counter(
            "tickwork.window.missed",
            unit="{window}",
            description="Windows that passed while no replica could run them "
            "and that the catch_up policy did not run, by kind.",
        )
        self._caught_up = meter.create_counter(
            "tickwork.window.caught_up",
            unit="{window}",
            description="Missed windows the catch_up policy runs, by kind.",
        )
        self._loop_attrs: dict[str, Attributes] = {}
        self._outcome_attrs: dict[tuple[str, str], Attributes] = {}

    def __repr__(self) -> str:
        """Name the class and the trigger-name setting."""
        return f"OpenTelemetryHooks(per_trigger={self._per_trigger})"

    # --- scheduler events -----------------------------------------------------

    def on_run_started(self, *, loop: str, lateness: float) -> None:
        """Record the run's lateness."""
        self._lateness.record(lateness, self._for_loop(loop))

    def on_run_finished(
        self,
        *,
        loop: str,
        outcome: str,
        duration: float,
        lateness: float,  # noqa: ARG002 - recorded when the run started
    ) -> None:
        """Count the run by outcome and record its duration."""
        key = (loop, outcome)
        attributes = self._outcome_attrs.get(key)
        if attributes is None:
            attributes = {"tickwork.loop": loop, "tickwork.outcome": outcome}
            self._outcome_attrs[key] = attributes
        self._runs.add(1, attributes)
        self._duration.record(duration, attributes)

    def on_tick_skipped(self, *, loop: str, count: int) -> None:
        """Count the skipped ticks."""
        self._skipped.add(count, self._for_loop(loop))

    def on_run_timed_out(
        self,
        *,
        loop: str,
        duration: float,  # noqa: ARG002 - recorded by on_run_finished
    ) -> None:
        """Count the timeout."""
        self._timeouts.add(1, self._for_loop(loop))

    def on_shutdown(self, *, report: ShutdownReport, duration: float) -> None:
        """Record how long shutdown took and how many runs it cut."""
        self._shutdown.record(duration, {"tickwork.timed_out": report.timed_out})
        if report.cancelled:
            self._shutdown_cut.add(len(report.cancelled))

    # --- sweeper events -------------------------------------------------------

    def on_trigger_fired(self, *, trigger: TriggerRow) -> None:
        """Count a fire."""
        self._fires.add(1, self._for_trigger(trigger))

    def on_trigger_lost_claim(self, *, trigger: TriggerRow) -> None:
        """Count a lost claim."""
        self._lost.add(1, self._for_trigger(trigger))

    def on_trigger_invalid(
        self,
        *,
        trigger: TriggerRow,
        reason: str,  # noqa: ARG002 - free text: in the log, not a label
    ) -> None:
        """Count an invalid row (on every sweep that skips it)."""
        self._invalid.add(1, self._for_trigger(trigger))

    # --- coordination events ----------------------------------------------------

    def on_run_fenced(self, *, name: str, duration: float, kind: str) -> None:  # noqa: ARG002 - in the log
        """Count a fenced run or dispatch."""
        self._fenced.add(1, self._for_schedule(name, kind))

    def on_window_lost(self, *, name: str, window: datetime, kind: str) -> None:  # noqa: ARG002 - in the log
        """Count a lost window."""
        self._windows_lost.add(1, self._for_schedule(name, kind))

    def on_lease_renewal_failed(self, *, name: str, kind: str) -> None:
        """Count a failed renewal."""
        self._renewal_failures.add(1, self._for_schedule(name, kind))

    def on_window_paused(self, *, name: str, count: int, kind: str) -> None:
        """Count windows not run because of a pause."""
        self._paused.add(count, self._for_schedule(name, kind))

    def on_catch_up(
        self, *, name: str, missed: int, running: int, lost: int, kind: str
    ) -> None:
        """Count a catch-up's windows: run, lost, or neither (missed)."""
        attributes = self._for_schedule(name, kind)
        if running:
            self._caught_up.add(running, attributes)
        if lost:
            self._windows_lost.add(lost, attributes)
        if missed - running - lost:
            self._missed.add(missed - running - lost, attributes)

    # --- internals ------------------------------------------------------------

    def _for_schedule(self, name: str, kind: str) -> Attributes:
        """The kind, and the name for loops (or triggers with per_trigger)."""
        if kind == "loop":
            return {"tickwork.kind": kind, "tickwork.loop": name}
        if self._per_trigger:
            return {"tickwork.kind": kind, "tickwork.trigger": name}
        return {"tickwork.kind": kind}

    def _for_loop(self, loop: str) -> Attributes:
        attributes = self._loop_attrs.get(loop)
        if attributes is None:
            attributes = self._loop_attrs[loop] = {"tickwork.loop": loop}
        return attributes

    def _for_trigger(self, trigger: TriggerRow) -> Attributes:
        return {"tickwork.trigger": trigger.name} if self._per_trigger else None
