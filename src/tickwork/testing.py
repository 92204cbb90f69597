"""Tools for testing code that uses tickwork: `FaultyStore`.

`FaultyStore` wraps any `TriggerStore` and makes it slow, flaky, down, or
deaf to its own answers, with a skewed wall clock, so a test on Trio's
`MockClock` can run several replicas against one shared store and see what
they do when the store misbehaves. Faults are drawn from a seeded
`random.Random`: the same seed gives the same faults.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Final, ParamSpec, TypeVar, cast, overload

import trio

from tickwork._errors import InvalidConfigError, TriggerStoreError, WrongTypeError
from tickwork._text import brief
from tickwork._validation import (
    check_bool,
    check_finite,
    check_non_negative,
    check_number,
    check_seed,
)
from tickwork.triggers._store import StoreContext, check_clock, closed

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from typing_extensions import Self

    from tickwork._lease import Claim, Claimed
    from tickwork.triggers._model import LoopRow, TriggerRow
    from tickwork.triggers._store import Kind, TriggerStore

__all__ = ["FaultyStore"]

LOGGER = logging.getLogger("tickwork.testing")

P = ParamSpec("P")
T = TypeVar("T")

_METHODS: Final = (
    "enabled",
    "all",
    "claim",
    "claim_many",
    "claim_windows",
    "renew_leases",
    "finish_windows",
    "loops",
    "add",
    "set_enabled",
    "set_paused",
    "remove",
    "aclose",
)


def _check_rate(name: str, value: object) -> float:
    """Require a probability: a number in [0, 1], both ends included."""
    number = check_number(name, value)
    if not 0 <= number <= 1:
        msg = f"{name!r} must be in [0, 1] (got {brief(value)})"
        raise InvalidConfigError(msg)
    return number


class _Checked:
    """An attribute checked by *check* whenever it is set, in `__init__` too."""

    def __init__(self, check: Callable[[str, object], float]) -> None:
        self._check = check
        self._name = self._slot = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name, self._slot = name, f"_{name}"

    @overload
    def __get__(self, instance: None, owner: type) -> Self: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> float: ...
    def __get__(self, instance: object, owner: type | None = None) -> Self | float:
        if instance is None:  # looked up on the class (by autodoc, say)
            return self
        return getattr(instance, self._slot)  # type: ignore[no-any-return]

    def __set__(self, instance: object, value: float) -> None:
        setattr(instance, self._slot, self._check(self._name, value))


class FaultyStore(StoreContext):
    """A `TriggerStore` that forwards to *store*, injecting faults on the way.

    Every call first counts in `calls`, then meets the faults in this order:

    1. **Outage**: while the store is `down`, the call waits `outage_delay`
       seconds (0: it fails at once; a real pool would wait its connect
       timeout) and raises `TriggerStoreError`; it never reaches *store*.
       Latency does not apply.
    2. **Latency**: the call sleeps `latency` seconds on Trio's clock.
    3. **Error**: with probability `error_rate` it raises
       `TriggerStoreError` without reaching *store*: nothing happened.
    4. Otherwise it reaches *store*; what *store* raises passes unchanged.
    5. **Lost reply**: with probability `lost_reply_rate`, after *store*
       answered (its effect is committed), the answer is dropped and the
       call raises `TriggerStoreError`: a claim that won, whose winner never
       heard.

    Injected errors say ``injected fault: ...`` and count in `injected`
    under ``"outage"``, ``"error"`` or ``"lost_reply"``. Each call that is
    not refused by an outage draws exactly two numbers from
    ``random.Random(seed)``, when it is made, so the same seed and the same
    order of calls give the same faults, whatever the rates (raising a rate
    only adds faults); give each replica its own wrapper. Every call is a
    Trio checkpoint.

    Faults change while a test runs by setting the attributes (`latency`,
    `error_rate`, `lost_reply_rate`, `outage_delay`, `skew`; checked as in
    the constructor) and with `go_down`, `come_back` and `outage`.

    The wrapped store's clock stays the truth; `wall_clock` is this
    replica's own reading of wall time, off by `skew`: pass it with the
    wrapper, as in ``Scheduler(store=faulty, wall_clock=faulty.wall_clock)``
    (`wall_datetime` suits a sweeper's ``clock=``).

    Args:
        store: the store to forward to; several wrappers may share it.
        latency: seconds (>= 0) each call sleeps before reaching *store*.
        error_rate: the probability, in [0, 1], that a call fails first.
        lost_reply_rate: the probability, in [0, 1], that a call's answer
            is lost after it took effect.
        skew: seconds (any sign) `wall_clock` adds to *wall_clock*.
        outage_delay: seconds (>= 0) a call waits before failing while down.
        seed: seeds the faults' `random.Random`; None draws a fresh seed.
        wall_clock: the true wall clock, seconds since the Unix epoch
            (`time.time`; under `MockClock`, one that follows
            `trio.current_time` as the store's does).
        owns: whether `aclose` also closes *store*.

    Raises:
        InvalidConfigError: a number out of its range.
        WrongTypeError: a value of the wrong type, or a *store* that lacks
            a `TriggerStore` method.

    Example:
        >>> import trio, trio.testing
        >>> from tickwork.testing import FaultyStore
        >>> from tickwork.triggers import MemoryTriggerStore, TriggerStoreError
        >>> async def main():
        ...     store = MemoryTriggerStore(clock=trio.current_time)
        ...     faulty = FaultyStore(store, latency=0.5, lost_reply_rate=1)
        ...     try:
        ...         await faulty.add(name="prices", interval="15m")
        ...     except TriggerStoreError as exc:
        ...         print(exc)
        ...     print(trio.current_time(), [row.name for row in await store.all()])
        >>> trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
        injected fault: the reply to add was lost after the call took effect
        0.5 ['prices']
    """

    latency = _Checked(check_non_negative)
    """Seconds each call sleeps before it reaches the store (>= 0)."""
    error_rate = _Checked(_check_rate)
    """The probability that a call fails before it reaches the store."""
    lost_reply_rate = _Checked(_check_rate)
    """The probability that a call's answer is lost after it took effect."""
    outage_delay = _Checked(check_non_negative)
    """Seconds a call waits before failing while the store is down (>= 0)."""
    skew = _Checked(check_finite)
    """Seconds `wall_clock` is ahead (negative: behind) of the true clock."""

    def __init__(  # noqa: PLR0913 - one keyword per kind of fault
        self,
        store: TriggerStore,
        *,
        latency: float = 0.0,
        error_rate: float = 0.0,
        lost_reply_rate: float = 0.0,
        skew: float = 0.0,
        outage_delay: float = 0.0,
        seed: int | None = 0,
        wall_clock: Callable[[], float] = time.time,
        owns: bool = False,
    ) -> None:
        """Wrap *store* with the faults given; see the class."""
        missing = [
            name for name in _METHODS if not callable(getattr(store, name, None))
        ]
        if missing:
            msg = (
                f"'store' must be a TriggerStore (got {brief(store)}, "
                f"which has no {', '.join(missing)})"
            )
            raise WrongTypeError(msg)
        self.latency = latency
        self.error_rate = error_rate
        self.lost_reply_rate = lost_reply_rate
        self.skew = skew
        self.outage_delay = outage_delay
        self._rng = random.Random(check_seed("seed", seed))  # noqa: S311 - faults, not secrets
        self._owns = check_bool("owns", owns)
        self._store = store
        self._wall_clock = check_clock(wall_clock, "wall_clock")
        self._down = False
        self._outages: list[tuple[float, float]] = []
        self._closed = False
        self.calls: Counter[str] = Counter()
        """Calls made, by method name (refused and failed ones included)."""
        self.injected: Counter[str] = Counter()
        """Faults injected: ``"outage"``, ``"error"`` and ``"lost_reply"``."""

    def __repr__(self) -> str:
        """Show the wrapped store and the faults that are set."""
        faults = [
            f"{name}={value!r}"
            for name, value in (
                ("latency", self.latency),
                ("error_rate", self.error_rate),
                ("lost_reply_rate", self.lost_reply_rate),
                ("skew", self.skew),
                ("outage_delay", self.outage_delay),
            )
            if value
        ]
        if self._down:
            faults.append("down")
        if self._outages:
            faults.append(f"outages={self._outages!r}")
        if self._closed:
            faults.append("closed")
        shown = ", ".join(faults) or "no faults"
        return f"<FaultyStore over {brief(self._store)}: {shown}>"

    # -- faults ----------------------------------------------------------

    @property
    def down(self) -> bool:
        """Whether calls fail now: after `go_down`, or within an `outage`."""
        if self._down:
            return True
        if not self._outages:
            return False
        now = trio.current_time()
        return any(start <= now < end for start, end in self._outages)

    def go_down(self) -> None:
        """Make every call fail (after `outage_delay`) until `come_back`."""
        self._down = True

    def come_back(self) -> None:
        """End the outage in progress, whether from `go_down` or `outage`.

        Outages scheduled to start later stay scheduled.
        """
        self._down = False
        if self._outages:
            now = trio.current_time()
            self._outages = [(s, e) for s, e in self._outages if s > now]

    def outage(self, start: float, end: float) -> None:
        """Be down from *start* until just before *end*, instants on Trio's clock.

        Calls made at ``start <= trio.current_time() < end`` fail. Outages
        may overlap; *end* may be ``math.inf`` (down until `come_back`).

        Raises:
            InvalidConfigError: *start* is not finite, or *end* is not after it.
            WrongTypeError: either is not a number.
        """
        begin = check_finite("start", start)
        until = check_number("end", end)
        if not until > begin:
            msg = (
                f"'end' must be > 'start' (got end={brief(end)}, start={brief(start)})"
            )
            raise InvalidConfigError(msg)
        self._outages.append((begin, until))

    def wall_clock(self) -> float:
        """This replica's wall time: the true wall clock plus `skew`, in seconds."""
        return self._wall_clock() + self.skew

    def wall_datetime(self) -> datetime:
        """`wall_clock` as an aware UTC `datetime`, for a sweeper's ``clock=``."""
        return datetime.fromtimestamp(self.wall_clock(), tz=timezone.utc)

    def _fault(self, kind: str, method: str, message: str) -> TriggerStoreError:
        self.injected[kind] += 1
        LOGGER.debug(
            "injected %s into %s",
            kind,
            method,
            extra={"tickwork_fault": kind, "tickwork_store_call": method},
        )
        return TriggerStoreError(f"injected fault: {message}")

    async def _call(
        self,
        method: str,
        fn: Callable[P, Awaitable[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        self.calls[method] += 1
        if self._closed:
            await trio.lowlevel.checkpoint()
            raise closed(self)
        if self.down:
            await trio.sleep(self.outage_delay)
            raise self._fault("outage", method, f"the store is down ({method} failed)")
        # Both draws happen now, in call order, whatever the rates.
        fails = self._rng.random() < self.error_rate
        loses = self._rng.random() < self.lost_reply_rate
        await trio.sleep(self.latency)
        if fails:
            raise self._fault(
                "error", method, f"{method} failed before reaching the store"
            )
        answer = await fn(*args, **kwargs)
        if loses:
            raise self._fault(
                "lost_reply",
                method,
                f"the reply to {method} was lost after the call took effect",
            )
        return answer

    # -- the TriggerStore protocol ---------------------------------------

    async def enabled(self) -> Sequence[TriggerRow]:
        """Forward `TriggerStore.enabled`."""
        return await self._call("enabled", self._store.enabled)

    async def all(self) -> Sequence[TriggerRow]:
        """Forward `TriggerStore.all`."""
        return await self._call("all", self._store.all)

    async def claim(self, trigger_id: str, seen: str | None, fired_at: str) -> bool:
        """Forward `TriggerStore.claim`."""
        return await self._call("claim", self._store.claim, trigger_id, seen, fired_at)

    async def claim_many(
        self, claims: Sequence[tuple[str, str | None]], fired_at: str
    ) -> frozenset[str]:
        """Forward `TriggerStore.claim_many`."""
        return await self._call("claim_many", self._store.claim_many, claims, fired_at)

    async def claim_windows(
        self, kind: Kind, claims: Sequence[Claim], *, lease: float, holder: str
    ) -> Sequence[Claimed]:
        """Forward `TriggerStore.claim_windows`."""
        return await self._call(
            "claim_windows",
            self._store.claim_windows,
            kind,
            claims,
            lease=lease,
            holder=holder,
        )

    async def renew_leases(
        self, kind: Kind, leases: Sequence[tuple[str, int]], *, lease: float
    ) -> Sequence[bool]:
        """Forward `TriggerStore.renew_leases`."""
        return await self._call(
            "renew_leases", self._store.renew_leases, kind, leases, lease=lease
        )

    async def finish_windows(
        self, kind: Kind, outcomes: Sequence[tuple[str, int, str]]
    ) -> Sequence[bool]:
        """Forward `TriggerStore.finish_windows`."""
        return await self._call(
            "finish_windows", self._store.finish_windows, kind, outcomes
        )

    async def loops(self) -> Sequence[LoopRow]:
        """Forward `TriggerStore.loops`."""
        return await self._call("loops", self._store.loops)

    async def add(
        self,
        *,
        name: str,
        interval: str | None = None,
        enabled: bool = True,
        cron: str | None = None,
        timezone: str | None = None,
    ) -> TriggerRow:
        """Forward `TriggerStore.add`; *cron* and *timezone* only when given.

        A calendar trigger needs a store whose ``add`` takes them, as
        tickwork's own stores do.
        """
        if cron is None and timezone is None:
            return await self._call(
                "add",
                self._store.add,
                name=name,
                interval=cast("str", interval),
                enabled=enabled,
            )
        # The protocol's add takes an interval only; tickwork's stores more.
        calendar_add = cast("Callable[..., Awaitable[TriggerRow]]", self._store.add)
        return await self._call(
            "add",
            calendar_add,
            name=name,
            interval=interval,
            enabled=enabled,
            cron=cron,
            timezone=timezone,
        )

    async def set_enabled(self, name: str, enabled: bool) -> None:  # noqa: FBT001 - the public signature
        """Forward `TriggerStore.set_enabled`."""
        await self._call("set_enabled", self._store.set_enabled, name, enabled)

    async def set_paused(self, kind: Kind, name: str, paused: bool) -> None:  # noqa: FBT001 - the public signature
        """Forward `TriggerStore.set_paused`."""
        await self._call("set_paused", self._store.set_paused, kind, name, paused)

    async def remove(self, name: str) -> None:
        """Forward `TriggerStore.remove`."""
        await self._call("remove", self._store.remove, name)

    async def aclose(self) -> None:
        """Close this wrapper (later calls raise), and *store* too if it owns it.

        Never faulty; calling it again is harmless.
        """
        self.calls["aclose"] += 1
        self._closed = True
        if self._owns:
            await self._store.aclose()
        else:
            await trio.lowlevel.checkpoint()
