"""Crew: items run in one task while they never block, one more each time all do."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio
import trio.testing

from tickwork.triggers._crew import PAUSE_EVERY, Crew

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


class Spawner:
    """Starts tasks in a nursery and counts them."""

    def __init__(self, nursery: trio.Nursery) -> None:
        """Spawn into *nursery*."""
        self.nursery = nursery
        self.started = 0
        self.names: set[str] = set()

    def __call__(self, fn: Callable[[], Awaitable[object]], /, *, name: str) -> None:
        """Start ``fn()`` and count it."""
        self.started += 1
        self.names.add(name)
        self.nursery.start_soon(fn, name=name)


async def run_crew(
    items: list[int],
    run: Callable[[int], Awaitable[object]],
    *,
    slots: int = 1000,
) -> tuple[Spawner, list[list[int]]]:
    """Run *items* with a crew in a nursery; the spawner and what on_end got."""
    ended: list[list[int]] = []
    async with trio.open_nursery() as nursery:
        spawner = Spawner(nursery)
        Crew(
            items,
            run,
            spawn=spawner,
            limiter=trio.CapacityLimiter(slots),
            name="crew",
            on_end=ended.append,
        ).start()
    return spawner, ended


async def test_items_that_never_block_run_in_order_in_one_task() -> None:
    """A thousand items that never block: in order, by one worker and one spare."""
    done: list[int] = []

    async def run(item: int) -> None:
        done.append(item)

    spawner, ended = await run_crew(list(range(1000)), run)
    assert done == list(range(1000))
    # The first worker, and one spare per pause (each leaves at once).
    assert spawner.started <= 2 + 1000 // PAUSE_EVERY
    assert spawner.names == {"crew"}
    assert ended == [[]]


async def test_a_worker_pauses_so_other_tasks_run_between_items() -> None:
    """Items that never block still yield every PAUSE_EVERY items."""
    done: list[int] = []
    seen: list[int] = []

    async def run(item: int) -> None:
        done.append(item)

    async def watch() -> None:
        while len(done) < 3 * PAUSE_EVERY:
            seen.append(len(done))
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch)
        await run_crew(list(range(3 * PAUSE_EVERY)), run)
    assert any(0 < count < 3 * PAUSE_EVERY for count in seen), seen


async def test_items_that_block_each_get_a_worker_and_start_together(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Fifty items that each sleep 1 s all start at 0 and end at 1 s."""
    starts: list[float] = []

    async def run(_item: int) -> None:
        starts.append(trio.current_time())
        await trio.sleep(1)

    spawner, ended = await run_crew(list(range(50)), run)
    assert starts == [0.0] * 50
    assert trio.current_time() == 1
    assert spawner.started <= 51
    assert ended == [[]]


async def test_workers_are_bounded_by_the_limiter(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Three slots, ten items of 1 s: three at a time, done at 4 s."""
    running = peak = 0

    async def run(_item: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await trio.sleep(1)
        running -= 1

    await run_crew(list(range(10)), run, slots=3)
    assert peak == 3
    assert trio.current_time() == 4


async def test_one_slow_item_never_holds_up_the_others(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The items after one that hangs run at once, one worker among them."""
    done: list[tuple[int, float]] = []

    async def run(item: int) -> None:
        if item == 0:
            await trio.sleep(100)
        done.append((item, trio.current_time()))

    await run_crew(list(range(5)), run)
    assert done == [(1, 0), (2, 0), (3, 0), (4, 0), (0, 100)]


async def test_cancelled_workers_hand_back_the_items_nobody_took(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Cut while running, the crew's on_end gets the untaken items in order."""
    started: list[int] = []
    ended: list[list[int]] = []

    async def run(item: int) -> None:
        started.append(item)
        await trio.sleep(10)

    with trio.move_on_after(1):
        async with trio.open_nursery() as nursery:
            Crew(
                list(range(6)),
                run,
                spawn=Spawner(nursery),
                limiter=trio.CapacityLimiter(2),
                name="crew",
                on_end=ended.append,
            ).start()
    assert started == [0, 1]
    assert ended == [[2, 3, 4, 5]]


async def test_a_crew_without_items_ends_at_once() -> None:
    """No items: on_end gets an empty list, and no task starts."""
    spawner, ended = await run_crew([], trio.sleep)
    assert ended == [[]]
    assert spawner.started == 0
