"""Every way a scheduler ends gives a report, a log line and on_shutdown."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

if sys.version_info < (3, 11):  # pragma: no cover - trio brings the backport
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

from tickwork import (
    Loop,
    Scheduler,
    SchedulerStateError,
    ShutdownReport,
    open_scheduler,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


class Shutdowns:
    """A hook that records each on_shutdown."""

    def __init__(self) -> None:
        """No shutdown seen yet."""
        self.reports: list[ShutdownReport] = []

    def on_shutdown(self, *, report: ShutdownReport, duration: float) -> None:
        """Record the report."""
        self.reports.append(report)


def loop(name: str, fn: Callable[[], Awaitable[object]], interval: float = 1) -> Loop:
    """A loop without jitter."""
    return Loop(name=name, fn=fn, interval=interval, jitter=0)


async def sleeps_long() -> None:
    """A run that takes 100 s."""
    await trio.sleep(100)


async def test_an_outer_cancellation_leaves_a_report_and_an_ended_scheduler(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """After an outer cancel: a report naming the cut run, then no more use."""
    caplog.set_level(logging.INFO, logger="tickwork")
    hook = Shutdowns()
    scheduler = Scheduler([loop("long", sleeps_long)], hooks=[hook])
    with trio.move_on_after(1):
        await scheduler.run()
    expected = ShutdownReport(timed_out=True, cancelled=("long",))
    assert scheduler.shutdown_report == expected
    assert hook.reports == [expected]
    assert any("scheduler cancelled" in r.getMessage() for r in caplog.records)
    assert scheduler.run_now("long") is False
    with pytest.raises(SchedulerStateError, match="has ended"):
        scheduler.add(loop("late", sleeps_long))
    with pytest.raises(SchedulerStateError, match="only once"):
        await scheduler.run()
    scheduler.stop()  # idempotent after the end: no error, nothing changes
    assert scheduler.shutdown_report == expected


async def test_shutdown_report_is_none_until_the_scheduler_stopped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """shutdown_report is None while running and the returned report after."""
    scheduler = Scheduler([loop("long", sleeps_long)])
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        await trio.sleep(1)
        assert scheduler.shutdown_report is None
        scheduler.stop(grace=0)
    assert scheduler.shutdown_report == ShutdownReport(
        timed_out=True, cancelled=("long",)
    )


@pytest.mark.parametrize("error", [RuntimeError("body broke"), KeyboardInterrupt()])
async def test_an_error_in_the_open_scheduler_block_still_reports(
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
    error: BaseException,
) -> None:
    """An exception or Ctrl-C in the block: report, stop log and on_shutdown."""
    caplog.set_level(logging.INFO, logger="tickwork")
    hook = Shutdowns()
    seen: list[Scheduler] = []

    async def service() -> None:
        async with open_scheduler([loop("long", sleeps_long)], hooks=[hook]) as s:
            seen.append(s)
            await trio.sleep(1)
            raise error

    with pytest.raises(type(error)):
        await service()
    [s] = seen
    expected = ShutdownReport(timed_out=True, cancelled=("long",))
    assert s.shutdown_report == expected
    assert hook.reports == [expected]
    assert any("scheduler cancelled" in r.getMessage() for r in caplog.records)


async def test_open_scheduler_keeps_the_report_of_a_graceful_stop(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Leaving the block normally keeps the graceful stop's report."""
    async with open_scheduler([loop("long", sleeps_long)], grace=5) as scheduler:
        await trio.sleep(1)
    assert trio.current_time() == 6
    assert scheduler.shutdown_report == ShutdownReport(
        timed_out=True, cancelled=("long",)
    )


async def test_a_run_that_ignores_cancellation_is_named_in_the_report() -> None:
    """A run blocked in a thread past the grace deadline counts as cut.

    Real clock (a thread must not meet an autojump clock), grace 0: the
    deadline has passed before the thread is released, whatever the timing.
    """
    entered = trio.Event()
    release = threading.Event()

    async def blocked() -> None:
        entered.set()
        await trio.to_thread.run_sync(release.wait)

    scheduler = Scheduler([loop("thread", blocked, interval=60)])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(scheduler.run)
        await entered.wait()
        scheduler.stop(grace=0)
        await trio.lowlevel.checkpoint()
        release.set()
    assert scheduler.shutdown_report == ShutdownReport(
        timed_out=True, cancelled=("thread",)
    )


