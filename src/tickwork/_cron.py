"""CronSchedule: calendar fire times in an IANA time zone, with DST made explicit.

The expression (`tickwork._cron_expr`) is matched in local wall time, and each
matching wall time becomes an instant in UTC through the stdlib `zoneinfo`.
Most wall times name exactly one instant; around a change of UTC offset they
do not, and two policies decide:

- A gap (spring forward) holds wall times that never happen. ``on_gap="shift"``
  fires such a time at the first instant after the gap, the instant of the
  change; ``"skip"`` does not fire it. Every matching time in one gap shifts
  to that same instant, which fires once: fire times strictly increase, and a
  job due at 02:00 and 02:30 runs once, late, rather than twice at once. A
  shifted run may land on the next local date (America/Nuuk skips Saturday
  23:00-24:00: Saturday's 23:30 runs at Sunday 00:00), but a time on a local
  date that does not exist at all (Pacific/Apia skipped 2011-12-30) is not
  shifted: there is no day to run for, so a daily job runs once for each
  local date that exists, and never twice for one.
- A fold (fall back) holds wall times that happen twice. ``on_fold="first"``
  fires at the earlier instant, ``"last"`` at the later, ``"both"`` at both.

Each change is located by bisection on whole seconds (tz database changes
fall on whole seconds), and only when a matching wall time is ambiguous or
missing: the common case costs two offset look-ups per fire time.

Jitter delays each fire time by a keyed hash of the schedule and the
instant (as `WindowGrid` does for windows): every replica computes the same
delays with no shared state, and no generator is drawn from.

Pure: no trio, no clock, no global random.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import math
import zoneinfo
from typing import TYPE_CHECKING, Final, Literal, cast, final

import attrs

from tickwork._cron_expr import LAST_YEAR, CronFields
from tickwork._errors import InvalidConfigError, WrongTypeError
from tickwork._lease import MAX_COUNTED
from tickwork._rng import key64, keyed_unit
from tickwork._text import brief
from tickwork._validation import check_non_negative

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

GapPolicy = Literal["shift", "skip"]
FoldPolicy = Literal["first", "last", "both"]

_UTC: Final = dt.timezone.utc
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=_UTC)
_EPOCH_WALL: Final = dt.datetime(1970, 1, 1)  # noqa: DTZ001 - wall-time arithmetic
_SECOND: Final = dt.timedelta(seconds=1)
_MICROSECOND: Final = dt.timedelta(microseconds=1)
_MINUTE: Final = dt.timedelta(minutes=1)
_MICROS: Final = 1_000_000
_MINUTE_US: Final = 60 * _MICROS
# `after` is clamped into the range where a local time never leaves `datetime`.
_LOW_US: Final = (dt.datetime(1, 1, 2, tzinfo=_UTC) - _EPOCH) // _MICROSECOND
_HIGH_US: Final = (
    dt.datetime(LAST_YEAR + 1, 1, 1, tzinfo=_UTC) - _EPOCH
) // _MICROSECOND


def _text(_inst: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str):
        msg = f"{attribute.name!r} must be a str (got {brief(value)})"
        raise WrongTypeError(msg)


def _non_negative(
    _inst: object, attribute: attrs.Attribute[float], value: object
) -> None:
    check_non_negative(attribute.name, value)


def _one_of(*allowed: str) -> Callable[[object, attrs.Attribute[str], object], None]:
    def validator(
        _inst: object, attribute: attrs.Attribute[str], value: object
    ) -> None:
        if not isinstance(value, str):
            msg = f"{attribute.name!r} must be a str (got {brief(value)})"
            raise WrongTypeError(msg)
        if value not in allowed:
            choices = ", ".join(repr(choice) for choice in allowed)
            msg = f"{attribute.name!r} must be one of {choices} (got {brief(value)})"
            raise InvalidConfigError(msg)

    return validator


def _micros(after: object) -> int:
    """*after* in microseconds since the epoch, clamped to the searchable range."""
    if not isinstance(after, dt.datetime):
        msg = f"'after' must be an aware datetime (got {brief(after)})"
        raise WrongTypeError(msg)
    if after.utcoffset() is None:
        msg = f"'after' must be an aware datetime, not naive (got {brief(after)})"
        raise InvalidConfigError(msg)
    return min(max((after - _EPOCH) // _MICROSECOND, _LOW_US), _HIGH_US)


def _seconds(instant: dt.datetime) -> int:
    """A naive UTC datetime (a wall time minus its offset) in epoch seconds."""
    return (instant - _EPOCH_WALL) // _SECOND


def _wall(second: int, offset: dt.timedelta) -> dt.datetime:
    """The wall time of an instant at a given UTC offset."""
    return _EPOCH_WALL + dt.timedelta(seconds=second) + offset


def _ceil_minute(wall: dt.datetime) -> dt.datetime:
    if wall.second or wall.microsecond:
        return wall.replace(second=0, microsecond=0) + _MINUTE
    return wall


@final
@attrs.frozen
class CronSchedule:
    """When a calendar job fires: a cron expression in a time zone.

    Args:
        expression: five fields ``minute hour day-of-month month day-of-week``
            (lists, ranges, steps, JAN-DEC, SUN-SAT, 0 and 7 for Sunday) or a
            macro: ``@hourly``, ``@daily`` (``@midnight``), ``@weekly``,
            ``@monthly``, ``@yearly`` (``@annually``). Day-of-month and
            day-of-week combine as in Vixie cron: when both are restricted (neither
            starts with ``*``) a day matches if either does.
        timezone: an IANA zone name, read through `zoneinfo`.
        jitter: the most seconds, >= 0, each fire time is delayed by. The
            delay is a keyed hash of *key*, the expression, the zone and the
            nominal instant, the same on every replica, and never reaches the
            next nominal fire time, so fire times still strictly increase.
        on_gap: a local time that does not exist (spring forward): ``"shift"``
            fires at the first instant after the gap, ``"skip"`` does not fire.
            Every time in one gap shifts to the same instant, which fires once;
            a time on a local date that does not exist at all is not shifted.
        on_fold: a local time that happens twice (fall back): ``"first"``
            fires at the earlier instant, ``"last"`` at the later, ``"both"``
            at both.
        key: names the jitter: schedules that differ only in key spread apart.

    Fire times are aware datetimes in UTC, strictly increasing. They end
    with local year 9998, the end of `datetime`'s range.

    Raises:
        InvalidConfigError: a bad expression (the message names the field and
            the offending part), one that can never match (``0 0 31 2 *``), an
            unknown zone, a negative jitter or an unknown policy.
        WrongTypeError: a value of the wrong type.

    Example:
        >>> import datetime as dt
        >>> nightly = CronSchedule("30 2 * * *", timezone="Europe/Berlin")
        >>> after = dt.datetime(2026, 3, 28, 12, tzinfo=dt.timezone.utc)
        >>> [t.isoformat() for t in nightly.next_fire_times(after, 2)]
        ['2026-03-29T01:00:00+00:00', '2026-03-30T00:30:00+00:00']
    """

    expression: str = attrs.field(validator=_text)
    timezone: str = attrs.field(default="UTC", kw_only=True, validator=_text)
    jitter: float = attrs.field(default=0.0, kw_only=True, validator=_non_negative)
    on_gap: GapPolicy = attrs.field(
        default="shift", kw_only=True, validator=_one_of("shift", "skip")
    )
    on_fold: FoldPolicy = attrs.field(
        default="first", kw_only=True, validator=_one_of("first", "last", "both")
    )
    key: str = attrs.field(default="", kw_only=True, validator=_text)
    _fields: CronFields = attrs.field(init=False, repr=False, eq=False)
    _zone: zoneinfo.ZoneInfo = attrs.field(init=False, repr=False, eq=False)
    _jitter_us: int = attrs.field(init=False, repr=False, eq=False)
    _hash: int = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_fields", CronFields.parse(self.expression))
        try:
            zone = zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            msg = (
                "'timezone' must be an IANA zone name such as 'Europe/Berlin': "
                f"unknown zone (got {brief(self.timezone)})"
            )
            raise InvalidConfigError(msg) from None
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "_jitter_us", int(float(self.jitter) * _MICROS))
        seed = f"{self.key}\n{self.expression}\n{self.timezone}"
        object.__setattr__(self, "_hash", key64(seed))

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The time zone, to show fire times in local time."""
        return self._zone

    def fire_times(self, after: dt.datetime) -> Iterator[dt.datetime]:
        """Yield the fire times strictly after *after*, in UTC, in order.

        Raises:
            InvalidConfigError: *after* is naive.
            WrongTypeError: *after* is not a datetime.
        """
        return self._fire_times(_micros(after))

    def next_fire_times(self, after: dt.datetime, n: int) -> list[dt.datetime]:
        """The first *n* fire times strictly after *after*, as `fire_times` yields.

        Fewer only at the end of `datetime`'s range.

        Raises:
            InvalidConfigError: *after* is naive, or *n* < 0.
            WrongTypeError: *after* is not a datetime, or *n* not an int.
        """
        start = _micros(after)
        if isinstance(n, bool) or not isinstance(n, int):
            msg = f"'n' must be an int (got {brief(n)})"
            raise WrongTypeError(msg)
        if n < 0:
            msg = f"'n' must be >= 0 (got {n!r})"
            raise InvalidConfigError(msg)
        return list(itertools.islice(self._fire_times(start), n))

    def next_fire_time(self, after: dt.datetime) -> dt.datetime:
        """The first fire time strictly after *after*.

        Raises:
            InvalidConfigError: *after* is naive, or so close to the end of
                `datetime`'s range that no fire time follows.
            WrongTypeError: *after* is not a datetime.
        """
        for instant in self._fire_times(_micros(after)):
            return instant
        msg = (
            "'after' leaves no fire time before the end of datetime's range "
            f"(got {brief(after)})"
        )
        raise InvalidConfigError(msg)

    def _starts(self, low_us: int) -> Iterator[int]:
        """The nominal fire times at or after *low_us*, in microseconds."""
        after = max((-(-low_us // _MICROS) - 1) * _MICROS, _LOW_US)
        for second in self._nominal(min(after, _HIGH_US)):
            yield second * _MICROS

    def _delay_us(self, second: int, following: int | None) -> int:
        """The jitter of nominal time *second*, below the gap to *following*."""
        cap = 0
        if following is not None:
            cap = min(self._jitter_us, (following - second) * _MICROS)
        return min(int(keyed_unit(self._hash, second) * cap), cap - 1) if cap else 0

    def _fire_times(self, after_us: int) -> Iterator[dt.datetime]:
        if not self._jitter_us:
            for second in self._nominal(after_us):
                yield _EPOCH + dt.timedelta(seconds=second)
            return
        nominal = self._nominal(self._jitter_start(after_us))
        current = next(nominal, None)
        while current is not None:
            following = next(nominal, None)
            # The delay stays below the gap to the next nominal time, so the
            # order holds; the last time before year 9999 is not delayed.
            fire = current * _MICROS + self._delay_us(current, following)
            if fire > after_us:
                yield _EPOCH + dt.timedelta(microseconds=fire)
            current = following

    def _jitter_start(self, after_us: int) -> int:
        """Where the nominal times whose delayed fire may follow *after_us* begin.

        A delayed time passes *after_us* only if its nominal time is within
        the jitter before it, and only the last nominal time at or before
        *after_us* can (each delay stays below the next gap): look back in
        doubling spans for it, so a large jitter costs a few searches.
        """
        back = min(_MINUTE_US, self._jitter_us)
        while True:
            low = max(after_us - back, _LOW_US)
            first = next(self._nominal(low), None)
            if first is None or first * _MICROS <= after_us:
                return low
            if back >= self._jitter_us or low == _LOW_US:
                # No nominal time within the jitter before after_us.
                return after_us
            back = min(2 * back, self._jitter_us)

    def _nominal(self, after_us: int) -> Iterator[int]:
        """The nominal fire times after *after_us*, in epoch seconds, increasing."""
        last = after_us // _MICROS
        for second in self._walk(self._start_wall(after_us)):
            if second > last:
                last = second
                yield second

    def _start_wall(self, after_us: int) -> dt.datetime:
        """The first wall time whose instants may follow *after_us*."""
        local = (_EPOCH + dt.timedelta(microseconds=after_us)).astimezone(self._zone)
        wall = local.replace(tzinfo=None)
        if not local.fold:
            offset, later = self._offsets(wall)
            if later < offset:
                # The first pass of a fold: the times before it come again later.
                wall = _wall(self._change(wall, offset, later), later)
        return _ceil_minute(wall)

    def _offsets(self, wall: dt.datetime) -> tuple[dt.timedelta, dt.timedelta]:
        """The offsets of a wall time before and after a change (PEP 495 fold)."""
        zone = self._zone
        # A ZoneInfo gives every wall time an offset, never None.
        return (
            cast("dt.timedelta", zone.utcoffset(wall.replace(tzinfo=zone))),
            cast("dt.timedelta", zone.utcoffset(wall.replace(tzinfo=zone, fold=1))),
        )

    def _walk(self, wall: dt.datetime) -> Iterator[int]:
        """Instants of the matching wall times from *wall* on, as the policies say.

        Increasing but for repeats, which `_nominal` drops.
        """
        fields = self._fields
        while (found := fields.next_wall(wall)) is not None:
            before, after = self._offsets(found)
            if before == after:
                yield _seconds(found - before)
                wall = found + _MINUTE
                continue
            change = self._change(found, before, after)
            start, end = (
                _wall(change, min(before, after)),
                _wall(change, max(before, after)),
            )
            if after > before:
                if self.on_gap == "shift" and self._shifts(found, start, end):
                    yield change
            else:
                walls: list[dt.datetime] = []
                candidate: dt.datetime | None = found
                while candidate is not None and candidate < end:
                    walls.append(candidate)
                    candidate = fields.next_wall(candidate + _MINUTE)
                if self.on_fold != "last":
                    yield from (_seconds(each - before) for each in walls)
                if self.on_fold != "first":
                    yield from (_seconds(each - after) for each in walls)
            wall = _ceil_minute(end)

    def _change(
        self, wall: dt.datetime, before: dt.timedelta, after: dt.timedelta
    ) -> int:
        """The instant, in epoch seconds, of the offset change around *wall*.

        The instants of *wall* at the two offsets lie on either side of it.
        """
        low = _seconds(wall - max(before, after))
        high = _seconds(wall - min(before, after))
        while high - low > 1:
            middle = (low + high) // 2
            local = (_EPOCH + dt.timedelta(seconds=middle)).astimezone(self._zone)
            if self._zone.utcoffset(local) == before:
                low = middle
            else:
                high = middle
        return high

    def _shifts(self, wall: dt.datetime, start: dt.datetime, end: dt.datetime) -> bool:
        """Whether a gap [start, end) that *wall* (its first match) is in fires.

        Yes when a matching time in it lies on a local date that exists: the
        date the gap starts on (unless it starts at midnight) or ends on.
        """
        if wall.date() == end.date():
            return True
        if wall.date() == start.date() and start.time() != dt.time():
            return True
        later = self._fields.next_wall(dt.datetime.combine(end.date(), dt.time()))
        return later is not None and later < end


_NEVER: Final = _HIGH_US + 1
"""The start of a window that never comes: after the last one of the range."""
_FIRST_SPAN: Final = 64 * _MICROS
_AHEAD: Final = 8
"""How many window starts `CalendarGrid.following` finds in one walk."""


@final
class CalendarGrid:
    """A `CronSchedule`'s windows, for the runners and the claim rules.

    A window is named by its nominal start in microseconds since the epoch
    (an int, as `WindowGrid` names one by its index) and fires at that start
    plus the schedule's jitter. Windows are not evenly spaced: the next one,
    how many lie between two, and the ones before an instant are found by
    walking the schedule, which costs a few microseconds a window.
    """

    __slots__ = ("_ahead", "schedule")

    spread: Final = 0.0
    """Fire instants never precede their window's start."""

    def __init__(self, schedule: CronSchedule) -> None:
        """The windows of *schedule*."""
        self.schedule = schedule
        # Consecutive window starts, found in one walk for the next
        # `following` calls: a loop asks for them in turn, and one walk of
        # _AHEAD costs about what three single steps do.
        self._ahead: list[int] = []

    def starts(self, low: int) -> Iterator[int]:
        """The window starts at or after *low* (µs), increasing."""
        return self.schedule._starts(low)  # noqa: SLF001 - the grid is the schedule's

    def before(self, high: int, n: int) -> list[int]:
        """The last *n* window starts before *high* (µs), oldest first.

        Looks back in spans growing fourfold until it finds them, so the
        cost stays a few walks whatever the schedule's spacing.
        """
        span = _FIRST_SPAN
        while True:
            low = max(high - span, _LOW_US)
            found = list(itertools.takewhile(lambda s: s < high, self.starts(low)))
            if len(found) >= n or low == _LOW_US:
                return found[len(found) - n :] if n else []
            span *= 4

    def following(self, index: int) -> int:
        """The window after window *index* (the first start after it)."""
        ahead = self._ahead
        if not (ahead and ahead[0] <= index < ahead[-1]):
            ahead = self._ahead = list(itertools.islice(self.starts(index + 1), _AHEAD))
            if not ahead:
                return _NEVER
        # Every start from ahead[0] to ahead[-1] is in it: the first above.
        return ahead[bisect.bisect_right(ahead, index)]

    def start(self, index: int) -> float:
        """Window *index*'s nominal start, in seconds since the epoch."""
        return index / _MICROS

    def fire(self, index: int) -> float:
        """Window *index*'s fire instant, in seconds since the epoch.

        Infinite for the window after the last one of `datetime`'s range.
        """
        if index >= _NEVER:
            return math.inf
        return self.fire_us(index) / _MICROS

    def fire_us(self, index: int) -> int:
        """Window *index*'s fire instant, in microseconds."""
        if not self.schedule.jitter or index >= _NEVER:
            return index
        following = self.following(index)
        second = index // _MICROS
        delay = self.schedule._delay_us(  # noqa: SLF001 - the grid is the schedule's
            second, None if following >= _NEVER else following // _MICROS
        )
        return index + delay

    def step(self, index: int) -> int:
        """Microseconds from window *index* to the next one."""
        return self.following(index) - index

    def count(self, low: int, high: int) -> int:
        """How many window starts lie in ``[low, high)`` (µs).

        At most `tickwork._lease.MAX_COUNTED`. *low* and *high* may be any
        instants: the claim rules count between claims, resumes and runs.
        """
        return sum(
            1
            for _ in itertools.islice(
                itertools.takewhile(lambda s: s < high, self.starts(low)), MAX_COUNTED
            )
        )

    def last_due(self, now: float) -> int:
        """The latest window whose fire instant is at or before *now* (seconds)."""
        now_us = round(now * _MICROS)
        latest = self.before(now_us + 1, 2)
        if latest and self.fire_us(latest[-1]) > now_us:
            latest.pop()
        return latest[-1] if latest else _LOW_US

    def first_after(self, now: float) -> int:
        """The first window whose fire instant is after *now* (seconds)."""
        return self.following(self.last_due(now))

    def index_of(self, window: int) -> int:
        """The window whose nominal start is *window* µs: the same int."""
        return window
