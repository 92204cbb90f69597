"""Record the outcomes of one sweep's dispatches in batches, as they come.

A dispatch that ends hands its outcome here (`Outcomes.add`) and its worker
goes on to the next window at once: one task (`Outcomes.run`) records what
has come, up to `BATCH` outcomes per store call, while the next ones come.
So a thousand quick dispatches cost a few recording transactions, not one
per dispatch nor one per handful of workers; and since a batch goes as soon
as the previous one is answered, an outcome waits at most about one store
call before it is sent. The lease rules allow this: an outcome may be
recorded at any time before another claim takes the token over, and one
that comes too late is refused (fenced), which *answered* is told.

A failed call is retried (recording is idempotent) for *retry_for*
seconds, starting at 50 ms and doubling up to 1 s, as
`tickwork._coordination.Coordinator.finish` does; then *answered* gets the
last error for that batch. If `run` is cancelled (shutdown, or its loop
removed), the outcomes it still holds are sent once more, shielded, for up
to `RELEASE_TIMEOUT` seconds, before the cancellation goes on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Generic, TypeVar, final

import trio

from tickwork._coordination import BATCH, RELEASE_TIMEOUT

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

P = TypeVar("P")
Outcome = tuple[str, int, str]
"""``(key, token, outcome)``, as `TriggerStore.finish_windows` takes it."""

_FIRST_RETRY: Final = 0.05
_LAST_RETRY: Final = 1.0


@final
class Outcomes(Generic[P]):
    """Outcomes queued by `add`, recorded by `run` in batches; each with a payload.

    *send* records a batch (``finish_windows`` of the trigger kind);
    *answered* gets each batch's payloads and, per outcome, whether it was
    recorded, or the error that stopped the batch. `close` says that no
    more will come: `run` then records the rest and returns.
    """

    __slots__ = ("_answered", "_closed", "_queue", "_retry_for", "_send", "_wake")

    def __init__(
        self,
        send: Callable[[list[Outcome]], Awaitable[Sequence[bool]]],
        answered: Callable[[list[P], Sequence[bool] | Exception], None],
        *,
        retry_for: float,
    ) -> None:
        """Record with *send*; retry a failed batch for *retry_for* seconds."""
        self._send = send
        self._answered = answered
        self._retry_for = retry_for
        self._queue: list[tuple[Outcome, P]] = []
        self._closed = False
        self._wake = trio.Event()

    def add(self, outcome: Outcome, payload: P) -> None:
        """Queue *outcome*; *payload* goes back to *answered* with its answer."""
        self._queue.append((outcome, payload))
        self._wake.set()

    def close(self) -> None:
        """No more outcomes will come: `run` returns once the queue is recorded."""
        self._closed = True
        self._wake.set()

    async def run(self) -> None:
        """Record the queue in batches until `close`d and empty."""
        sending: list[tuple[Outcome, P]] = []
        try:
            while self._queue or not self._closed:
                if not self._queue:
                    self._wake = trio.Event()
                    await self._wake.wait()
                    continue
                sending = self._queue[:BATCH]
                del self._queue[:BATCH]
                self._answer(sending, await self._record(sending))
                sending = []
        except trio.Cancelled:
            held, self._queue = sending + self._queue, []
            await self._release(held)
            raise

    async def _release(self, held: list[tuple[Outcome, P]]) -> None:
        """Send *held* once, shielded, for up to `RELEASE_TIMEOUT` seconds."""
        answered = 0
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + RELEASE_TIMEOUT
            while answered < len(held):
                part = held[answered : answered + BATCH]
                self._answer(part, await self._attempt(part))
                answered += len(part)
        if answered < len(held):
            msg = f"recording took over {RELEASE_TIMEOUT} s at shutdown"
            self._answer(held[answered:], TimeoutError(msg))

    async def _record(
        self, batch: list[tuple[Outcome, P]]
    ) -> Sequence[bool] | Exception:
        """One batch's answers, retried on errors for ``retry_for`` seconds."""
        give_up = trio.current_time() + self._retry_for
        wait = _FIRST_RETRY
        while True:
            answer = await self._attempt(batch)
            if not isinstance(answer, Exception):
                return answer
            if trio.current_time() + wait > give_up:
                return answer
            await trio.sleep(wait)
            wait = min(wait * 2, _LAST_RETRY)

    async def _attempt(
        self, batch: list[tuple[Outcome, P]]
    ) -> Sequence[bool] | Exception:
        try:
            return await self._send([outcome for outcome, _ in batch])
        except Exception as exc:  # noqa: BLE001 - answered, and so logged
            return exc

    def _answer(
        self, batch: list[tuple[Outcome, P]], answers: Sequence[bool] | Exception
    ) -> None:
        self._answered([payload for _, payload in batch], answers)
