"""Which rows of a sweep are due: the per-row rules, made cheap.

Pure: no trio, no clock; "now" is an argument in microseconds since the
epoch, so every comparison is exact integer arithmetic. A sweep reads every
enabled row, so the common row (valid interval, timestamp in the sweeper's own
form, not due) costs two dict lookups and a comparison: parsed intervals and
timestamps are remembered between sweeps (timestamps only while some row
still carries them, so the memory stays one entry per distinct text).

A calendar row (a cron expression in a time zone) takes the slower branch
`_calendar`: its windows are its schedule's fire times, found by walking
the schedule once per schedule and per window (`_Span`), never per row.

Rows come from a store unchecked. A row whose fields are not what the sweep
needs (an id that is not non-empty text, a name or a timestamp that is not
text: a store hands back undecodable text as bytes and a NULL as None; an
``enabled`` that is no bool) is invalid: reported, skipped alone, never
claimed. Only rows about to be due are checked this way; a broken interval
or timestamp fails its own parse.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final, final

import attrs

from tickwork._lease import CANCELLED
from tickwork._text import brief, cut
from tickwork.triggers._calendar import calendar_grid
from tickwork.triggers._model import (
    interval_seconds,
    micros_timestamp,
    timestamp_micros,
)
from tickwork.triggers._rows import values_of

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tickwork._cron import CalendarGrid
    from tickwork._hooks import Hooks
    from tickwork.triggers._model import TriggerRow
    from tickwork.triggers._rows import Values

LOGGER = logging.getLogger("tickwork.triggers")

_MICROS: Final = 1_000_000
# Distinct interval texts (and cron schedules) are few in practice; a table
# that somehow grows past this is cleared rather than allowed to grow
# without bound.
_MAX_INTERVALS: Final = 4096
# The start of a window before every other: a calendar with none yet.
_NO_WINDOW: Final = -(2**63)


@final
@attrs.frozen
class Due:
    """A due row and the window to claim for it."""

    row: TriggerRow
    window: int
    """The window's start, microseconds since the epoch (also its fire instant)."""
    anchor: int | None
    """The anchor to store with the claim: set for a row that has none yet."""
    step: int = 0
    """The row's interval in microseconds (its grid, for catch-up); for a
    calendar row, the time from this window to its next."""
    calendar: CalendarGrid | None = attrs.field(default=None, eq=False)
    """A calendar row's windows (its cron schedule's); None for an interval."""


@final
@attrs.define
class Decisions:
    """One sweep's verdicts before any claim: names in listing order."""

    due: list[Due] = attrs.Factory(list)
    not_due: list[str] = attrs.Factory(list)
    held: list[tuple[str, str]] = attrs.Factory(list)
    """``(id, name)`` of rows whose next window has come, but a dispatch of an
    earlier window still holds its lease (here or on another replica):
    skipped."""
    invalid: list[str] = attrs.Factory(list)
    catch_up: dict[str, float] = attrs.Factory(dict)
    """name -> how many intervals (a calendar's: windows) overdue, for due
    rows past catch_up_factor."""


@final
class _Span:
    """A calendar's window due at some instant, and the start of the next.

    Every row of one schedule shares it, and it stays right until the next
    window starts, so the schedule is walked once a window, not once a row.
    """

    __slots__ = ("end", "grid", "start")

    def __init__(self, grid: CalendarGrid) -> None:
        """An empty span of *grid*'s: the first `at` finds the window."""
        self.grid = grid
        self.start = self.end = _NO_WINDOW

    def at(self, now_us: int) -> int:
        """The latest window started at or before *now_us*; `_NO_WINDOW` if none.

        `end` is then the next window's start.
        """
        if not self.start <= now_us < self.end:
            # Trigger calendars have no jitter: a window fires at its start.
            latest = self.grid.before(now_us + 1, 1)
            self.start = latest[0] if latest else _NO_WINDOW
            self.end = self.grid.following(latest[0] if latest else now_us)
        return self.start

    def overdue(self, window: int, now_us: int) -> float:
        """How many windows overdue a row whose last window is *window* is.

        The windows since *window*, the one due at the last `at` included,
        plus how far into it *now_us* is: an interval row's measure,
        ``(now - window) / interval``.
        """
        start = self.start
        since = self.grid.count(window + 1, start) + 1
        return since + (now_us - start) / (self.end - start)


