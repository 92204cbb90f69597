"""A small tickwork service: a few loops, a poller, Ctrl-C for a graceful stop.

Run it with ``python examples/service.py`` and press Ctrl-C (or wait for
``--seconds``). It shows:

- ``heartbeat``: a quick loop every second;
- ``slow-report``: takes 2.5 s on a 1 s interval, so ticks are skipped (and
  logged) instead of queued;
- ``flaky-sync``: fails one run in three; the error is logged with its
  traceback and the loop keeps its schedule;
- ``order-watcher``: polls a fake upstream with backoff and a deadline;
- on Ctrl-C: no new runs, in-flight runs get ``--grace`` seconds, then the
  shutdown report names what was cut off.
"""

from __future__ import annotations

import argparse
import logging
import random
import signal

import trio

from tickwork import PENDING, Backoff, Done, Loop, PollResult, Scheduler, poll

LOGGER = logging.getLogger("example.service")


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


async def watch_order(rng: random.Random) -> None:
    """Poll a fake upstream until the order is ready (about 3 s)."""
    ready_at = trio.current_time() + 3

    async def status() -> PollResult[str]:
        if rng.random() < 0.2:
            msg = "upstream hiccup"
            raise ConnectionError(msg)
        return Done("shipped") if trio.current_time() >= ready_at else PENDING

    result = await poll(
        status,
        max_wait=10,
        retry_on=ConnectionError,
        backoff=Backoff(initial=0.5, factor=2, cap=2),
        rng=rng,
    )
    LOGGER.info("order is %s", result)


async def main(seconds: float, grace: float, seed: int | None = None) -> None:
    """Run the loops until Ctrl-C or *seconds*, then print the shutdown report."""
    rng = random.Random(1)
    scheduler = Scheduler(
        [
            Loop(name="heartbeat", fn=heartbeat, interval=1.0),
            Loop(name="slow-report", fn=slow_report, interval=1.0, jitter=0),
            Loop(name="flaky-sync", fn=FlakySync(), interval=1.5),
            Loop(
                name="order-watcher",
                fn=lambda: watch_order(rng),
                interval=20,
                timeout=15,
            ),
        ],
        grace=grace,
        seed=seed,
    )

    async def stop_on_signal_or_timeout() -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            with trio.move_on_after(seconds):
                async for signum in signals:
                    LOGGER.info("got %s: stopping", signal.Signals(signum).name)
                    break
        scheduler.stop()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(stop_on_signal_or_timeout)
        report = await scheduler.run()
    print(f"\nshutdown report: {report}")
    for name, stats in sorted(scheduler.stats().items()):
        print(
            f"  {name:14} runs={stats.runs} ok={stats.succeeded} "
            f"failed={stats.failed} timed_out={stats.timed_out} "
            f"cancelled={stats.cancelled} skipped={stats.skipped}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="A small tickwork service.")
    parser.add_argument(
        "--seconds", type=float, default=3600.0, help="stop after this long"
    )
    parser.add_argument(
        "--grace", type=float, default=1.0, help="shutdown grace, seconds"
    )
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    trio.run(main, args.seconds, args.grace)
