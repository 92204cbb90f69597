"""A complete tickwork service: loops, a poller, persisted triggers, metrics.

Run it with ``nox -s example`` (or, with ``tickwork[otel]`` and
``opentelemetry-sdk`` installed, ``python examples/service.py``) and press
Ctrl-C, or wait for ``--seconds``. In one Trio nursery it runs:

- a fake upstream: a tiny HTTP server on 127.0.0.1 (a free port) whose order
  42 ships a few seconds after it is first asked about, and which answers
  every fourth request with 503, like a real upstream on a bad day;
- ``heartbeat``: a quick loop every second;
- ``slow-report``: takes 2.5 s on a 1 s interval, so ticks are skipped (and
  logged) instead of queued;
- ``flaky-sync``: fails one run in three; the error is logged with its
  traceback and the loop keeps its schedule;
- ``order-watcher``: polls the upstream over HTTP with backoff and a deadline,
  retrying the 503s;
- ``triggers``: a `TriggerSweeper` over an SQLite file. ``cache-refresh``
  (every 30 s) and ``nightly-export`` (every 24 h) are created on the first
  run; run the example twice and ``nightly-export`` does not fire again, since
  its window is persisted (``python -m tickwork.triggers --db FILE list``
  shows it);
- OpenTelemetry: `OpenTelemetryHooks` feeds an SDK ``MeterProvider`` whose
  console exporter prints one line per series every ``--export-interval``
  seconds and once more at exit.

On Ctrl-C (or SIGTERM) no new run starts, in-flight runs get ``--grace``
seconds, then the shutdown report names what was cut off.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import trio
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    HistogramDataPoint,
    MetricsData,
    PeriodicExportingMetricReader,
)

from tickwork import (
    PENDING,
    Backoff,
    Done,
    InvalidConfigError,
    Loop,
    PollResult,
    Scheduler,
    poll,
)
from tickwork.otel import OpenTelemetryHooks
from tickwork.triggers import SQLiteTriggerStore, TriggerRow, TriggerSweeper

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

LOGGER = logging.getLogger("example.service")

# --- the fake upstream ---------------------------------------------------------


class FakeUpstream:
    """An HTTP/1.1 server that knows one order, which ships after *ships_after* s."""

    def __init__(self, ships_after: float = 3.0) -> None:
        """Nothing is asked yet; the order's clock starts at the first request."""
        self.ships_after = ships_after
        self.requests = 0
        self.first_asked: float | None = None
        self.port = 0

    async def serve(self, *, task_status: trio.TaskStatus[int]) -> None:
        """Listen on 127.0.0.1 at a free port; report the port once listening."""
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started(self.port)
        await trio.serve_listeners(self._handle, listeners)

    async def _handle(self, stream: trio.SocketStream) -> None:
        async with stream:
            request = await _read_head(stream)
            status, body = self._answer(request.split(b" ")[1].decode())
            payload = json.dumps(body).encode()
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
            )
            await stream.send_all(head.encode() + payload)

    def _answer(self, path: str) -> tuple[str, dict[str, str]]:
        self.requests += 1
        if path != "/orders/42":
            return "404 Not Found", {"error": "no such order"}
        if self.requests % 4 == 0:
            return "503 Service Unavailable", {"error": "try again"}
        now = trio.current_time()
        if self.first_asked is None:
            self.first_asked = now
        shipped = now - self.first_asked >= self.ships_after
        return "200 OK", {"order": "42", "status": "shipped" if shipped else "packing"}


async def _read_head(stream: trio.SocketStream) -> bytes:
    """Read up to the blank line that ends an HTTP head."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some(4096)
        if not chunk:
            break
        data += chunk
    return data


class UpstreamUnavailableError(ConnectionError):
    """The upstream answered 503: worth asking again."""


async def get_json(port: int, path: str) -> dict[str, str]:
    """GET http://127.0.0.1:*port*/*path*; 503 raises UpstreamUnavailableError."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        await stream.send_all(request.encode())
        response = b""
        while chunk := await stream.receive_some(4096):
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    if status == 503:
        raise UpstreamUnavailableError(path)
    if status != 200:
        msg = f"GET {path}: HTTP {status}"
        raise RuntimeError(msg)
    answer: dict[str, str] = json.loads(body)
    return answer


# --- the loops -----------------------------------------------------------------


async def heartbeat() -> None:
    """A cheap, on-time job."""
    LOGGER.info("heartbeat")


async def slow_report() -> None:
    """Longer than its interval: ticks that pass meanwhile are skipped."""
    await trio.sleep(2.5)
    LOGGER.info("report written")


class FlakySync:
    """Fails every third run, like a flaky downstream."""

    def __init__(self) -> None:
        """Count runs from zero."""
        self.count = 0

    async def __call__(self) -> None:
        """One sync; every third raises."""
        self.count += 1
        if self.count % 3 == 0:
            msg = f"downstream refused sync #{self.count}"
            raise ConnectionError(msg)
        LOGGER.info("sync #%d ok", self.count)


