"""What a persisted trigger is: its row, its interval text and its timestamps.

Pure: no trio, no clock. Wall-clock time enters only as arguments, so the
sweeper's decisions are testable with any injected "now".
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Final, Protocol

import attrs

from tickwork._errors import InvalidConfigError, TriggerStoreError, WrongTypeError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from types import TracebackType

    from typing_extensions import Self

_UNITS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))
# One or more <digits><unit> groups, units in the order d, h, m, s, each at
# most once; ASCII digits only (str.isdigit would accept "٣").
_INTERVAL = re.compile(r"(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")
_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]+))?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
# The version of the tables every store creates; a store refuses a database
# whose version is higher.
SCHEMA_VERSION: Final = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NAIVE_EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001 - for naive UTC arithmetic
_MICROSECOND = timedelta(microseconds=1)


@attrs.frozen
class TriggerRow:
    """A trigger as its store holds it, unchecked: a row may be broken.

    The sweeper reads rows as they are and reports broken ones instead of
    failing, so building a row never validates it; `TriggerStore.add` is
    what checks new triggers.
    """

    id: str
    """The store's key for the row (stores generate it on `add`)."""
    name: str
    """Unique within a store; names the trigger in logs and reports."""
    interval: str
    """Duration text such as ``"15m"`` or ``"1h30m"`` (see `parse_interval`)."""
    enabled: bool
    """Only enabled rows are swept."""
    last_fired_at: str | None
    """UTC RFC 3339 text of the last claimed window, as stored, or None if the
    trigger never fired. Claims compare this exact text."""


def parse_interval(text: str) -> float:
    """The seconds of a trigger interval written as duration text.

    The grammar is one or more ``<positive integer><unit>`` groups with units
    ``d``, ``h``, ``m`` and ``s``, each at most once and in that order:
    ``"90s"``, ``"15m"``, ``"1h30m"``, ``"2d"``. Nothing else is accepted:
    no spaces, signs, fractions, upper case, bare numbers or zero groups.

    Raises:
        InvalidConfigError: *text* does not follow the grammar (a `ValueError`).
        WrongTypeError: *text* is not a str (a `TypeError`).

    Example:
        >>> parse_interval("1h30m")
        5400.0
    """
    value: object = text  # callers without type checking pass anything
    if not isinstance(value, str):
        msg = f"'interval' must be duration text such as '15m' (got {value!r})"
        raise WrongTypeError(msg)
    return float(interval_seconds(value))


@functools.lru_cache(maxsize=4096)
def interval_seconds(text: str) -> int:
    """`parse_interval` as whole seconds, cached: a sweep parses every row."""
    match = _INTERVAL.fullmatch(text)
    if not text or match is None:
        msg = (
            "'interval' must be one or more <positive integer><unit> groups, "
            f"units d, h, m, s in that order, e.g. '1h30m' (got {text!r})"
        )
        raise InvalidConfigError(msg)
    total = 0
    for digits, (unit, seconds) in zip(match.groups(), _UNITS, strict=True):
        if digits is None:
            continue
        if int(digits) == 0:
            msg = f"'interval' groups must be positive (got {text!r}: 0{unit})"
            raise InvalidConfigError(msg)
        total += int(digits) * seconds
    return total


def format_timestamp(moment: datetime) -> str:
    """*moment* as the sweeper writes it: ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``.

    Raises:
        WrongTypeError: *moment* is naive, so its UTC time is unknown.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        msg = f"the clock must return an aware datetime (got naive {moment!r})"
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
        msg = f"not an RFC 3339 timestamp: {text!r}"
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
    """Microseconds since the Unix epoch of an aware datetime."""
    return (moment - _EPOCH) // _MICROSECOND


def utc_now() -> datetime:
    """The sweeper's default clock: the current UTC time, aware."""
    return datetime.now(timezone.utc)


def check_new_trigger(name: object, interval: object, enabled: object) -> None:
    """Check the arguments of `TriggerStore.add`; stores call it first.

    Raises:
        InvalidConfigError: empty name or bad interval text.
        WrongTypeError: a value of the wrong type.
    """
    if not isinstance(name, str):
        msg = f"'name' must be a str (got {name!r})"
        raise WrongTypeError(msg)
    if not name or name != name.strip():
        msg = f"'name' must be non-empty, without surrounding spaces (got {name!r})"
        raise InvalidConfigError(msg)
    parse_interval(interval)  # type: ignore[arg-type]  # it checks the type itself
    check_enabled(enabled)