async def test_a_run_ending_within_the_grace_is_not_named(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """timed_out is False exactly when no run was in flight at the deadline."""

    async def short() -> None:
        await trio.sleep(2)

    scheduler = Scheduler([loop("short", short, interval=60)])
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        await trio.sleep(1)
        scheduler.stop(grace=5)
    assert scheduler.shutdown_report == ShutdownReport(timed_out=False, cancelled=())
    assert trio.current_time() == 2


SCRIPT = """
import sys, trio
from tickwork import Loop, open_scheduler

async def job():
    {action}

async def main():
    async with open_scheduler([Loop(name="job", fn=job, interval=1)]):
        await trio.sleep(10)

trio.run(main)
"""


@pytest.mark.parametrize(
    ("action", "code", "stderr"),
    [
        ("sys.exit(3)", 3, ""),
        # Python ends on an uncaught KeyboardInterrupt by SIGINT, as a shell expects.
        ("raise KeyboardInterrupt", -2, "KeyboardInterrupt"),
    ],
)
def test_sys_exit_and_ctrl_c_in_a_job_leave_the_process_as_themselves(
    action: str, code: int, stderr: str
) -> None:
    """sys.exit(3) in a job exits 3; KeyboardInterrupt is not in a group."""
    script = textwrap.dedent(SCRIPT).format(action=action)
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == code, done.stderr
    assert stderr in done.stderr
    assert "ExceptionGroup" not in done.stderr


async def test_system_exit_in_a_run_leaves_run_unwrapped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """SystemExit from a run leaves Scheduler.run as itself, with a report."""

    async def leave() -> None:
        sys.exit(3)

    scheduler = Scheduler([loop("exit", leave)])
    with pytest.raises(SystemExit) as caught:
        await scheduler.run()
    assert caught.value.code == 3
    assert scheduler.shutdown_report is not None


async def test_a_custom_base_exception_from_one_run_is_unwrapped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A lone BaseException leaves run() as itself; cut siblings stay silent."""

    class Stop(BaseException):
        pass

    async def stop() -> None:
        await trio.sleep(1)
        raise Stop

    scheduler = Scheduler([loop("stop", stop), loop("long", sleeps_long)])
    with pytest.raises(Stop):
        await scheduler.run()
    assert scheduler.shutdown_report == ShutdownReport(
        timed_out=True, cancelled=("long",)
    )


async def test_several_base_exceptions_at_once_stay_a_group(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Two loops raising different BaseExceptions together: Trio's group, kept."""

    class First(BaseException):
        pass

    class Second(BaseException):
        pass

    async def first() -> None:
        await trio.sleep(1)
        raise First

    async def second() -> None:
        try:
            await trio.sleep(10)
        finally:
            raise Second

    scheduler = Scheduler([loop("a", first), loop("b", second)])
    with pytest.raises(BaseException) as caught:  # noqa: PT011 - a group, checked below
        await scheduler.run()
    assert isinstance(caught.value, BaseExceptionGroup)
    assert caught.group_contains(First)
    assert caught.group_contains(Second)
    assert scheduler.shutdown_report is not None


async def test_a_run_that_stops_the_scheduler_and_returns_is_not_cut(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A run ending by itself at the very instant of the deadline was not cut."""
    scheduler: Scheduler

    async def last() -> None:
        scheduler.stop(grace=0)

    scheduler = Scheduler([loop("z", last)])
    assert await scheduler.run() == ShutdownReport(timed_out=False, cancelled=())
    assert scheduler.stats()["z"].succeeded == 1


async def test_next_fire_is_none_once_the_scheduler_ended(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """No loop keeps a next_fire after the end, however the scheduler ended."""

    async def slow() -> None:
        await trio.sleep(1.5)

    scheduler = Scheduler([loop("late", slow)])
    with trio.move_on_after(10):
        await scheduler.run()
    assert scheduler.stats()["late"].next_fire is None


async def test_system_exit_leaves_open_scheduler_unwrapped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """SystemExit from a run leaves open_scheduler as itself, with a report."""

    async def leave() -> None:
        await trio.sleep(1)
        sys.exit(4)

    seen: list[Scheduler] = []

    async def service() -> None:
        async with open_scheduler([loop("exit", leave)]) as scheduler:
            seen.append(scheduler)
            await trio.sleep(10)

    with pytest.raises(SystemExit) as caught:
        await service()
    assert caught.value.code == 4
    assert seen[0].shutdown_report is not None


async def test_ctrl_c_from_a_nursery_inside_a_run_is_unwrapped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A KeyboardInterrupt nested in a run's own nursery still leaves as itself."""

    async def nested() -> None:
        async def child() -> None:
            raise KeyboardInterrupt

        async with trio.open_nursery() as nursery:
            nursery.start_soon(child)

    with pytest.raises(KeyboardInterrupt):
        await Scheduler([loop("nested", nested)]).run()