def order_watcher(upstream: FakeUpstream) -> Callable[[], Awaitable[None]]:
    """A run that polls order 42 until it has shipped, for at most 10 s."""

    async def status() -> PollResult[str]:
        order = await get_json(upstream.port, "/orders/42")
        LOGGER.info("order 42 is %s", order["status"])
        return Done(order["status"]) if order["status"] == "shipped" else PENDING

    async def watch() -> None:
        result = await poll(
            status,
            max_wait=10,
            retry_on=UpstreamUnavailableError,
            backoff=Backoff(initial=0.25, factor=2, cap=2),
        )
        print(f"order-watcher: order 42 {result}")

    return watch


async def dispatch(trigger: TriggerRow) -> None:
    """What a trigger does when its window comes: here, say so."""
    print(f"trigger fired: {trigger.name} (every {trigger.interval})")


async def ensure_triggers(store: SQLiteTriggerStore) -> None:
    """Create the example's triggers unless an earlier run did."""
    for name, interval in (("cache-refresh", "30s"), ("nightly-export", "24h")):
        try:
            await store.add(name=name, interval=interval)
        except InvalidConfigError:  # noqa: PERF203 - once per trigger, at start
            LOGGER.info("trigger %r exists already", name)


# --- metrics -------------------------------------------------------------------


def one_line_per_series(data: MetricsData) -> str:
    """Format the exporter's batch as ``name {attributes} value`` lines."""
    lines = []
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    labels = ",".join(
                        f"{k.removeprefix('tickwork.')}={v}"
                        for k, v in sorted((point.attributes or {}).items())
                    )
                    if isinstance(point, HistogramDataPoint):
                        value = f"count={point.count} sum={point.sum:.3f}{metric.unit}"
                    else:
                        value = str(point.value)
                    lines.append(f"metric {metric.name} {{{labels}}} {value}\n")
    return "".join(lines)


# --- the service ---------------------------------------------------------------


async def main(args: argparse.Namespace, meter_provider: MeterProvider) -> None:
    """Run everything until Ctrl-C or ``--seconds``, then print the report."""
    metrics = OpenTelemetryHooks(meter_provider=meter_provider)
    upstream = FakeUpstream(ships_after=args.ships_after)
    async with SQLiteTriggerStore(args.db) as store, trio.open_nursery() as nursery:
        await nursery.start(upstream.serve)
        await ensure_triggers(store)
        sweeper = TriggerSweeper(
            store,
            dispatch,
            tick_interval=2,
            min_interval=5,  # the default, 60 s, would refuse "30s"
            hooks=[metrics],
        )
        scheduler = Scheduler(
            [
                Loop(name="heartbeat", fn=heartbeat, interval=1.0),
                Loop(name="slow-report", fn=slow_report, interval=1.0, jitter=0),
                Loop(name="flaky-sync", fn=FlakySync(), interval=1.5),
                Loop(
                    name="order-watcher",
                    fn=order_watcher(upstream),
                    interval=20,
                    timeout=15,
                ),
                sweeper.loop(),
            ],
            grace=args.grace,
            hooks=[metrics],
        )

        async def stop_on_signal_or_timeout() -> None:
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                with trio.move_on_after(args.seconds):
                    async for signum in signals:
                        LOGGER.info("got %s: stopping", signal.Signals(signum).name)
                        break
            scheduler.stop()

        nursery.start_soon(stop_on_signal_or_timeout)
        report = await scheduler.run()
        nursery.cancel_scope.cancel()  # the upstream
    print(f"\nshutdown report: {report}")
    for name, stats in sorted(scheduler.stats().items()):
        print(
            f"  {name:14} runs={stats.runs} ok={stats.succeeded} "
            f"failed={stats.failed} timed_out={stats.timed_out} "
            f"cancelled={stats.cancelled} skipped={stats.skipped}"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description="A complete tickwork service.")
    parser.add_argument(
        "--seconds", type=float, default=3600.0, help="stop after this long"
    )
    parser.add_argument(
        "--grace", type=float, default=1.0, help="shutdown grace, seconds"
    )
    parser.add_argument(
        "--db",
        type=Path,
        default=Path(tempfile.gettempdir()) / "tickwork-example.db",
        help="the SQLite trigger file (default: %(default)s)",
    )
    parser.add_argument(
        "--export-interval",
        type=float,
        default=5.0,
        help="seconds between metric exports to the console",
    )
    parser.add_argument(
        "--ships-after",
        type=float,
        default=3.0,
        help="seconds until the fake upstream's order ships",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    exporter = ConsoleMetricExporter(formatter=one_line_per_series)
    provider = MeterProvider(
        [
            PeriodicExportingMetricReader(
                exporter, export_interval_millis=arguments.export_interval * 1000
            )
        ]
    )
    try:
        trio.run(main, arguments, provider)
    finally:
        provider.shutdown()  # exports once more: the final counts
