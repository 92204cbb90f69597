"""One replica's side of the lease rules: batched claims and outcomes, renewals.

A `Coordinator` speaks for one replica (a `Scheduler` with a store, or a
`TriggerSweeper`) to a trigger store:

- `claim` and `finish` queue their request and wait; the requests that come
  together (windows that fall at one instant) go to the store in one call,
  so a thousand loops firing together cost one round trip, not a thousand.
- `hold` registers a won window's run: its cancel scope gets a fence
  deadline, the instant (by this replica's monotonic clock, with a margin)
  after which its lease may have expired on the store's clock. One keeper
  task renews every held lease each ``lease / 3`` (runs shorter than that
  are never renewed) and moves the fence deadline on; a renewal the store
  refuses (another replica holds the window now) cancels the run at once.
  A run whose renewals fail until its fence deadline is cut by it: fenced.

A lease is reckoned from the moment the claim was sent: the store starts it
at its own "now", which is no earlier, so the local reckoning never
outlives the store's.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import uuid
from typing import TYPE_CHECKING, Final, Generic, TypeVar, final

import trio

from tickwork._text import brief

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from tickwork._lease import Claim, Claimed
    from tickwork.triggers._store import Kind, TriggerStore

LOGGER = logging.getLogger("tickwork.coordination")

T = TypeVar("T")
R = TypeVar("R")

FENCE_MARGIN: Final = 0.1
"""The fraction of the lease kept as a safety margin: a run is cut at
90 % of its lease unless a renewal was confirmed."""
RELEASE_TIMEOUT: Final = 5.0
"""Seconds a shutdown waits to release a cut run's lease (shielded)."""
BATCH: Final = 500
"""Requests per store call at most."""
_FIRST_RETRY: Final = 0.05


def default_replica() -> str:
    """A replica name: host, process id and a short random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@final
class _Pending(Generic[T, R]):
    __slots__ = ("done", "error", "item", "result")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = trio.Event()
        self.result: R | None = None
        self.error: Exception | None = None


@final
class Batcher(Generic[T, R]):
    """Gathers requests made at one instant into one store call."""

    __slots__ = ("_nursery", "_queue", "_send")

    def __init__(
        self,
        send: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        nursery: trio.Nursery,
    ) -> None:
        """Batches sent by *send*, from tasks spawned in *nursery*."""
        self._send = send
        self._nursery = nursery
        self._queue: list[_Pending[T, R]] = []

    async def submit(self, item: T) -> R:
        """Queue *item*, wait for its batch; its answer, or the batch's error."""
        pending: _Pending[T, R] = _Pending(item)
        if not self._queue:
            # The flush runs after every task woken at this instant queued.
            self._nursery.start_soon(self._flush)
        self._queue.append(pending)
        await pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return pending.result  # type: ignore[return-value]

    async def _flush(self) -> None:
        batch, self._queue = self._queue, []
        for start in range(0, len(batch), BATCH):
            part = batch[start : start + BATCH]
            try:
                answers = await self._send([p.item for p in part])
            except Exception as exc:  # noqa: BLE001 - each waiter raises it
                for pending in part:
                    pending.error = exc
                    pending.done.set()
                continue
            for pending, answer in zip(part, answers, strict=True):
                pending.result = answer
                pending.done.set()


@final
class Hold:
    """A run holding a lease: its cancel scope and its fence."""

    __slots__ = (
        "fence_at",
        "fenced",
        "key",
        "limit",
        "name",
        "renew_at",
        "scope",
        "token",
    )

    def __init__(
        self, key: str, token: int, scope: trio.CancelScope, limit: float, name: str
    ) -> None:
        """*limit*: the run's own deadline (its timeout), on Trio's clock."""
        self.key = key
        self.name = name
        self.token = token
        self.scope = scope
        self.limit = limit
        self.renew_at = math.inf
        self.fence_at = math.inf
        self.fenced = False
        """Set when the store refused a renewal: another replica holds it."""

    @property
    def cut_by_fence(self) -> bool:
        """Whether the lease ended the run (refused, or not renewed in time)."""
        return self.fenced or (
            self.fence_at <= self.limit and trio.current_time() >= self.fence_at
        )


