"""TriggerSweeper: fire each due trigger once per window, claim first.

One sweep lists the enabled rows, decides for each (invalid, not due, due,
very overdue), claims every due row by a compare-and-set of its
``last_fired_at`` and only then dispatches the rows it won, at most
``max_concurrent`` at a time. Because the claim is stored before dispatch, a
dispatch that fails or a process that dies cannot make a row fire again
before its next window: delivery is at most once per window.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Final, final

import attrs
import trio

from tickwork._errors import InvalidConfigError, WrongTypeError
from tickwork._hooks import Hooks
from tickwork._loop import Loop
from tickwork._validation import check_number, check_positive, check_positive_int
from tickwork.triggers._decide import Decider
from tickwork.triggers._model import datetime_micros, format_timestamp, utc_now

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Sequence
    from datetime import datetime

    from tickwork.triggers._model import TriggerRow, TriggerStore

LOGGER = logging.getLogger("tickwork.triggers")

# A sweep must come at least every 5 minutes: a typo such as 3600 for 60
# would otherwise idle every schedule for an hour.
MAX_TICK_INTERVAL: Final = 300.0
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
    """Skipped because the interval does not parse or is below ``min_interval``."""
    lost_claim: tuple[str, ...] = ()
    """Due, but another sweeper claimed the window first; not dispatched."""
    errors: tuple[tuple[str, Exception], ...] = ()
    """``(name, exception)``: the claim raised (not dispatched) or the dispatch
    raised (claimed: the trigger waits for its next window)."""
    listing_error: Exception | None = None
    """Set when the store could not list the rows: nothing was decided and the
    next sweep tries again."""


@final
class TriggerSweeper:
    """Fires the due triggers of a `TriggerStore`, each window once.

    Per enabled row, in one sweep:

    - interval unparseable, or shorter than *min_interval* → ``invalid``,
      with a WARNING the first time this sweeper sees that row so;
    - never fired, or ``last_fired_at`` unparseable (WARNING) → due;
    - now < last fired + interval → ``not_due``;
    - now - last fired > *catch_up_factor* x interval → due, with one WARNING
      containing "catch-up": it fires once, never a burst of missed windows;
    - ``last_fired_at`` more than one interval in the future (a clock set
      wrong somewhere) → ``not_due``, with a WARNING, since firing would fire
      the window again for every replica that believes it.

    A due row is claimed first (its ``last_fired_at`` set to now, compared and
    set against what this sweep read), then dispatched with the row as read.
    A lost claim is not dispatched; a claim or dispatch that raises lands in
    ``errors`` and the other rows go on. A listing failure is logged and ends
    the sweep; the next tick tries again. A crash between claim and dispatch
    loses that window's fire: delivery is at most once per window.

    Args:
        store: the `TriggerStore` to sweep.
        dispatch: async callable taking the `TriggerRow` as read. Keep it
            short (hand the work off): the next sweep waits for this one.
        tick_interval: seconds between sweeps of `loop`; > 0. Values above
            300 are clamped to 300 with a WARNING, so a typo cannot idle every
            schedule.
        min_interval: trigger intervals below this many seconds are invalid.
        catch_up_factor: a row overdue by more than this many intervals is a
            catch-up; >= 1.
        clock: returns the current time as an aware `datetime`.
        max_concurrent: dispatches in flight at once; an int >= 1.
        hooks: objects with ``on_trigger_fired(*, trigger)``,
            ``on_trigger_lost_claim(*, trigger)`` or
            ``on_trigger_invalid(*, trigger, reason)`` (see tickwork's hooks).

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

    def __init__(  # noqa: PLR0913 - the SPEC's signature
        self,
        store: TriggerStore,
        dispatch: Callable[[TriggerRow], Awaitable[object]],
        *,
        tick_interval: float = 30.0,
        min_interval: float = 60.0,
        catch_up_factor: float = 2.0,
        clock: Callable[[], datetime] = utc_now,
        max_concurrent: int = 25,
        hooks: Iterable[object] = (),
    ) -> None:
        """Check the configuration; see the class docstring."""
        callables: tuple[tuple[str, object], ...] = (
            ("dispatch", dispatch),
            ("clock", clock),
        )
        for name, value in callables:
            if not callable(value):
                msg = f"{name!r} must be callable (got {value!r})"
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
        self.catch_up_factor: float = check_number("catch_up_factor", catch_up_factor)
        if not (math.isfinite(catch_up_factor) and catch_up_factor >= 1):
            msg = f"'catch_up_factor' must be finite and >= 1 (got {catch_up_factor!r})"
            raise InvalidConfigError(msg)
        self.max_concurrent: int = check_positive_int("max_concurrent", max_concurrent)
        self.store = store
        self.dispatch = dispatch
        self.clock = clock
        self._hooks = Hooks(hooks)
        self._decider = Decider(self.min_interval, self.catch_up_factor, self._hooks)

    def loop(self, name: str = "triggers") -> Loop:
        """A `Loop` that sweeps every ``tick_interval``, and at start.

        Sweeping at start means a restart never idles a whole tick.
        """
        return Loop(name=name, fn=self.sweep, interval=self.tick_interval)

    async def sweep(self) -> SweepReport:
        """Decide every enabled row, claim the due ones, dispatch those won."""
        now = self.clock()
        fired_at = format_timestamp(now)
        try:
            rows = await self.store.enabled()
        except Exception as exc:
            LOGGER.exception("could not list the triggers; the next tick tries again")
            return SweepReport(listing_error=exc)
        decisions = self._decider.decide(rows, datetime_micros(now))
        due = decisions.due
        # name -> _FIRED, _LOST or the exception, for the due rows only.
        outcome: dict[str, str | Exception] = {}
        won = await self._claim(due, fired_at, outcome)
        for row in won:
            if (overdue := decisions.catch_up.get(row.name)) is not None:
                LOGGER.warning(
                    "trigger %r: catch-up, %.1f intervals overdue; firing it once",
                    row.name,
                    overdue,
                    extra={"tickwork_trigger": row.name},
                )
        if won:
            await self._dispatch_all(won, outcome)
        report = SweepReport(
            fired=tuple(row.name for row in due if outcome[row.name] is _FIRED),
            not_due=tuple(decisions.not_due),
            invalid=tuple(decisions.invalid),
            lost_claim=tuple(row.name for row in due if outcome[row.name] is _LOST),
            errors=tuple(
                (row.name, error)
                for row in due
                if isinstance(error := outcome[row.name], Exception)
            ),
        )
        LOGGER.log(
            logging.INFO if report.fired or report.errors else logging.DEBUG,
            "swept %d trigger(s): %d fired, %d not due, %d invalid, "
            "%d lost to another sweeper, %d error(s)",
            len(rows),
            len(report.fired),
            len(report.not_due),
            len(report.invalid),
            len(report.lost_claim),
            len(report.errors),
        )
        return report

    async def _claim(
        self,
        due: Sequence[TriggerRow],
        fired_at: str,
        outcome: dict[str, str | Exception],
    ) -> list[TriggerRow]:
        """Claim *due* rows; return those won, in order.

        Lost claims and claims that raised are recorded in *outcome*.
        """
        claim_many = getattr(self.store, "claim_many", None)
        won: set[str] = set()
        if claim_many is None:
            for row in due:
                try:
                    if await self.store.claim(row.id, row.last_fired_at, fired_at):
                        won.add(row.id)
                except Exception as exc:  # noqa: BLE001, PERF203 - reported, the sweep goes on
                    _claim_failed([row], exc, outcome)
        else:
            for start in range(0, len(due), CLAIM_BATCH):
                batch = due[start : start + CLAIM_BATCH]
                pairs = [(row.id, row.last_fired_at) for row in batch]
                try:
                    won.update(await claim_many(pairs, fired_at))
                except Exception as exc:  # noqa: BLE001 - reported, the sweep goes on
                    _claim_failed(batch, exc, outcome)
        winners = []
        for row in due:
            if row.id in won:
                winners.append(row)
            elif row.name not in outcome:
                outcome[row.name] = _LOST
                LOGGER.debug(
                    "trigger %r: another sweeper claimed this window", row.name
                )
                self._hooks.emit("on_trigger_lost_claim", trigger=row)
        return winners

    async def _dispatch_all(
        self, rows: list[TriggerRow], outcome: dict[str, str | Exception]
    ) -> None:
        """Dispatch *rows*, at most ``max_concurrent`` at once."""
        todo = iter(rows)

        async def worker() -> None:
            for row in todo:
                try:
                    await self.dispatch(row)
                except Exception as exc:  # noqa: PERF203 - isolated per row (logged)
                    LOGGER.exception(
                        "trigger %r: dispatch failed; it waits for its next window",
                        row.name,
                        extra={"tickwork_trigger": row.name},
                    )
                    outcome[row.name] = exc
                else:
                    outcome[row.name] = _FIRED
                    self._hooks.emit("on_trigger_fired", trigger=row)

        async with trio.open_nursery() as nursery:
            for _ in range(min(self.max_concurrent, len(rows))):
                nursery.start_soon(worker)


_FIRED: Final = "fired"
_LOST: Final = "lost_claim"


def _claim_failed(
    rows: Sequence[TriggerRow], exc: Exception, outcome: dict[str, str | Exception]
) -> None:
    names = [row.name for row in rows]
    LOGGER.error(
        "could not claim %d trigger(s) (%s); not dispatched",
        len(names),
        ", ".join(map(repr, names)),
        exc_info=exc,
        extra={"tickwork_triggers": names},
    )
    for name in names:
        outcome[name] = exc