@final
class Decider:
    """Applies the sweep rules to rows; one per sweeper, reused every sweep."""

    __slots__ = (
        "_calendars",
        "_catch_up",
        "_hooks",
        "_intervals",
        "_min",
        "_redo",
        "_stamps",
        "_warned",
    )

    def __init__(
        self,
        min_interval: float,
        catch_up_factor: float,
        hooks: Hooks,
        *,
        redo: int | None = None,
    ) -> None:
        """Rules with their thresholds; *hooks* hear about invalid rows.

        *redo*: at least once, how many windows back a window left without
        an outcome (or cancelled) is claimed again; None for at most once.
        """
        self._min = min_interval
        self._catch_up = catch_up_factor
        self._hooks = hooks
        self._redo = redo
        self._intervals: dict[str, int] = {}  # valid interval text -> microseconds
        # (cron, timezone) -> its span, or why the pair is invalid.
        self._calendars: dict[tuple[object, object], _Span | str] = {}
        self._stamps: dict[str, int] = {}  # timestamp text -> microseconds
        # Rows warned about, with the text that was wrong: a broken row logs
        # one WARNING, not one per tick (the reports still list it each time).
        self._warned: dict[str, str] = {}

    def decide(self, rows: Sequence[TriggerRow], now_us: int) -> Decisions:  # noqa: C901, PLR0912, PLR0915 - one inlined hot loop
        """Sort *rows* into due, not due, held and invalid, as of *now_us*.

        A row's windows start at ``anchor_us + k * interval``. The window
        due is the latest that has started; the row is due if no claim took
        that window yet (``window_us`` below it). A row with no anchor yet
        takes its last fire (a row written by tickwork 0.1), or now. A
        calendar row is decided by `_calendar`.

        The rule reads each row's values (`values_of`: a `Rows` listing is
        never built into `TriggerRow` objects); a `TriggerRow` is taken
        from *rows* only for the rows that are due or invalid.
        """
        out = Decisions()
        not_due = out.not_due
        intervals, warned, redo = self._intervals, self._warned, self._redo
        seen: dict[str, int] = {}
        for index, values in enumerate(values_of(rows)):
            try:
                (
                    ident,
                    name,
                    interval,
                    _enabled,  # as read: checked on the built row (see Rows)
                    last,
                    anchor,
                    window,
                    token,
                    _holder,
                    lease_until,
                    outcome,
                    _attempt,
                    _lost,
                    cron,
                    zone,
                ) = values
                if cron is not None or zone is not None:
                    self._calendar(rows, index, values, now_us, out, seen)
                    continue
                interval_us = intervals.get(interval)
                if (
                    interval_us is None
                    and (interval_us := self._interval(rows[index], out)) is None
                ):
                    continue
                new_anchor = None
                if anchor is None:
                    if last is not None and not isinstance(last, str):
                        # A store may hand back bytes.
                        self._invalid(rows[index], out, _broken("last_fired_at", last))
                        continue
                    anchor = self._legacy_anchor(rows, index, last, seen)
                    if anchor is None:  # never fired: its window 0 starts now
                        self._due(Due(rows[index], now_us, now_us, interval_us), out)
                        continue
                    new_anchor = anchor
                    if window is None:  # its last fire was its window 0
                        window = anchor
                elif type(anchor) is not int:
                    self._invalid(rows[index], out, _broken("anchor_us", anchor))
                    continue
                if anchor > now_us:  # its window 0 has not started yet
                    if anchor - now_us > interval_us:
                        self._warn_once(
                            rows[index],
                            anchor,
                            "trigger %s: its next window starts more than one "
                            "interval in the future (%s); not firing it until "
                            "then (check the clocks)",
                            _when(anchor),
                        )
                    not_due.append(name)
                    continue
                start = anchor + (now_us - anchor) // interval_us * interval_us
                if window is not None and window >= start:
                    if window - now_us > interval_us:
                        self._warn_once(
                            rows[index],
                            window,
                            "trigger %s: its last window starts more than one "
                            "interval in the future (%s); not firing it until "
                            "then (check the clocks)",
                            _when(window),
                        )
                    elif redo is not None and _abandoned(
                        token, outcome, lease_until, now_us
                    ):
                        self._due(Due(rows[index], start, new_anchor, interval_us), out)
                        continue
                    not_due.append(name)
                    continue
                if warned:
                    warned.pop(ident, None)  # fixed since: warn again if it breaks
                if (
                    redo is not None
                    and window is not None
                    and _abandoned(token, outcome, lease_until, now_us)
                ):
                    pass  # the claim runs the abandoned window again first
                elif _leased(token, outcome, lease_until, now_us):
                    out.held.append((ident, name))
                    continue
                if (
                    window is not None
                    and now_us - window > self._catch_up * interval_us
                ):
                    out.catch_up[name] = (now_us - window) / interval_us
                self._due(Due(rows[index], start, new_anchor, interval_us), out)
            except Exception as exc:  # noqa: BLE001 - a broken row never ends a sweep
                self._invalid(
                    rows[index], out, f"the row could not be read: {brief(exc)}"
                )
        self._stamps = seen
        return out

    def _calendar(  # noqa: C901, PLR0911, PLR0912, PLR0913, PLR0917 - decide's rule for one calendar row, in order
        self,
        rows: Sequence[TriggerRow],
        index: int,
        values: Values,
        now_us: int,
        out: Decisions,
        seen: dict[str, int],
    ) -> None:
        """Decide one calendar row (a cron expression in a zone), as `decide` does.

        Its windows are its schedule's fire times (no jitter: a window fires
        at its start), and those before its anchor (when it was added) are
        not its own: a calendar trigger first fires at its first window
        after it was added. The window due is the latest that has started;
        the rest of the rule is an interval row's. A row with no anchor yet
        takes its last fire if it has one (`_first_anchor`).
        """
        (
            ident,
            name,
            interval,
            _enabled,
            last,
            anchor,
            window,
            token,
            _holder,
            lease_until,
            outcome,
            _attempt,
            _lost,
            cron,
            zone,
        ) = values
        span = self._span(interval, cron, zone)
        if not isinstance(span, _Span):
            self._invalid(rows[index], out, span)
            return
        start = span.at(now_us)
        new_anchor = None
        if anchor is None:
            new_anchor = anchor = self._first_anchor(rows, index, last, span, out, seen)
            if anchor is None:  # decided
                return
        elif type(anchor) is not int:
            self._invalid(rows[index], out, _broken("anchor_us", anchor))
            return
        if start < anchor:  # no window of its own has started yet
            if anchor > span.end:
                self._warn_once(
                    rows[index],
                    anchor,
                    "trigger %s: it is anchored (added) after its next window "
                    "(%s); not firing it until then (check the clocks)",
                    _when(anchor),
                )
            out.not_due.append(name)
            return
        redo = self._redo is not None and _abandoned(
            token, outcome, lease_until, now_us
        )
        if window is not None and window >= start:
            if window > span.end:
                self._warn_once(
                    rows[index],
                    window,
                    "trigger %s: its last window starts after its next window "
                    "(%s); not firing it until then (check the clocks)",
                    _when(window),
                )
            elif redo:
                self._due(self._calendar_due(rows, index, new_anchor, span), out)
                return
            out.not_due.append(name)
            return
        if self._warned:
            self._warned.pop(ident, None)  # fixed since: warn again if it breaks
        if not (redo and window is not None) and _leased(
            token, outcome, lease_until, now_us
        ):
            out.held.append((ident, name))
            return
        if window is not None:
            overdue = span.overdue(window, now_us)
            if overdue > self._catch_up:
                out.catch_up[name] = overdue
        self._due(self._calendar_due(rows, index, new_anchor, span), out)

    @staticmethod
    def _calendar_due(
        rows: Sequence[TriggerRow], index: int, anchor: int | None, span: _Span
    ) -> Due:
        """A calendar row due for its span's window, *anchor* to store."""
        start = span.start
        return Due(rows[index], start, anchor, span.end - start, span.grid)

    def _first_anchor(  # noqa: PLR0913, PLR0917 - the hot loop's locals, handed on
        self,
        rows: Sequence[TriggerRow],
        index: int,
        last: object,
        span: _Span,
        out: Decisions,
        seen: dict[str, int],
    ) -> int | None:
        """The anchor of a calendar row without one; None once it is decided.

        Its last fire (a row written by hand), if that parses. A row that
        never fired has no history: its latest window is due now, as an
        interval row's window 0 is, and becomes its anchor.
        """
        if last is not None and not isinstance(last, str):  # bytes, from a store
            self._invalid(rows[index], out, _broken("last_fired_at", last))
            return None
        anchor = self._legacy_anchor(rows, index, last, seen)
        if anchor is not None:
            return anchor
        start = span.start
        if start == _NO_WINDOW:
            out.not_due.append(rows[index].name)
        else:
            self._due(self._calendar_due(rows, index, start, span), out)
        return None

    def _span(self, interval: object, cron: object, zone: object) -> _Span | str:
        """The span of a calendar row's schedule, or why the row is invalid.

        A row with ``timezone`` but no ``cron``, or with both an interval
        and a cron expression, is invalid; so is an expression or a zone
        that `calendar_grid` refuses (remembered: a bad row's schedule is
        not parsed, nor its zone looked for on disk, every sweep).
        """
        if cron is None:
            return (
                f"its timezone {brief(zone)} is set but its cron is not: a "
                "zone applies to a cron schedule only"
            )
        if interval is not None and interval != "":
            return (
                f"its interval {brief(interval)} and its cron {brief(cron)} are "
                "both set: a trigger has one schedule"
            )
        key = (cron, zone)
        found = self._calendars.get(key)
        if found is None:
            try:
                found = _Span(calendar_grid(cron, zone))
            except (ValueError, TypeError) as exc:
                found = (
                    f"cron {brief(cron)} in timezone {brief(zone)} does not "
                    f"parse: {cut(str(exc))}"
                )
            if len(self._calendars) >= _MAX_INTERVALS:
                self._calendars.clear()
            self._calendars[key] = found
        return found

    def _legacy_anchor(
        self,
        rows: Sequence[TriggerRow],
        index: int,
        last: str | None,
        seen: dict[str, int],
    ) -> int | None:
        """The anchor of a row without one: its last fire, if that parses."""
        if last is None:
            return None
        last_us = self._stamps.get(last)
        if last_us is None:
            last_us = self._timestamp(rows[index])
            if last_us is None:
                return None
        seen[last] = last_us
        return last_us

    def _due(self, due: Due, out: Decisions) -> None:
        """Append a due row to ``out.due``, unless it is broken."""
        row = due.row
        ident: object = row.id  # as the store gave it: maybe None or bytes
        name: object = row.name
        if not (isinstance(ident, str) and ident):
            self._invalid(row, out, _broken("id", ident))
        elif not isinstance(name, str):
            self._invalid(row, out, _broken("name", name))
        elif row.enabled is not True:  # listed as enabled, but no bool
            self._invalid(row, out, f"its enabled {brief(row.enabled)} is not a bool")
        else:
            out.due.append(due)

    def _interval(self, row: TriggerRow, out: Decisions) -> int | None:
        """Parse an interval not seen yet: its microseconds, or None if invalid."""
        if row.interval == "":
            reason = "it has no schedule: its interval is empty and its cron is not set"
            self._invalid(row, out, reason)
            return None
        try:
            seconds = interval_seconds(row.interval)
        except (ValueError, TypeError) as exc:
            reason = f"interval {brief(row.interval)} does not parse: {cut(str(exc))}"
            self._invalid(row, out, reason)
            return None
        if seconds < self._min:
            self._invalid(
                row,
                out,
                f"interval {brief(row.interval)} is below min_interval {self._min:g} s",
            )
            return None
        if len(self._intervals) >= _MAX_INTERVALS:
            self._intervals.clear()
        self._intervals[row.interval] = seconds * _MICROS
        return seconds * _MICROS

    def _timestamp(self, row: TriggerRow) -> int | None:
        """Parse a timestamp not seen last sweep; None (and a WARNING) if bad."""
        try:
            return timestamp_micros(row.last_fired_at)  # type: ignore[arg-type]
        except (ValueError, TypeError):
            self._warn_once(
                row,
                row.last_fired_at,
                "trigger %s: last_fired_at %s is not an RFC 3339 timestamp; "
                "treating it as due",
            )
            return None

    def _invalid(self, row: TriggerRow, out: Decisions, reason: str) -> None:
        name: object = row.name  # a broken row may have no text name
        out.invalid.append(name if isinstance(name, str) else brief(name))
        self._warn_once(row, reason, "trigger %s is invalid: %s", cut(reason, 600))
        self._hooks.emit("on_trigger_invalid", trigger=row, reason=reason)

    def _warn_once(
        self, row: TriggerRow, text: object, message: str, *args: object
    ) -> None:
        """WARNING about *row*, once per wrong *text*; DEBUG afterwards.

        Values in the line are cut to 200 characters; the memory of what was
        warned about keeps a digest-sized key, not a huge value.
        """
        key = brief(text)
        first = self._warned.get(row.id) != key
        self._warned[row.id] = key
        level = logging.WARNING if first else logging.DEBUG
        if not LOGGER.isEnabledFor(level):
            return
        name: object = row.name  # a broken row may have no text name
        LOGGER.log(
            level,
            message,
            brief(name),
            *(args or (key,)),
            extra={"tickwork_trigger": name if isinstance(name, str) else brief(name)},
        )


def _leased(
    token: int, outcome: str | None, lease_until: int | None, now_us: int
) -> bool:
    """Whether a dispatch of the row's last window still holds a valid lease.

    Judged on this replica's clock, to skip a doomed claim; the store judges
    again on its own clock.
    """
    return (
        token > 0
        and outcome is None
        and lease_until is not None
        and lease_until > now_us
    )


def _abandoned(
    token: int, outcome: str | None, lease_until: int | None, now_us: int
) -> bool:
    """Whether the last window was left without an outcome, or cancelled."""
    if token <= 0:
        return False
    if outcome == CANCELLED:
        return True
    return outcome is None and (lease_until is None or lease_until <= now_us)


def _when(us: int) -> str:
    """Microseconds since the epoch as RFC 3339 text, for a log line."""
    return micros_timestamp(us)


def _broken(field: str, value: object) -> str:
    """The reason a row with a broken *field* is invalid."""
    return f"its {field} {brief(value)} is not usable text"
