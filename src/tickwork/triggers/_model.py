"""What a persisted trigger is: its row, its interval text and its timestamps.

A calendar trigger's cron schedule is `tickwork.triggers._calendar`'s.

Pure: no trio, no clock, no SQL. Wall-clock time enters only as arguments, so
the sweeper's decisions are testable with any injected "now". Where rows live
is `tickwork.triggers._store`; the tables, `tickwork.triggers._schema`.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta, timezone
from typing import Final

import attrs

from tickwork._errors import InvalidConfigError, WrongTypeError
from tickwork._lease import WindowState
from tickwork._text import brief

_UNITS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))
# One or more <digits><unit> groups, units in the order d, h, m, s, each at
# most once; ASCII digits only (str.isdigit would accept "٣").
_INTERVAL = re.compile(r"(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")
_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]+))?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
MAX_INTERVAL: Final = "36500d"
# The longest interval: 100 years. No periodic work in a service waits
# longer, so a longer one is a typo or garbage; and it keeps an interval's
# microseconds below 2**53 (3.2e15 < 9.0e15), exact in a float, so the
# sweeper's arithmetic never overflows or rounds.
MAX_INTERVAL_SECONDS: Final = 36_500 * 86_400
# More significant digits than the maximum has means a number above it;
# refusing by length first keeps int() off thousands of digits.
_MAX_DIGITS: Final = len(str(MAX_INTERVAL_SECONDS))
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NAIVE_EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001 - for naive UTC arithmetic
_MICROSECOND = timedelta(microseconds=1)


@attrs.frozen
class TriggerRow:
    """A trigger as its store holds it, unchecked: a row may be broken.

    The sweeper reads rows as they are and reports broken ones instead of
    failing, so building a row never validates it; `TriggerStore.add` is
    what checks new triggers. A row edited by hand may even hold values of
    other types than annotated (SQLite hands back undecodable text as
    `bytes`, a NULL id as None, an odd ``enabled`` as stored); the sweeper
    reports such a row as invalid.
    """

    id: str
    """The store's key for the row (stores generate it on `add`)."""
    name: str
    """Unique within a store; names the trigger in logs and reports."""
    interval: str
    """Duration text such as ``"15m"`` or ``"1h30m"`` (see `parse_interval`);
    the empty string for a calendar trigger, whose schedule is `cron`."""
    enabled: bool
    """Only enabled rows are swept."""
    last_fired_at: str | None
    """UTC RFC 3339 text of when the last window was claimed (the store's
    clock), or None if the trigger never fired."""
    anchor_us: int | None = None
    """Start of window 0 in microseconds since the Unix epoch: the time the
    trigger was added (or, for a row from a version-1 database, its last
    fire). Windows start at ``anchor_us + k * interval``; a calendar
    trigger's are its cron fire times at or after it. None until set."""
    window_us: int | None = None
    """Start of the last window claimed (microseconds); only grows."""
    token: int = 0
    """Fencing token of the last claim; grows with every claim, 0 if none."""
    holder: str | None = None
    """The replica that made the last claim."""
    lease_until_us: int | None = None
    """When the last claim's lease ends (store clock, microseconds); None
    once its outcome is recorded."""
    outcome: str | None = None
    """How the last window ended: succeeded, failed, timed_out, cancelled or
    replaced; None while it is in flight, or if its holder vanished."""
    attempt: int = 0
    """Which attempt at the last window the last claim was (at least once)."""
    lost: int = 0
    """Windows whose holder vanished before recording an outcome."""
    cron: str | None = None
    """A calendar trigger's cron expression, such as ``"0 3 * * *"`` (see
    `tickwork.CronSchedule`); None for an interval trigger."""
    timezone: str | None = None
    """The IANA zone `cron` is read in, such as ``"Europe/Berlin"``; None
    (for a calendar trigger: UTC) for an interval trigger."""
    claimed_us: int | None = None
    """When the last window was claimed (store clock, microseconds)."""
    ended_us: int | None = None
    """When the last window's outcome was recorded (store clock,
    microseconds). This and the fields around it are read by the
    in-memory store; SQL stores read them with the window state, not
    into rows."""
    resumed_us: int | None = None
    """When the trigger was last enabled again (store clock, microseconds):
    windows before it were paused, not missed. Read by the in-memory
    store; SQL stores read it with the window state, not into rows."""

    @property
    def state(self) -> WindowState:
        """The window state, as the lease rules see it."""
        return WindowState(
            paused=self.enabled is False,
            resumed=self.resumed_us,
            anchor=self.anchor_us,
            window=self.window_us,
            token=self.token,
            holder=self.holder,
            lease_until=self.lease_until_us,
            outcome=self.outcome,
            attempt=self.attempt,
            lost=self.lost,
            claimed=self.claimed_us,
            ended=self.ended_us,
        )

    def with_state(self, state: WindowState, last_fired_at: str | None) -> TriggerRow:
        """This row with *state* as its window state."""
        return attrs.evolve(
            self,
            last_fired_at=last_fired_at,
            anchor_us=state.anchor,
            window_us=state.window,
            token=state.token,
            holder=state.holder,
            lease_until_us=state.lease_until,
            outcome=state.outcome,
            attempt=state.attempt,
            lost=state.lost,
            claimed_us=state.claimed,
            ended_us=state.ended,
        )


