"""Outcomes: dispatch outcomes recorded in batches as they come, retried, released."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from tickwork._coordination import RELEASE_TIMEOUT
from tickwork.triggers._outcomes import Outcome, Outcomes

if TYPE_CHECKING:
    from collections.abc import Sequence


class Store:
    """A finish_windows that notes each batch, takes 1 s, and may fail first."""

    def __init__(self, failures: int = 0) -> None:
        """Fail the first *failures* calls."""
        self.failures = failures
        self.batches: list[list[Outcome]] = []
        self.calls: list[float] = []

    async def send(self, outcomes: list[Outcome]) -> Sequence[bool]:
        """Record *outcomes* (odd tokens are refused), a second later."""
        self.calls.append(trio.current_time())
        await trio.sleep(1)
        if self.failures:
            self.failures -= 1
            msg = "store down"
            raise OSError(msg)
        self.batches.append(outcomes)
        return [token % 2 == 0 for _, token, _ in outcomes]


class Answers:
    """What `answered` heard: payloads with their answers, per batch."""

    def __init__(self) -> None:
        """Nothing heard yet."""
        self.batches: list[tuple[list[int], Sequence[bool] | Exception]] = []

    def __call__(
        self, payloads: list[int], answers: Sequence[bool] | Exception
    ) -> None:
        """Note one batch's answers."""
        self.batches.append((payloads, answers))


def outcome(index: int) -> Outcome:
    """The outcome of window *index* (its token is the index)."""
    return (f"t{index}", index, "succeeded")


async def test_outcomes_that_come_together_go_in_batches_of_500(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """1 200 outcomes queued at once take three calls; each payload gets its answer."""
    store, answers = Store(), Answers()
    outcomes: Outcomes[int] = Outcomes(store.send, answers, retry_for=10)
    for index in range(1200):
        outcomes.add(outcome(index), index)
    outcomes.close()
    await outcomes.run()
    assert [len(batch) for batch in store.batches] == [500, 500, 200]
    assert [payloads for payloads, _ in answers.batches] == [
        list(range(500)),
        list(range(500, 1000)),
        list(range(1000, 1200)),
    ]
    first = answers.batches[0][1]
    assert not isinstance(first, Exception)
    assert first[:4] == [True, False, True, False]
    assert trio.current_time() == 3


async def test_outcomes_that_come_during_a_call_go_in_the_next(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """One outcome goes at once; the ten that come meanwhile go together next."""
    store, answers = Store(), Answers()
    outcomes: Outcomes[int] = Outcomes(store.send, answers, retry_for=10)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(outcomes.run)
        outcomes.add(outcome(0), 0)
        await trio.sleep(0.5)
        for index in range(1, 11):
            outcomes.add(outcome(index), index)
        await trio.sleep(5)
        assert [len(batch) for batch in store.batches] == [1, 10]
        assert store.calls == [0, 1]
        outcomes.close()
    assert trio.current_time() == 5.5


async def test_a_failed_call_is_retried_then_answered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Two failures: retried after 50 and 100 ms; the third call records."""
    store, answers = Store(failures=2), Answers()
    outcomes: Outcomes[int] = Outcomes(store.send, answers, retry_for=10)
    outcomes.add(outcome(2), 2)
    outcomes.close()
    await outcomes.run()
    assert store.calls == [0, 1.05, 2.15]
    assert answers.batches == [([2], [True])]


async def test_a_batch_that_cannot_be_recorded_is_answered_with_the_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Past retry_for, the payloads get the last error; the next batch goes on."""
    store, answers = Store(failures=3), Answers()
    outcomes: Outcomes[int] = Outcomes(store.send, answers, retry_for=2)
    outcomes.add(outcome(2), 2)
    outcomes.close()
    await outcomes.run()
    [(payloads, error)] = answers.batches
    assert payloads == [2]
    assert isinstance(error, OSError)
    assert len(store.calls) == 2  # 0 and 1.05; a third would start after 2 s


async def test_cancelled_it_sends_what_it_holds_once_shielded(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A cut recorder still records its outcomes, bounded, before it ends."""
    store, answers = Store(), Answers()
    outcomes: Outcomes[int] = Outcomes(store.send, answers, retry_for=10)
    with trio.move_on_after(0.5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(outcomes.run)
            outcomes.add(outcome(0), 0)
            await trio.sleep(0.1)
            outcomes.add(outcome(2), 2)
    assert [payloads for payloads, _ in answers.batches] == [[0, 2]]
    assert trio.current_time() == 1.5  # the 1 s call, shielded
    assert store.calls == [0, 0.5]


async def test_a_release_that_takes_too_long_answers_a_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Shielded for RELEASE_TIMEOUT only: then the payloads hear a TimeoutError."""

    async def hangs(_outcomes: list[Outcome]) -> Sequence[bool]:
        await trio.sleep_forever()
        raise AssertionError  # pragma: no cover

    answers = Answers()
    outcomes: Outcomes[int] = Outcomes(hangs, answers, retry_for=10)
    with trio.move_on_after(1):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(outcomes.run)
            outcomes.add(outcome(0), 0)
    [(payloads, error)] = answers.batches
    assert payloads == [0]
    assert isinstance(error, TimeoutError)
    assert trio.current_time() == 1 + RELEASE_TIMEOUT


async def test_run_ends_once_closed_and_recorded() -> None:
    """Closed with nothing queued, run returns at once."""
    outcomes: Outcomes[int] = Outcomes(Store().send, Answers(), retry_for=1)
    outcomes.close()
    with trio.fail_after(1):
        await outcomes.run()


@pytest.mark.parametrize("count", [0, 1])
async def test_close_wakes_a_waiting_run(
    count: int, autojump_clock: trio.testing.MockClock
) -> None:
    """A run waiting for outcomes ends when closed, after recording any."""
    store, answers = Store(), Answers()
    outcomes: Outcomes[int] = Outcomes(store.send, answers, retry_for=1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(outcomes.run)
        await trio.sleep(3)
        for index in range(count):
            outcomes.add(outcome(index), index)
        outcomes.close()
    assert len(answers.batches) == count
