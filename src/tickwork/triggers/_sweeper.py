"""TriggerSweeper: fire each due trigger once per window, claim first.

One sweep lists the enabled rows, reads the clock, decides for each
(invalid, not due, due, very overdue), claims every due row by a
compare-and-set of its ``last_fired_at`` and only then dispatches the rows it
won, at most ``max_concurrent`` at a time, each bounded by
``dispatch_timeout``. Because the claim is stored before dispatch, a dispatch
that fails or a process that dies cannot make a row fire again before its
next window: delivery is at most once per window.

The clock is read after the listing: a listing that waited on the store (a
pool waiting for a server that is coming back) would otherwise store a
window that is already over when the claim commits, and the next sweep would
fire the trigger again.

As a `Scheduler` loop (`TriggerSweeper.loop`), a sweep hands its dispatches
to the loop's background and returns, so a slow or hung dispatch never delays
the next sweep; a trigger whose dispatch is still running is not claimed
again until it ends.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final, final

import attrs
import trio

from tickwork._background import Background, HandsOff
from tickwork._context import utc
from tickwork._coordination import Coordinator, default_replica
from tickwork._errors import LeaseLostError, WrongTypeError
from tickwork._hooks import Hooks
from tickwork._lease import (
    ANY_WINDOW,
    HELD,
    MISSED,
    PAUSED,
    Claim,
)
from tickwork._loop import CATCH_UPS, CatchUp, Delivery, Loop, check_delivery
from tickwork._rng import key64, keyed_unit
from tickwork._text import brief
from tickwork._validation import (
    check_async_callable,
    check_at_least,
    check_choice,
    check_name,
    check_optional_positive,
    check_positive,
    check_positive_int,
    is_recognisably_async,
)
from tickwork.triggers._decide import Decider
from tickwork.triggers._dispatcher import FIRED, Dispatcher
from tickwork.triggers._model import datetime_micros, utc_now
from tickwork.triggers._store import check_store

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Sequence
    from datetime import datetime

    from tickwork._lease import Claimed
    from tickwork.triggers._decide import Due
    from tickwork.triggers._model import TriggerRow
    from tickwork.triggers._store import TriggerStore

LOGGER = logging.getLogger("tickwork.triggers")

# A sweep must come at least every 5 minutes: a typo such as 3600 for 60
# would otherwise idle every schedule for an hour.
MAX_TICK_INTERVAL: Final = 300.0
# A dispatch is meant to hand work off; ten minutes is generous, and a bound
# by default means a hung dispatch frees its slot (poll's default deadline is
# the same 600 s). None lifts it.
DEFAULT_DISPATCH_TIMEOUT: Final = 600.0
# Claims per claim_many call: big enough that 1 000 due rows take two round
# trips, small enough that one transaction never holds many row locks long.
CLAIM_BATCH: Final = 500


@final
@attrs.frozen(kw_only=True)
class SweepReport:
    """What one `TriggerSweeper.sweep` did, by trigger name.

    Each tuple is in the store's listing order (by name).
    """

    fired: tuple[str, ...] = ()
    """Claimed, then dispatched without error."""
    not_due: tuple[str, ...] = ()
    """Enabled, but their window has not come."""
    invalid: tuple[str, ...] = ()
    """Skipped because the schedule does not parse (an interval, a cron
    expression or its zone), the interval is below ``min_interval``, or the
    row is otherwise broken."""
    lost_claim: tuple[str, ...] = ()
    """Due, but another sweeper claimed the window first; not dispatched."""
    errors: tuple[tuple[str, Exception], ...] = ()
    """``(name, exception)``: the claim raised (not dispatched) or the dispatch
    raised or was cut by ``dispatch_timeout`` (a `TimeoutError`; claimed: the
    trigger waits for its next window)."""
    busy: tuple[str, ...] = ()
    """Due, but not claimed by this sweep: the trigger's previous dispatch is
    still running (never two of one trigger at once in this process), or all
    ``max_concurrent`` dispatch slots are taken. It fires at a later sweep."""
    dispatching: tuple[str, ...] = ()
    """Claimed and handed to the loop's background (a sweep run by
    `TriggerSweeper.loop` in a `Scheduler`): their outcome is logged and goes
    to the hooks as they end."""
    held: tuple[str, ...] = ()
    """Their next window has come, but a dispatch of an earlier window still
    holds its lease (on this replica or another): skipped, never two
    dispatches of one trigger at once anywhere."""
    lost: tuple[str, ...] = ()
    """Won a window past an earlier one whose holder vanished without an
    outcome: that window was recorded as lost (logged at WARNING); or, with
    ``catch_up="all"``, missed windows beyond ``catch_up_limit``."""
    missed: tuple[str, ...] = ()
    """Due windows that passed while no sweeper could fire them and that
    ``catch_up="skip"`` does not fire: the trigger waits for its next window."""
    listing_error: Exception | None = None
    """Set when the store could not list the rows: nothing was decided and the
    next sweep tries again."""


@final
class TriggerSweeper:
    """Fires the due triggers of a `TriggerStore`, each window once.

    Each row has one schedule: an interval (windows every interval from
    when it was added) or a cron expression in an IANA zone (windows at its
    fire times from when it was added; see `tickwork.CronSchedule`, whose
    default DST policies triggers use, with no jitter). Per enabled row, in
    one sweep:

    - interval unparseable, or shorter than *min_interval*; cron expression
      or zone unparseable; both an interval and a cron expression, or a
      zone without one → ``invalid``, with a WARNING (naming the field) the
      first time this sweeper sees that row so;
    - never fired, or ``last_fired_at`` unparseable (WARNING) → due (a
      calendar trigger: from its first window after it was added);
    - now < last fired + interval (a calendar trigger: its next window has
      not started) → ``not_due``;
    - windows missed while no sweeper could fire them (this sweeper just
      started, or the store was away) → what *catch_up* says: the latest
      fires once ("latest", with a WARNING containing "catch-up" when the
      row is more than *catch_up_factor* intervals overdue), none fires
      ("skip", in ``missed``), or each fires in order, one a sweep, at most
      *catch_up_limit* ("all"; older ones are recorded lost);
    - ``last_fired_at`` more than one interval in the future (a clock set
      wrong somewhere) → ``not_due``, with a WARNING, since firing would fire
      the window again for every replica that believes it;
    - a broken row (a field that is not text, a NULL id) → ``invalid``; a
      bad row never stops the others.

    A due row is claimed first (its ``last_fired_at`` set to the time read
    after listing, compared and set against what this sweep read), then
    dispatched with the row as read. A lost claim is not dispatched; a claim
    or dispatch that raises, or a dispatch cut by *dispatch_timeout*, lands
    in ``errors`` and the other rows go on. A listing failure is logged and
    ends the sweep; the next tick tries again. A crash between claim and
    dispatch loses that window's fire: delivery is at most once per window.

    At most ``max_concurrent`` dispatches run at once, and a sweep claims no
    more rows than can start: the rest, and triggers whose previous dispatch
    is still running (or whose outcome is not recorded yet), are ``busy``
    and fire at a later sweep. Dispatches that never block run one after
    another in one task; each time all running dispatches block, one more
    task takes the next, so a slow dispatch never holds up the others. The
    outcomes are recorded in batches while the dispatches go on, and
    ``on_trigger_fired`` is called once a dispatch's outcome is answered.
    In a `Scheduler` (`loop`), dispatches run in the background: the sweep
    reports them as ``dispatching`` and returns; their outcomes are logged
    and sent to the hooks as they are recorded (not in a report). Replicas
    claim the due rows in listing order, each from a start of its own (drawn
    per replica and sweep), so that they mostly claim different rows first.

    Args:
        store: the `TriggerStore` to sweep.
        dispatch: async callable taking the `TriggerRow` as read. `sweep`
            waits for the dispatches it starts; a sweep run by `loop` does
            not, so the next sweep is never delayed by a slow dispatch.
        tick_interval: seconds between sweeps of `loop`; > 0. Values above
            300 are clamped to 300 with a WARNING, so a typo cannot idle every
            schedule.
        min_interval: trigger intervals below this many seconds are invalid
            (cron schedules fire at most once a minute, and are not held to it).
        catch_up_factor: a row overdue by more than this many intervals (a
            calendar row's: windows) is a catch-up; >= 1.
        clock: returns the current time as an aware `datetime`.
        max_concurrent: dispatches in flight at once; an int >= 1.
        dispatch_timeout: seconds after which a dispatch is cancelled and
            reported as a `TimeoutError` (600 by default); None for no bound,
            where a hung dispatch holds its slot for ever.
        hooks: an iterable of objects with ``on_trigger_fired(*, trigger)``,
            ``on_trigger_lost_claim(*, trigger)`` or
            ``on_trigger_invalid(*, trigger, reason)`` (see tickwork's hooks).
        lease: seconds a claimed window is held before it must be renewed.
        delivery: ``"at_most_once"`` or ``"at_least_once"``, as `Loop`'s.
        replica: this sweeper's name in the store (the holder of its leases).
        catch_up: ``"latest"``, ``"skip"`` or ``"all"``, as `Loop`'s. A
            window is missed when it started before the previous sweep
            listed the rows, or before the first sweep after a start or
            after a listing that failed: a sweep that ran on time never
            catches up.
        catch_up_limit: with ``"all"``, the most missed windows fired; >= 1.

    Raises:
        InvalidConfigError: a value out of range (a `ValueError`).
        WrongTypeError: a value of the wrong type (a `TypeError`).

    Example:
        >>> from tickwork.triggers import MemoryTriggerStore, TriggerRow
        >>> async def refresh(row: TriggerRow) -> None: ...
        >>> sweeper = TriggerSweeper(MemoryTriggerStore(), refresh, tick_interval=10)
        >>> sweeper.loop().interval
        10.0
    """

    def __init__(  # noqa: PLR0913 - the public signature
        self,
        store: TriggerStore,
        dispatch: Callable[[TriggerRow], Awaitable[object]],
        *,
        tick_interval: float = 30.0,
        min_interval: float = 60.0,
        catch_up_factor: float = 2.0,
        clock: Callable[[], datetime] = utc_now,
        max_concurrent: int = 25,
        dispatch_timeout: float | None = DEFAULT_DISPATCH_TIMEOUT,
        hooks: Iterable[object] = (),
        lease: float = 30.0,
        delivery: Delivery = "at_most_once",
        replica: str | None = None,
        catch_up: CatchUp = "latest",
        catch_up_limit: int = 10,
    ) -> None:
        """Check the configuration; see the class docstring."""
        check_store(store)
        check_async_callable("dispatch", dispatch, "taking the TriggerRow")
        given: object = clock  # callers without type checking pass anything
        if not callable(given) or is_recognisably_async(given):
            msg = (
                "'clock' must be a synchronous callable returning an aware "
                f"datetime (got {brief(clock)})"
            )
            raise WrongTypeError(msg)
        requested = check_positive("tick_interval", tick_interval)
        self.tick_interval: float = min(requested, MAX_TICK_INTERVAL)
        if requested > MAX_TICK_INTERVAL:
            LOGGER.warning(
                "tick_interval %r is above %r s; clamped to %r s",
                tick_interval,
                MAX_TICK_INTERVAL,
                MAX_TICK_INTERVAL,
                extra={"tickwork_requested": tick_interval},
            )
        self.min_interval: float = check_positive("min_interval", min_interval)
        self.catch_up_factor: float = check_at_least(
            "catch_up_factor", catch_up_factor, 1
        )
        self.max_concurrent: int = check_positive_int("max_concurrent", max_concurrent)
        self.dispatch_timeout: float | None = check_optional_positive(
            "dispatch_timeout", dispatch_timeout
        )
        self.store = store
        self.dispatch = dispatch
        self.clock = clock
        self.lease: float = check_positive("lease", lease)
        self.delivery: Delivery = check_delivery(delivery)
        self.catch_up: CatchUp = check_choice("catch_up", catch_up, CATCH_UPS)  # type: ignore[assignment]
        self.catch_up_limit: int = check_positive_int("catch_up_limit", catch_up_limit)
        # The listing time of the last sweep that listed: a window that
        # started before it and is still unfired was missed while no
        # sweeper could fire it (None: none yet, or the last one failed).
        self._listed_at: int | None = None
        self.caught_up = self.missed = 0
        # Triggers whose catch-up was reported and is not over: "all" claims
        # one owed window a sweep, and reports the catch-up once.
        self._catching_up: set[str] = set()
        self.replica: str = (
            default_replica() if replica is None else check_name("replica", replica)
        )
        self._hooks = Hooks(hooks)
        # At least once: an abandoned window is run again up to this many
        # windows back (the catch-up limit).
        self._redo_us: int | None = (
            ANY_WINDOW if self.delivery == "at_least_once" else None
        )
        self._decider = Decider(
            self.min_interval,
            self.catch_up_factor,
            self._hooks,
            redo=self._redo_us,
        )
        self._limiter = trio.CapacityLimiter(self.max_concurrent)
        self._in_flight: set[str] = set()  # ids claimed, their dispatch not ended
        self._coordinator = Coordinator(
            store,
            "trigger",
            lease=self.lease,
            replica=self.replica,
            on_renewal_failed=self._renewal_failed,
        )
        self._dispatcher = Dispatcher(
            store,
            dispatch,
            dispatch_timeout=self.dispatch_timeout,
            coordinator=self._coordinator,
            hooks=self._hooks,
            limiter=self._limiter,
            in_flight=self._in_flight,
        )
        self.claims_lost = self.lost = 0
        self.renewal_failures = self.skipped = 0
        self._replica_key = key64(self.replica)
        self._sweeps = 0

    def loop(self, name: str = "triggers") -> Loop:
        """A `Loop` that sweeps every ``tick_interval``, and at start.

        Sweeping at start means a restart never idles a whole tick. In a
        `Scheduler`, each sweep hands its dispatches to the loop's background
        (children of the scheduler's nursery, waited for up to the shutdown
        grace and named in the `ShutdownReport` if cut) and returns, so a
        slow dispatch never delays the next sweep.
        """
        return Loop(name=name, fn=HandsOff(self._sweep), interval=self.tick_interval)

    async def sweep(self) -> SweepReport:
        """Decide every enabled row, claim the due ones, dispatch those won.

        Returns once every dispatch it started has ended (each bounded by
        ``dispatch_timeout``).
        """
        return await self._sweep(None)

    async def _sweep(self, background: Background | None) -> SweepReport:
        try:
            rows = await self.store.enabled()
        except Exception as exc:
            self._listed_at = None
            LOGGER.exception("could not list the triggers; the next tick tries again")
            return SweepReport(listing_error=exc)
        # Read after listing, which may have waited on the store: see above.
        now_us = datetime_micros(self.clock())
        listed_before, self._listed_at = self._listed_at, now_us
        decisions = self._decider.decide(rows, now_us)
        in_flight = self._in_flight
        due = [d for d in decisions.due if d.row.id not in in_flight]
        # Claim no more than can start now: a window is never claimed only to
        # wait for a dispatch slot that hung dispatches may hold for ever. A
        # waiting sweep shares the slots it frees, so it needs just one.
        free = self.max_concurrent - len(in_flight)
        room = free if background is not None else (len(due) if free > 0 else 0)
        due, deferred = due[:room], due[room:]
        skipped = {d.row.id for d in deferred}
        # Held by a lease: this process's own dispatch still running is busy.
        busy = tuple(
            d.row.name
            for d in decisions.due
            if d.row.id in in_flight or d.row.id in skipped
        ) + tuple(name for ident, name in decisions.held if ident in in_flight)
        held = [name for ident, name in decisions.held if ident not in in_flight]
        # name -> FIRED, _LOST, _HELD, _HANDED_OFF or the exception, for due rows.
        outcome: dict[str, str | Exception] = {}
        sent_at = trio.current_time()
        won = await self._claim(due, outcome, listed_before)
        if won and trio.current_time() - sent_at > self.lease / 3:
            won, sent_at = await self._refresh(won, outcome)
        lost_windows = []
        for item, answer in won:
            row = item.row
            if answer.lost_window is not None or answer.lost:
                lost_windows.append(row.name)
            if answer.lost_window is not None:
                self._window_lost(row, answer.lost_window)
            self._caught(item, answer)
            overdue = decisions.catch_up.get(row.name)
            if overdue is not None and self.catch_up == "latest":
                LOGGER.warning(
                    "trigger %s: catch-up, %.1f %s overdue; firing it once",
                    brief(row.name),
                    overdue,
                    "intervals" if item.calendar is None else "windows",
                    extra={"tickwork_trigger": row.name},
                )
        if won:
            in_flight.update(item.row.id for item, _ in won)
            if background is None:
                await self._dispatcher.run(won, outcome, sent_at)
            else:
                self._coordinator.start(background.nursery)
                for item, _ in won:
                    outcome[item.row.name] = _HANDED_OFF
                self._dispatcher.start(won, sent_at, background.start_soon, None)
        report = SweepReport(
            fired=_named(due, outcome, FIRED),
            not_due=tuple(decisions.not_due),
            invalid=tuple(decisions.invalid),
            lost_claim=_named(due, outcome, _LOST),
            errors=tuple(
                (d.row.name, error)
                for d in due
                if isinstance(error := outcome[d.row.name], Exception)
            ),
            busy=busy,
            dispatching=_named(due, outcome, _HANDED_OFF),
            held=(*held, *_named(due, outcome, _HELD)),
            lost=tuple(lost_windows),
            missed=_named(due, outcome, _MISSED),
        )
        self._count_sweep(report)
        LOGGER.log(
            logging.INFO
            if report.fired or report.errors or report.dispatching
            else logging.DEBUG,
            "swept %d trigger(s): %d fired, %d handed to the background, "
            "%d not due, %d busy, %d held by a running dispatch, %d invalid, "
            "%d lost to another sweeper, %d error(s)",
            len(rows),
            len(report.fired),
            len(report.dispatching),
            len(report.not_due),
            len(report.busy),
            len(report.held),
            len(report.invalid),
            len(report.lost_claim),
            len(report.errors),
        )
        return report

    async def _claim(
        self,
        due: Sequence[Due],
        outcome: dict[str, str | Exception],
        listed_before: int | None,
    ) -> list[tuple[Due, Claimed]]:
        """Claim the windows of *due* rows; return those won, in claim order.

        Batches go one after another, in the order of `_claim_order`. Lost
        claims, held ones and claims that raised are recorded in *outcome*.
        """
        order = self._claim_order(due)
        won: list[tuple[Due, Claimed]] = []
        for start in range(0, len(order), CLAIM_BATCH):
            batch = order[start : start + CLAIM_BATCH]
            answers = await self._claim_batch(batch, listed_before)
            if isinstance(answers, Exception):
                _claim_failed([d.row for d in batch], answers, outcome)
            else:
                won += self._sort_answers(batch, answers, outcome)
        return won

    def _sort_answers(
        self,
        batch: Sequence[Due],
        answers: Sequence[Claimed],
        outcome: dict[str, str | Exception],
    ) -> list[tuple[Due, Claimed]]:
        """The won claims of *batch*; the lost and held ones go to *outcome*."""
        won = []
        for item, answer in zip(batch, answers, strict=True):
            if answer.won:
                won.append((item, answer))
            elif answer.status in (HELD, PAUSED):  # paused: disabled since listed
                outcome[item.row.name] = _HELD
                if answer.lost_window is not None:  # abandoned before a pause
                    self._window_lost(item.row, answer.lost_window)
            elif answer.status == MISSED:
                outcome[item.row.name] = _MISSED
                self._caught(item, answer)
            else:
                outcome[item.row.name] = _LOST
                self.claims_lost += 1
                LOGGER.debug(
                    "trigger %s: another sweeper claimed this window",
                    brief(item.row.name),
                )
                self._hooks.emit("on_trigger_lost_claim", trigger=item.row)
        return won

    def _claim_order(self, due: Sequence[Due]) -> Sequence[Due]:
        """*due* rotated to start at a point drawn for this replica and sweep.

        Replicas that list the same due rows would otherwise all claim them
        in one order and meet on every batch; each starting at its own
        point, they mostly claim different rows first.
        """
        self._sweeps += 1
        if len(due) < 2:
            return due
        start = int(keyed_unit(self._replica_key, self._sweeps) * len(due))
        return [*due[start:], *due[:start]]

    async def _claim_batch(
        self, batch: Sequence[Due], listed_before: int | None
    ) -> Sequence[Claimed] | Exception:
        """Claim one batch's windows: the store's answers, or its error.

        A window that started before the previous sweep listed the rows (or
        any, at the first sweep since this sweeper started or the store
        failed) was missed while no sweeper could fire it: late, for the
        catch-up rules.
        """
        redo = None if self._redo_us is None else ANY_WINDOW
        catch_up, limit = self.catch_up, self.catch_up_limit
        claims = [
            Claim(
                d.row.id,
                d.window,
                d.window,
                redo,
                d.anchor,
                step=d.step,
                calendar=d.calendar,
                late=listed_before is None or d.window < listed_before,
                # A first sweep cannot tell downtime from other replicas
                # about to sweep: its late windows count only after a gap.
                sure=listed_before is not None,
                spread=0,
                catch_up=catch_up,
                limit=limit,
            )
            for d in batch
        ]
        try:
            return await self.store.claim_windows(
                "trigger", claims, lease=self.lease, holder=self.replica
            )
        except Exception as exc:  # noqa: BLE001 - reported, the sweep goes on
            return exc

    async def _refresh(
        self, won: list[tuple[Due, Claimed]], outcome: dict[str, str | Exception]
    ) -> tuple[list[tuple[Due, Claimed]], float]:
        """Renew the leases of windows whose claim waited long in the store.

        Leases are reckoned from when the claim was sent; after a long wait
        (a pool reconnecting) the dispatches would be cut soon after they
        start. A window whose renewal fails is not dispatched (an error in
        the report; its lease expires, at most once: lost).
        """
        sent_at = trio.current_time()
        try:
            renewed = await self.store.renew_leases(
                "trigger",
                [(item.row.id, answer.token) for item, answer in won],
                lease=self.lease,
            )
        except Exception as exc:  # noqa: BLE001 - reported, nothing dispatched
            _claim_failed([item.row for item, _ in won], exc, outcome)
            return [], sent_at
        kept = []
        for (item, answer), ok in zip(won, renewed, strict=True):
            if ok:
                kept.append((item, answer))
            else:
                self._dispatcher.fenced += 1
                outcome[item.row.name] = LeaseLostError(
                    f"trigger {brief(item.row.name)}: its claim waited so long "
                    "that another replica took the window over"
                )
        return kept, sent_at

    def _caught(self, item: Due, answer: Claimed) -> None:
        """Count a catch-up; report it unless "latest" (its WARNING is Part 1's).

        With "all", each sweep claims the next window owed, and reports the
        catch-up only at its first claim (the one that found the gap).
        """
        row = item.row
        if answer.missed == 0:
            self._catching_up.discard(row.id)
            return
        if answer.status == MISSED:
            running = 0
        elif self.catch_up == "all":
            running = answer.missed - answer.lost
        else:
            running = int(answer.catching_up)
        self.caught_up += answer.catching_up
        if row.id in self._catching_up and not answer.lost:
            return
        self._catching_up.add(row.id)
        self.missed += answer.missed - running - answer.lost
        self.lost += answer.lost
        if self.catch_up != "latest":
            LOGGER.warning(
                "trigger %s: catch-up: %d window(s) passed while no sweeper "
                "could fire them; catch_up=%s fires %d of them, %d recorded lost",
                brief(row.name),
                answer.missed,
                self.catch_up,
                running,
                answer.lost,
                extra={"tickwork_trigger": row.name},
            )
        self._hooks.emit(
            "on_catch_up",
            name=row.name,
            missed=answer.missed,
            running=running,
            lost=answer.lost,
            kind="trigger",
        )

    def _window_lost(self, row: TriggerRow, window: int) -> None:
        self.lost += 1
        LOGGER.warning(
            "trigger %s: window %s was lost: its holder vanished before "
            "recording an outcome",
            brief(row.name),
            utc(window).isoformat(),
            extra={"tickwork_trigger": row.name, "tickwork_window": window},
        )
        self._hooks.emit(
            "on_window_lost", name=row.name, window=utc(window), kind="trigger"
        )

    @property
    def fenced(self) -> int:
        """Dispatches cut by their lease, or that ended after it passed on."""
        return self._dispatcher.fenced

    def _count_sweep(self, report: SweepReport) -> None:
        self.skipped += len(report.held)

    def _renewal_failed(self, name: str) -> None:
        self.renewal_failures += 1
        self._hooks.emit("on_lease_renewal_failed", name=name, kind="trigger")


_LOST: Final = "lost_claim"
_HELD: Final = "held"
_HANDED_OFF: Final = "dispatching"
_MISSED: Final = "missed"


def _named(
    due: Sequence[Due], outcome: dict[str, str | Exception], which: str
) -> tuple[str, ...]:
    return tuple(d.row.name for d in due if outcome[d.row.name] is which)


def _claim_failed(
    rows: Sequence[TriggerRow], exc: Exception, outcome: dict[str, str | Exception]
) -> None:
    names = [row.name for row in rows]
    LOGGER.error(
        "could not claim %d trigger(s) (%s); not dispatched",
        len(names),
        brief(", ".join(map(repr, names))),
        exc_info=exc,
        extra={"tickwork_triggers": names},
    )
    for name in names:
        outcome[name] = exc