@attrs.frozen
class LoopRow:
    """A coordinated loop's window state in a store (see `TriggerStore.loops`)."""

    name: str
    """The coordinated loop's name (shared by every replica)."""
    state: WindowState
    """Its last window, token, holder, lease, outcome, attempt and lost count."""


def parse_interval(text: str) -> float:
    """The seconds of a trigger interval written as duration text.

    The grammar is one or more ``<positive integer><unit>`` groups with units
    ``d``, ``h``, ``m`` and ``s``, each at most once and in that order:
    ``"90s"``, ``"15m"``, ``"1h30m"``, ``"2d"``. Nothing else is accepted:
    no spaces, signs, fractions, upper case, bare numbers or zero groups.
    The total may not exceed `MAX_INTERVAL` (``"36500d"``, 100 years).
    Whatever it is given, it returns a finite float > 0 or raises one of the
    two errors below; messages show at most 200 characters of the value.

    Raises:
        InvalidConfigError: *text* does not follow the grammar, or is longer
            than 100 years (a `ValueError`).
        WrongTypeError: *text* is not a str (a `TypeError`).

    Example:
        >>> parse_interval("1h30m")
        5400.0
    """
    value: object = text  # callers without type checking pass anything
    if not isinstance(value, str):  # before the cache, which would hash it
        raise _not_text(value)
    return float(interval_seconds(value))


@functools.lru_cache(maxsize=4096)
def interval_seconds(text: str) -> int:
    """`parse_interval` as whole seconds, cached: a sweep parses every row.

    Raises as `parse_interval` does (only successes are cached); a value
    that cannot be hashed raises the cache's `TypeError`.
    """
    value: object = text  # a store may hand back bytes
    if not isinstance(value, str):
        raise _not_text(value)
    match = _INTERVAL.fullmatch(value)
    if not value or match is None:
        msg = (
            "'interval' must be one or more <positive integer><unit> groups, "
            f"units d, h, m, s in that order, e.g. '1h30m' (got {brief(value)})"
        )
        raise InvalidConfigError(msg)
    total = 0
    for digits, (unit, seconds) in zip(match.groups(), _UNITS, strict=True):
        if digits is None:
            continue
        significant = digits.lstrip("0")
        if not significant:
            msg = f"'interval' groups must be positive (got {brief(value)}: 0{unit})"
            raise InvalidConfigError(msg)
        if len(significant) > _MAX_DIGITS:
            total = MAX_INTERVAL_SECONDS + 1
            break
        total += int(significant) * seconds
    if total > MAX_INTERVAL_SECONDS:
        msg = (
            f"'interval' must be at most {MAX_INTERVAL} (100 years) "
            f"(got {brief(value)})"
        )
        raise InvalidConfigError(msg)
    return total


def _not_text(value: object) -> WrongTypeError:
    return WrongTypeError(
        f"'interval' must be duration text such as '15m' (got {brief(value)})"
    )


def format_timestamp(moment: datetime) -> str:
    """*moment* as the sweeper writes it: ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``.

    Raises:
        WrongTypeError: *moment* is naive, so its UTC time is unknown.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        msg = f"the clock must return an aware datetime (got naive {brief(moment)})"
        raise WrongTypeError(msg)
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat() + "Z"


def timestamp_micros(text: str) -> int:
    """Microseconds since the Unix epoch of RFC 3339 timestamp text.

    Accepts any RFC 3339 date-time (``Z`` or a numeric offset, any number of
    fraction digits, truncated to microseconds), not only what the sweeper
    writes, so rows edited by hand still parse.

    Raises:
        ValueError: *text* is not an RFC 3339 date-time.
    """
    # Fast path, ~5x quicker, for exactly the form the sweeper writes: a sweep
    # reads every row's timestamp, so this is most of what it costs per row.
    size = len(text)
    if (
        (size == 20 or (size == 27 and text[19] == "."))  # the two forms
        and text[-1] == "Z"
        and text[10] == "T"
        and text[4] == text[7] == "-"
        and text[13] == text[16] == ":"
    ):
        # With the separators fixed, fromisoformat reads only this form (and
        # refuses anything but ASCII digits between them).
        naive = datetime.fromisoformat(text[:-1])
        return (naive - _NAIVE_EPOCH) // _MICROSECOND
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        msg = f"not an RFC 3339 timestamp: {brief(text)}"
        raise ValueError(msg)
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    if offset in {"Z", "z"}:
        zone = timezone.utc
    else:
        sign = -1 if offset[0] == "-" else 1
        delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
        zone = timezone(sign * delta)
    moment = datetime(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute),
        int(second),
        int((fraction or "0")[:6].ljust(6, "0")),
        tzinfo=zone,
    )
    return datetime_micros(moment)


def datetime_micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime.

    Raises:
        WrongTypeError: *moment* is naive, so its UTC time is unknown.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        msg = f"the clock must return an aware datetime (got naive {brief(moment)})"
        raise WrongTypeError(msg)
    return (moment - _EPOCH) // _MICROSECOND


def micros_timestamp(us: int) -> str:
    """Microseconds since the Unix epoch as the sweeper's timestamp text."""
    return format_timestamp(_EPOCH + timedelta(microseconds=us))


def utc_now() -> datetime:
    """The sweeper's default clock: the current UTC time, aware."""
    return datetime.now(timezone.utc)