@final
class Coordinator:
    """One replica's claims, outcomes and lease renewals for one kind of schedule.

    `start` gives it the nursery where its batches go and where its keeper
    task runs while any lease is held.
    """

    def __init__(
        self,
        store: TriggerStore,
        kind: Kind,
        *,
        lease: float,
        replica: str,
        on_renewal_failed: Callable[[str], None] | None = None,
    ) -> None:
        """Claims of *kind* in *store* with leases of *lease* seconds."""
        self.store = store
        self.kind: Kind = kind
        self.lease = lease
        self.replica = replica
        self._margin = lease * FENCE_MARGIN
        self._on_renewal_failed = on_renewal_failed
        self._claims: Batcher[Claim, Claimed] | None = None
        self._finishes: Batcher[tuple[str, int, str], bool] | None = None
        self._held: set[Hold] = set()
        self._nursery: trio.Nursery | None = None
        self._keeping = False
        self._sleep: trio.CancelScope | None = None
        self._idle: trio.Event | None = None
        self._resident = False

    def start(self, nursery: trio.Nursery, *, resident: bool = False) -> None:
        """Batch in *nursery*, and run the keeper there while leases are held.

        With *resident*, the keeper task starts now and lives until the
        nursery is cancelled (a scheduler's own service nursery), rather
        than starting with the first lease held and ending with the last.
        """
        self._nursery = nursery
        self._claims = Batcher(self._send_claims, nursery)
        self._finishes = Batcher(self._send_finishes, nursery)
        if resident:
            self._resident = self._keeping = True
            nursery.start_soon(self._serve, name=f"tickwork lease keeper ({self.kind})")

    async def _send_claims(self, claims: Sequence[Claim]) -> Sequence[Claimed]:
        return await self.store.claim_windows(
            self.kind, claims, lease=self.lease, holder=self.replica
        )

    async def _send_finishes(
        self, outcomes: Sequence[tuple[str, int, str]]
    ) -> Sequence[bool]:
        return await self.store.finish_windows(self.kind, outcomes)

    async def claim(self, want: Claim) -> Claimed:
        """Claim one window (batched with the claims made at this instant)."""
        assert self._claims is not None  # noqa: S101 - start() came first
        return await self._claims.submit(want)

    async def finish(self, key: str, token: int, outcome: str) -> bool:
        """Record one outcome (batched); False if the token was fenced off.

        A failed call is retried (recording is idempotent) for up to a third
        of a lease, so one lost reply or store error does not leave the
        window without its outcome (lost, or run again at least once).

        Raises:
            Exception: the store's last error, once the retries ran out.
        """
        assert self._finishes is not None  # noqa: S101 - start() came first
        give_up = trio.current_time() + self.lease / 3
        wait = _FIRST_RETRY
        while True:
            try:
                return await self._finishes.submit((key, token, outcome))
            except Exception:
                if trio.current_time() + wait > give_up:
                    raise
            await trio.sleep(wait)
            wait = min(wait * 2, 1.0)

    async def release(self, key: str, token: int, outcome: str) -> None:
        """Record the outcome of a run cut by shutdown, at once and shielded.

        Bounded by `RELEASE_TIMEOUT`; a failure is logged (the lease then
        simply expires).
        """
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + RELEASE_TIMEOUT
            try:
                await self.store.finish_windows(self.kind, [(key, token, outcome)])
            except Exception:
                LOGGER.warning(
                    "%s %s: could not release its lease at shutdown; it expires "
                    "on its own",
                    self.kind,
                    brief(key),
                    exc_info=True,
                )
        if scope.cancelled_caught:
            LOGGER.warning(
                "%s %s: releasing its lease took over %s s; it expires on its own",
                self.kind,
                brief(key),
                RELEASE_TIMEOUT,
            )

    def hold(  # noqa: PLR0913, PLR0917 - one run's lease, spelled out
        self,
        key: str,
        token: int,
        sent_at: float,
        scope: trio.CancelScope,
        limit: float,
        name: str | None = None,
    ) -> Hold:
        """Register a won window's run; its *scope* gets the fence deadline.

        *sent_at* is when the claim was sent (Trio's clock); *limit* the
        run's own deadline; *name* names the schedule in logs and hooks
        (default: *key*).
        """
        hold = Hold(key, token, scope, limit, key if name is None else name)
        self._set_fence(hold, sent_at)
        self._held.add(hold)
        if len(self._held) == 1 and self._idle is not None:
            self._idle.set()  # the resident keeper waits for a first hold
        elif not self._keeping:
            assert self._nursery is not None  # noqa: S101 - start() came first
            self._keeping = True
            self._nursery.start_soon(
                self._keep, name=f"tickwork lease keeper ({self.kind})"
            )
        return hold

    def drop(self, hold: Hold) -> None:
        """The run ended: stop renewing its lease (the keeper ends with the last)."""
        self._held.discard(hold)
        if not self._held and self._sleep is not None and not self._resident:
            self._sleep.cancel()  # the keeper ends with the last hold

    async def refresh(self, key: str, token: int) -> float | None:
        """Renew one lease now; the Trio time it was sent, or None if refused or failed.

        For a claim that waited long in the store: its lease is reckoned from
        when it was sent, so a run would be cut soon after it starts.
        """
        sent_at = trio.current_time()
        try:
            (renewed,) = await self.store.renew_leases(
                self.kind, [(key, token)], lease=self.lease
            )
        except Exception:
            LOGGER.warning(
                "%s %s: could not refresh a lease that waited long in the store",
                self.kind,
                brief(key),
                exc_info=True,
            )
            return None
        return sent_at if renewed else None

    def fence(self, sent_at: float) -> float:
        """When a lease claimed (or renewed) at *sent_at* must have been renewed."""
        return sent_at + self.lease - self._margin

    def _set_fence(self, hold: Hold, sent_at: float) -> None:
        hold.fence_at = fence = sent_at + self.lease - self._margin
        hold.renew_at = sent_at + self.lease / 3
        deadline = min(hold.limit, fence)
        if hold.scope.deadline != deadline:  # moving a deadline is not free
            hold.scope.deadline = deadline

    async def _serve(self) -> None:
        """The resident keeper: renew held leases, wait while none is held."""
        while True:
            if not self._held:
                self._idle = trio.Event()
                await self._idle.wait()
                self._idle = None
            await self._renew_due()

    async def _keep(self) -> None:
        """Renew every held lease each ``lease / 3``; end when none is held.

        A new hold renews later than every hold already here (each renews a
        third of a lease after its claim or last renewal), so sleeping until
        the soonest renewal never misses one.
        """
        try:
            while self._held:
                await self._renew_due()
        finally:
            self._keeping = False

    async def _renew_due(self) -> None:
        if not self._held:
            return
        soonest = min(hold.renew_at for hold in self._held)
        with trio.CancelScope(deadline=soonest) as self._sleep:
            await trio.sleep_forever()
        self._sleep = None
        now = trio.current_time()
        # Renew the ones due soon too: one round trip for neighbours.
        due = [h for h in self._held if h.renew_at <= now + self.lease / 6]
        if due:
            await self._renew(due, now)

    async def _renew(self, due: list[Hold], sent_at: float) -> None:
        try:
            answers = await self.store.renew_leases(
                self.kind, [(h.key, h.token) for h in due], lease=self.lease
            )
        except Exception:
            retry = sent_at + min(self.lease / 10, 1.0)
            for hold in due:
                hold.renew_at = retry
                if self._on_renewal_failed is not None:
                    self._on_renewal_failed(hold.name)
            LOGGER.warning(
                "could not renew %d lease(s); runs are cut at their fence "
                "deadline unless a renewal gets through",
                len(due),
                exc_info=True,
            )
            return
        for hold, renewed in zip(due, answers, strict=True):
            if renewed:
                self._set_fence(hold, sent_at)
            elif hold in self._held:
                hold.fenced = True
                hold.scope.cancel()
                if self._on_renewal_failed is not None:
                    self._on_renewal_failed(hold.name)
