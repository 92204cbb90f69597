"""FaultyStore: exact forwarding, and each injected fault, on Trio's MockClock."""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from tickwork import InvalidConfigError, WrongTypeError
from tickwork._lease import Claim
from tickwork.testing import FaultyStore
from tickwork.triggers import MemoryTriggerStore, TriggerStoreError, UnknownTriggerError

if TYPE_CHECKING:
    from tickwork.triggers import TriggerStore

LEASE = 30.0


def memory() -> MemoryTriggerStore:
    """An empty memory store on Trio's clock."""
    return MemoryTriggerStore(clock=trio.current_time)


async def claim_loop(store: TriggerStore, holder: str, window: int = 0) -> bool:
    """Claim *window* of the coordinated loop "nightly"; whether *holder* won."""
    [answer] = await store.claim_windows(
        "loop", [Claim("nightly", window, window)], lease=LEASE, holder=holder
    )
    return answer.won


def down(faulty: FaultyStore) -> bool:
    """faulty.down, read afresh (mypy would keep an earlier assert's narrowing)."""
    return faulty.down


async def test_forwards_every_method_exactly_without_faults(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With no faults every call reaches the store, answers as it did, at once."""
    store = memory()
    faulty: TriggerStore = FaultyStore(store)
    row = await faulty.add(name="prices", interval="15m")
    assert await faulty.all() == await store.all() == [row]
    assert await faulty.enabled() == [row]
    assert await faulty.claim(row.id, None, "a") is True
    assert await faulty.claim_many([(row.id, "a"), ("nope", None)], "b") == {row.id}
    assert (await store.all())[0].last_fired_at == "b"
    [claimed] = await faulty.claim_windows(
        "loop", [Claim("nightly", 0, 0)], lease=LEASE, holder="a"
    )
    assert claimed.won
    assert claimed.token == 1
    assert await faulty.renew_leases("loop", [("nightly", 1)], lease=LEASE) == [True]
    assert await faulty.finish_windows("loop", [("nightly", 1, "succeeded")]) == [True]
    assert await faulty.loops() == await store.loops()
    assert (await store.loops())[0].state.outcome == "succeeded"
    await faulty.set_enabled("prices", False)
    assert await faulty.enabled() == []
    await faulty.remove("prices")
    assert await store.all() == []
    assert trio.current_time() == 0
    assert isinstance(faulty, FaultyStore)
    assert faulty.injected == Counter()
    assert faulty.calls == Counter(
        add=1,
        all=1,
        enabled=2,
        claim=1,
        claim_many=1,
        claim_windows=1,
        renew_leases=1,
        finish_windows=1,
        loops=1,
        set_enabled=1,
        remove=1,
    )


async def test_the_stores_own_errors_pass_unchanged() -> None:
    """An error the wrapped store raises reaches the caller as it was."""
    faulty = FaultyStore(memory())
    with pytest.raises(UnknownTriggerError, match="no trigger named 'nope'"):
        await faulty.remove("nope")
    assert faulty.injected == Counter()


async def test_latency_delays_each_call_before_it_reaches_the_store(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A call takes exactly the latency, and the store sees it at its end."""
    store = memory()
    faulty = FaultyStore(store, latency=0.25)
    row = await faulty.add(name="prices", interval="15m")
    assert trio.current_time() == 0.25
    assert row.anchor_us == 250_000
    faulty.latency = 2
    await faulty.all()
    assert trio.current_time() == 2.25


async def test_error_rate_one_never_reaches_the_store(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Every call fails, after the latency, and the store is left unchanged."""
    store = memory()
    row = await store.add(name="prices", interval="15m")
    faulty = FaultyStore(store, error_rate=1, latency=1)
    with pytest.raises(TriggerStoreError, match=r"^injected fault: add failed before"):
        await faulty.add(name="other", interval="15m")
    with pytest.raises(TriggerStoreError, match="injected fault"):
        await faulty.claim(row.id, None, "a")
    with pytest.raises(TriggerStoreError, match="injected fault"):
        await claim_loop(faulty, "a")
    assert trio.current_time() == 3
    assert await store.all() == [row]
    assert await store.loops() == []
    assert faulty.injected == Counter(error=3)


async def test_lost_reply_reaches_the_store_and_then_raises(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A claim whose reply is lost holds the window, though its caller never heard."""
    store = memory()
    deaf = FaultyStore(store, lost_reply_rate=1)
    other = FaultyStore(store)
    with pytest.raises(TriggerStoreError, match="reply to claim_windows was lost"):
        await claim_loop(deaf, "deaf")
    [loop] = await store.loops()
    assert (loop.state.token, loop.state.holder) == (1, "deaf")
    assert await claim_loop(other, "other") is False
    assert deaf.injected == Counter(lost_reply=1)


async def test_an_outage_between_instants_fails_then_recovers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Calls in [start, end) fail after outage_delay, unsent; calls after work."""
    store = memory()
    faulty = FaultyStore(store, outage_delay=3, latency=0.5)
    faulty.outage(10, 20)
    await faulty.add(name="before", interval="1m")
    await trio.sleep_until(10)
    assert down(faulty)
    with pytest.raises(TriggerStoreError, match="injected fault: the store is down"):
        await faulty.add(name="during", interval="1m")
    assert trio.current_time() == 13
    await trio.sleep_until(20)
    assert not down(faulty)
    await faulty.add(name="after", interval="1m")
    assert [row.name for row in await store.all()] == ["after", "before"]
    assert faulty.injected == Counter(outage=1)


async def test_go_down_and_come_back(autojump_clock: trio.testing.MockClock) -> None:
    """go_down fails every call at once; come_back ends it, keeping later outages."""
    faulty = FaultyStore(memory())
    faulty.outage(5, 6)
    faulty.outage(100, math.inf)
    faulty.go_down()
    with pytest.raises(TriggerStoreError, match="down"):
        await faulty.all()
    assert trio.current_time() == 0
    faulty.come_back()
    assert await faulty.all() == []
    await trio.sleep_until(5)
    assert down(faulty)
    faulty.come_back()
    assert await faulty.all() == []
    await trio.sleep_until(1000)
    assert down(faulty)
    faulty.come_back()
    assert not down(faulty)
    assert faulty.injected == Counter(outage=1)


async def fate(faulty: FaultyStore, name: str) -> str:
    """Add trigger *name*: "ok", "lost" (reply lost) or "error" (never sent)."""
    try:
        await faulty.add(name=name, interval="1m")
    except TriggerStoreError as exc:
        return "lost" if "lost" in str(exc) else "error"
    return "ok"


def outcomes(seed: int, error_rate: float, lost_reply_rate: float) -> list[str]:
    """Add 20 triggers through a FaultyStore; each call's fate, checked on the store."""

    async def main() -> list[str]:
        store = memory()
        faulty = FaultyStore(
            store, seed=seed, error_rate=error_rate, lost_reply_rate=lost_reply_rate
        )
        fates = [await fate(faulty, f"t{i:02}") for i in range(20)]
        reached = [f"t{i:02}" for i, done in enumerate(fates) if done != "error"]
        assert [row.name for row in await store.all()] == reached
        assert faulty.injected == Counter(
            error=fates.count("error"), lost_reply=fates.count("lost")
        )
        return fates

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


rates = st.floats(min_value=0, max_value=1)


@given(seed=st.integers(min_value=0, max_value=2**64), error=rates, lost=rates)
def test_the_same_seed_gives_the_same_faults(
    seed: int, error: float, lost: float
) -> None:
    """A seed fixes the faults; only injected errors leave the store untouched."""
    assert outcomes(seed, error, lost) == outcomes(seed, error, lost)


@given(seed=st.integers(min_value=0), low=rates, high=rates, lost=rates)
def test_a_higher_error_rate_only_adds_errors(
    seed: int, low: float, high: float, lost: float
) -> None:
    """With one seed, the calls that fail at a rate also fail at any higher one."""
    low, high = sorted((low, high))

    def errors(rate: float) -> set[int]:
        fates = outcomes(seed, rate, lost)
        return {i for i, done in enumerate(fates) if done == "error"}

    assert errors(low) <= errors(high)


async def test_skew_shifts_the_replicas_wall_clock_only(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """wall_clock is the true one plus skew; the store keeps its own clock."""
    store = memory()
    faulty = FaultyStore(store, skew=-2.5, wall_clock=lambda: 1000.0)
    assert faulty.wall_clock() == 997.5
    assert faulty.wall_datetime() == datetime.fromtimestamp(997.5, tz=timezone.utc)
    faulty.skew = 3600
    assert faulty.wall_clock() == 4600
    await trio.sleep(7)
    [answer] = await faulty.claim_windows(
        "loop", [Claim("nightly", 0, 0)], lease=LEASE, holder="a"
    )
    assert answer.now == 7_000_000


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        (
            {"latency": -1},
            InvalidConfigError,
            "'latency' must be finite and >= 0 (got -1)",
        ),
        ({"latency": "1"}, WrongTypeError, "'latency' must be a real number (got '1')"),
        (
            {"error_rate": 1.5},
            InvalidConfigError,
            "'error_rate' must be in [0, 1] (got 1.5)",
        ),
        (
            {"error_rate": True},
            WrongTypeError,
            "'error_rate' must be a real number (got True)",
        ),
        (
            {"lost_reply_rate": math.nan},
            InvalidConfigError,
            "'lost_reply_rate' must be in [0, 1] (got nan)",
        ),
        (
            {"lost_reply_rate": -0.1},
            InvalidConfigError,
            "'lost_reply_rate' must be in [0, 1] (got -0.1)",
        ),
        (
            {"skew": math.inf},
            InvalidConfigError,
            "'skew' must be a finite number (got inf)",
        ),
        (
            {"outage_delay": -0.5},
            InvalidConfigError,
            "'outage_delay' must be finite and >= 0 (got -0.5)",
        ),
        ({"seed": "x"}, WrongTypeError, "'seed' must be None or an int (got 'x')"),
        ({"owns": 1}, WrongTypeError, "'owns' must be a bool (got 1)"),
        (
            {"wall_clock": 3},
            WrongTypeError,
            (
                "'wall_clock' must be a synchronous callable returning seconds "
                "since the Unix epoch, such as time.time (got 3)"
            ),
        ),
        (
            {"wall_clock": trio.sleep},
            WrongTypeError,
            "'wall_clock' must be a synchronous callable",
        ),
    ],
)
def test_bad_arguments_are_refused_by_name(
    options: dict[str, object], error: type[Exception], message: str
) -> None:
    """Each bad argument is refused with its name, its rule and its value."""
    with pytest.raises(error) as caught:
        FaultyStore(memory(), **options)  # type: ignore[arg-type]
    assert str(caught.value).startswith(message)


def test_a_store_without_the_protocols_methods_is_refused() -> None:
    """Something that is not a TriggerStore is refused, naming what it lacks."""
    with pytest.raises(WrongTypeError, match=r"^'store' must be a TriggerStore \(got"):
        FaultyStore(object())  # type: ignore[arg-type]
    with pytest.raises(WrongTypeError, match=r"which has no enabled, all, claim, "):
        FaultyStore(object())  # type: ignore[arg-type]


def test_a_bad_setting_while_running_is_refused_and_changes_nothing() -> None:
    """Setting a fault attribute checks it as the constructor does."""
    faulty = FaultyStore(memory(), error_rate=0.5)
    with pytest.raises(InvalidConfigError, match=r"'error_rate' must be in \[0, 1\]"):
        faulty.error_rate = 2
    assert faulty.error_rate == 0.5


@pytest.mark.parametrize(
    ("start", "end", "error", "message"),
    [
        (5, 5, InvalidConfigError, "'end' must be > 'start' (got end=5, start=5)"),
        (math.nan, 1, InvalidConfigError, "'start' must be a finite number (got nan)"),
        (0, "1", WrongTypeError, "'end' must be a real number (got '1')"),
    ],
)
def test_a_bad_outage_is_refused_by_name(
    start: float, end: float, error: type[Exception], message: str
) -> None:
    """outage() wants a finite start and an end after it."""
    faulty = FaultyStore(memory())
    with pytest.raises(error) as caught:
        faulty.outage(start, end)
    assert str(caught.value) == message


def test_repr_shows_the_store_and_the_faults_that_are_set() -> None:
    """The repr names the wrapped store and only the faults in force."""
    store = memory()
    faulty = FaultyStore(store)
    assert (
        repr(faulty)
        == "<FaultyStore over <MemoryTriggerStore with 0 row(s)>: no faults>"
    )
    faulty.latency = 0.5
    faulty.error_rate = 0.1
    faulty.go_down()
    faulty.outage(1, 2)
    assert repr(faulty) == (
        "<FaultyStore over <MemoryTriggerStore with 0 row(s)>: "
        "latency=0.5, error_rate=0.1, down, outages=[(1.0, 2.0)]>"
    )


async def test_every_call_is_a_checkpoint(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Calls checkpoint whether they reach the store, fail, or meet an outage."""
    faulty = FaultyStore(memory())
    with trio.testing.assert_checkpoints():
        await faulty.all()
    faulty.error_rate = 1
    with trio.testing.assert_checkpoints(), pytest.raises(TriggerStoreError):
        await faulty.all()
    faulty.go_down()
    with trio.testing.assert_checkpoints(), pytest.raises(TriggerStoreError):
        await faulty.all()
    await faulty.aclose()
    with (
        trio.testing.assert_checkpoints(),
        pytest.raises(TriggerStoreError, match="is closed"),
    ):
        await faulty.all()


async def test_aclose_leaves_a_shared_store_open() -> None:
    """A wrapper closes itself; the store it shares stays open unless it owns it."""
    store = memory()
    async with FaultyStore(store) as faulty:
        await faulty.add(name="prices", interval="15m")
    with pytest.raises(TriggerStoreError, match=r"^<FaultyStore over .* is closed$"):
        await faulty.all()
    assert len(await store.all()) == 1
    async with FaultyStore(store, owns=True):
        pass
    with pytest.raises(TriggerStoreError, match="is closed"):
        await store.all()


def test_go_down_and_come_back_need_no_trio_without_scheduled_outages() -> None:
    """With no outage() scheduled, the switch works outside trio.run."""
    faulty = FaultyStore(memory())
    faulty.go_down()
    assert down(faulty)
    faulty.come_back()
    assert not down(faulty)


def test_fault_attributes_read_on_the_class_give_no_error() -> None:
    """Looked up on the class (as autodoc does), a fault attribute is no error."""
    assert not isinstance(FaultyStore.latency, float)


async def test_forwards_a_calendar_triggers_cron_and_zone(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """add(cron=, timezone=) reaches the store; an interval add stays as it was."""
    store = memory()
    faulty = FaultyStore(store)
    row = await faulty.add(name="nightly", cron="30 2 * * *", timezone="Europe/Berlin")
    assert (row.cron, row.timezone, row.interval) == ("30 2 * * *", "Europe/Berlin", "")
    assert await store.all() == [row]
    with pytest.raises(InvalidConfigError, match="'timezone' must be an IANA zone"):
        await faulty.add(name="bad", cron="0 3 * * *", timezone="Mars/Base")
    assert [r.name for r in await store.all()] == ["nightly"]