def check_enabled(enabled: object) -> None:
    """Require a bool for 'enabled'.

    Raises:
        WrongTypeError: *enabled* is not a bool.
    """
    if not isinstance(enabled, bool):
        msg = f"'enabled' must be a bool (got {enabled!r})"
        raise WrongTypeError(msg)


def ensure_schema(
    store: object,
    execute: Callable[[str, tuple[object, ...]], Any],
    statements: Iterable[str],
    insert_version: str,
) -> None:
    """Create a store's tables if missing, then record or check its version.

    Runs in the caller's transaction, with the caller's driver: *execute* is
    its connection's ``execute``, *statements* its dialect's ``CREATE TABLE
    IF NOT EXISTS`` statements, *insert_version* its ``INSERT`` of the
    version into ``tickwork_meta`` with one placeholder.

    Raises:
        TriggerStoreError: the database carries a schema version above
            `SCHEMA_VERSION` (or one that is not a number).
    """
    for statement in statements:
        execute(statement, ())
    found = execute(
        "SELECT value FROM tickwork_meta WHERE key = 'schema_version'", ()
    ).fetchone()
    if found is None:
        execute(insert_version, (str(SCHEMA_VERSION),))
    elif not found[0].isdigit() or int(found[0]) > SCHEMA_VERSION:
        msg = (
            f"{store!r} has schema version {found[0]}; this tickwork knows "
            f"versions up to {SCHEMA_VERSION}: upgrade tickwork"
        )
        raise TriggerStoreError(msg)


def duplicate_name(name: str) -> InvalidConfigError:
    """The error every store raises when `add` meets a name it holds."""
    return InvalidConfigError(
        f"'name' must be unique in the store: a trigger named {name!r} exists"
    )


class TriggerStore(Protocol):
    """Where triggers live; the sweeper and the command line use only this.

    Every method is async and safe to call from Trio. Stores keep
    ``last_fired_at`` as the exact text they were given, and `claim`
    compares that text, so the compare-and-set never depends on formatting.

    A store may also offer ``claim_many(claims, fired_at) -> frozenset[str]``,
    which compare-and-sets many ``(trigger_id, seen)`` pairs to the same
    *fired_at* in one transaction and returns the ids it won. The sweeper
    uses it when present, so a sweep with many due rows costs a few round
    trips, not one per row. All three tickwork stores have it.
    """

    async def enabled(self) -> Sequence[TriggerRow]:
        """The rows with ``enabled=True``, ordered by name."""
        ...

    async def all(self) -> Sequence[TriggerRow]:
        """Every row, ordered by name."""
        ...

    async def claim(self, trigger_id: str, seen: str | None, fired_at: str) -> bool:
        """Compare-and-set ``last_fired_at`` of the row *trigger_id*.

        Stores *fired_at* only if ``last_fired_at`` still equals *seen* (what
        this sweep read), in one atomic step.

        Returns:
            True if this caller won the window; False if another did first or
            the row is gone.
        """
        ...

    async def add(
        self, *, name: str, interval: str, enabled: bool = True
    ) -> TriggerRow:
        """Create a trigger that never fired.

        Raises:
            InvalidConfigError: a bad interval (see `parse_interval`), an empty
                name, or a name the store already holds (a `ValueError`).
        """
        ...

    async def set_enabled(self, name: str, enabled: bool) -> None:  # noqa: FBT001 - the SPEC's signature
        """Enable or disable the trigger called *name*.

        Raises:
            UnknownTriggerError: no trigger has that name (a `KeyError`).
        """
        ...

    async def remove(self, name: str) -> None:
        """Delete the trigger called *name*.

        Raises:
            UnknownTriggerError: no trigger has that name (a `KeyError`).
        """
        ...

    async def aclose(self) -> None:
        """Release the store's connections; later calls raise."""
        ...

    async def __aenter__(self) -> Self:
        """Return the store itself."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the store."""
        ...


class StoreContext:
    """``async with store:`` for the tickwork stores: closes on the way out."""

    async def aclose(self) -> None:
        """Release the store's connections."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        """Return the store itself."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the store."""
        await self.aclose()
