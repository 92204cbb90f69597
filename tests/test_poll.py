"""poll under Trio's MockClock: exact attempt instants, the hard deadline."""

from __future__ import annotations

import builtins
import math
import random
import sys
from typing import TYPE_CHECKING, Any

import attrs
import pytest
import trio
import trio.testing
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.strategies import MESSAGE_LIMIT, backoffs, numbers, seeds
from tickwork import (
    DEFAULT_MAX_WAIT,
    PENDING,
    Backoff,
    Done,
    Failed,
    InvalidConfigError,
    Pending,
    PollFailed,
    PollResult,
    PollTimeout,
    TickworkError,
    WrongTypeError,
    poll,
    set_default_max_wait,
)
from tickwork._rng import SplitMix64

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

# A constant 10 s wait makes attempt instants easy to read.
EVERY_10 = Backoff(initial=10, factor=1, cap=10, jitter=0)


class Upstream:
    """A fake upstream that records when it was asked and answers from a script."""

    def __init__(self, *answers: Callable[[], Awaitable[PollResult[str]]]) -> None:
        """Answer with answers[i] on attempt i, repeating the last one."""
        self.asked_at: list[float] = []
        self._answers = answers

    async def __call__(self) -> PollResult[str]:
        """Record the attempt's instant and answer it."""
        self.asked_at.append(trio.current_time())
        index = min(len(self.asked_at), len(self._answers)) - 1
        return await self._answers[index]()


async def pending() -> PollResult[str]:
    """Not ready yet."""
    return PENDING


async def hang() -> PollResult[str]:
    """Never answer."""
    await trio.sleep_forever()
    raise AssertionError  # pragma: no cover


def done(value: str) -> Callable[[], Awaitable[PollResult[str]]]:
    """Answer Done(value)."""

    async def answer() -> PollResult[str]:
        return Done(value)

    return answer


def raises(error: BaseException) -> Callable[[], Awaitable[PollResult[str]]]:
    """Raise error."""

    async def answer() -> PollResult[str]:
        raise error

    return answer


def slow(seconds: float) -> Callable[[], Awaitable[PollResult[str]]]:
    """Answer PENDING after a while."""

    async def answer() -> PollResult[str]:
        await trio.sleep(seconds)
        return PENDING

    return answer


async def test_default_schedule_attempt_instants_and_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Defaults without jitter: attempts at 0, 5, 20, 65, 200, 500; timeout at 600."""
    upstream = Upstream(pending)
    with pytest.raises(PollTimeout) as caught:
        await poll(upstream, backoff=Backoff(jitter=0))
    assert upstream.asked_at == [0, 5, 20, 65, 200, 500]
    assert trio.current_time() == DEFAULT_MAX_WAIT
    assert caught.value.attempts == 6
    assert caught.value.last_error is None
    assert caught.value.__cause__ is None
    assert caught.value.max_wait == 600


async def test_wait_counts_from_the_end_of_the_attempt(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """An attempt that takes 2 s pushes the next attempt 2 s later."""
    upstream = Upstream(slow(2))
    with pytest.raises(PollTimeout):
        await poll(upstream, max_wait=35, backoff=EVERY_10)
    assert upstream.asked_at == [0, 12, 24]
    assert trio.current_time() == 35


async def test_wait_crossing_the_deadline_is_clamped_to_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The 135 s wait due at 65 is cut to end at the 100 s deadline."""
    upstream = Upstream(pending)
    with pytest.raises(PollTimeout) as caught:
        await poll(upstream, max_wait=100, backoff=Backoff(jitter=0))
    assert upstream.asked_at == [0, 5, 20, 65]
    assert trio.current_time() == 100
    assert caught.value.attempts == 4


async def test_done_returns_its_value(autojump_clock: trio.testing.MockClock) -> None:
    """Done(value) on the third attempt returns value at that attempt's instant."""
    upstream = Upstream(pending, pending, done("ready"))
    assert await poll(upstream, backoff=EVERY_10) == "ready"
    assert upstream.asked_at == [0, 10, 20]
    assert trio.current_time() == 20


async def test_failed_stops_at_once_with_cause(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Failed(error) raises PollFailed from error, with no further attempt."""

    async def rejected() -> PollResult[str]:
        return Failed(LookupError("order rejected"))

    upstream = Upstream(pending, rejected)
    with pytest.raises(PollFailed) as caught:
        await poll(upstream, backoff=EVERY_10)
    assert isinstance(caught.value.__cause__, LookupError)
    assert caught.value.error is caught.value.__cause__
    assert upstream.asked_at == [0, 10]
    assert trio.current_time() == 10
    assert isinstance(caught.value, TickworkError)


async def test_non_transient_exception_propagates_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """An exception outside retry_on is a bug: raised as is after one attempt."""
    bug = KeyError("oops")
    upstream = Upstream(raises(bug))
    with pytest.raises(KeyError) as caught:
        await poll(upstream, retry_on=ConnectionError, backoff=EVERY_10)
    assert caught.value is bug
    assert upstream.asked_at == [0]


async def test_transient_error_is_retried_and_remembered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A retry_on error keeps polling; a later clean PENDING does not forget it."""
    flake = ConnectionError("reset")
    upstream = Upstream(raises(flake), pending)
    with pytest.raises(PollTimeout) as caught:
        await poll(upstream, max_wait=25, retry_on=(OSError,), backoff=EVERY_10)
    assert upstream.asked_at == [0, 10, 20]
    assert caught.value.last_error is flake
    assert caught.value.__cause__ is flake
    assert caught.value.attempts == 3
    assert isinstance(caught.value, TimeoutError)


async def test_transient_then_done(autojump_clock: trio.testing.MockClock) -> None:
    """A transient error followed by Done returns the value."""
    upstream = Upstream(raises(ConnectionError()), done("ok"))
    assert await poll(upstream, retry_on=ConnectionError, backoff=EVERY_10) == "ok"
    assert upstream.asked_at == [0, 10]


async def test_hung_attempt_is_cut_at_the_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Without attempt_timeout a hung upstream is cut exactly at the deadline."""
    upstream = Upstream(hang)
    with pytest.raises(PollTimeout) as caught:
        await poll(upstream, max_wait=42)
    assert trio.current_time() == 42
    assert caught.value.attempts == 1
    assert caught.value.last_error is None


async def test_attempt_timeout_cuts_hung_attempts_then_one_final_attempt(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Hung attempts are cut after 2 s and retried; a final one runs at the deadline."""
    upstream = Upstream(hang)
    with pytest.raises(PollTimeout) as caught:
        await poll(upstream, max_wait=30, attempt_timeout=2, backoff=EVERY_10)
    # 0 (cut at 2), 12 (cut at 14), 24 (cut at 26), the wait to 36 is clamped
    # to 30, then the final attempt at 30 is cut at 32 = max_wait + attempt_timeout.
    assert upstream.asked_at == [0, 12, 24, 30]
    assert trio.current_time() == 32
    assert caught.value.attempts == 4
    assert isinstance(caught.value.last_error, TimeoutError)
    assert "attempt_timeout" in str(caught.value.last_error)


async def test_final_attempt_may_succeed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The one last look at the deadline returns its Done value."""
    upstream = Upstream(pending, pending, pending, done("late"))
    result = await poll(upstream, max_wait=25, attempt_timeout=1, backoff=EVERY_10)
    assert result == "late"
    assert upstream.asked_at == [0, 10, 20, 25]


async def test_attempt_cut_by_the_deadline_ends_the_poll(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """An attempt that the deadline (not attempt_timeout) cuts gets no final attempt."""
    upstream = Upstream(pending, hang)
    with pytest.raises(PollTimeout) as caught:
        await poll(upstream, max_wait=14, attempt_timeout=5, backoff=EVERY_10)
    assert upstream.asked_at == [0, 10]
    assert trio.current_time() == 14
    assert caught.value.attempts == 2


async def test_outside_cancellation_wins_even_over_retry_on_exception(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Cancellation from outside propagates; the widest retry_on never catches it."""
    upstream = Upstream(hang)
    with trio.move_on_after(7) as scope:
        await poll(upstream, retry_on=Exception, max_wait=100)
    assert scope.cancelled_caught
    assert trio.current_time() == 7
    assert upstream.asked_at == [0]


async def test_outside_cancellation_during_a_wait(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A cancel that arrives during a backoff wait ends poll at that instant."""
    upstream = Upstream(pending)
    with trio.move_on_after(15):
        await poll(upstream, backoff=EVERY_10)
    assert trio.current_time() == 15
    assert upstream.asked_at == [0, 10]


async def test_wrong_return_value_is_a_type_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Returning anything but PENDING/Done/Failed is a bug, raised at once."""

    async def sloppy() -> PollResult[str]:
        return "ready"  # type: ignore[return-value]

    with pytest.raises(TypeError, match="got 'ready'"):
        await poll(sloppy)
    assert trio.current_time() == 0


async def _timeout_instant(max_wait: float | None = None) -> float:
    """Poll a never-ready upstream every second; return when it gave up."""
    every_second = Backoff(initial=1, factor=1, cap=1, jitter=0)
    with pytest.raises(PollTimeout):
        await poll(Upstream(pending), max_wait=max_wait, backoff=every_second)
    return trio.current_time()


async def test_max_wait_priority_call_then_process_default_then_constant(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The call's max_wait beats set_default_max_wait, which beats DEFAULT_MAX_WAIT."""
    start = trio.current_time()
    with set_default_max_wait(7):
        assert await _timeout_instant() - start == 7
        start = trio.current_time()
        assert await _timeout_instant(max_wait=3) - start == 3
        with set_default_max_wait(4):
            start = trio.current_time()
            assert await _timeout_instant() - start == 4
        start = trio.current_time()
        assert await _timeout_instant() - start == 7  # the inner block restored 7
    start = trio.current_time()
    assert await _timeout_instant() - start == DEFAULT_MAX_WAIT


async def test_set_default_max_wait_applies_without_with_and_none_restores(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The call takes effect at once; None puts back DEFAULT_MAX_WAIT."""
    set_default_max_wait(9)
    start = trio.current_time()
    assert await _timeout_instant() - start == 9
    set_default_max_wait(None)
    start = trio.current_time()
    assert await _timeout_instant() - start == DEFAULT_MAX_WAIT


@settings(max_examples=60, deadline=None)
@given(backoffs(), seeds, st.floats(min_value=0.5, max_value=200.0))
def test_attempts_follow_the_seeded_backoff_until_the_deadline(
    backoff: Backoff, seed: int, shortest_waits: float
) -> None:
    """Attempts land on the cumulative seeded delays that fall before the deadline."""
    # The deadline in units of the shortest possible wait keeps each example
    # to at most ~200 attempts.
    max_wait = backoff.initial * (1 - backoff.jitter) * shortest_waits
    upstream = Upstream(pending)

    async def main() -> float:
        with pytest.raises(PollTimeout) as caught:
            await poll(
                upstream, max_wait=max_wait, backoff=backoff, rng=random.Random(seed)
            )
        assert caught.value.attempts == len(upstream.asked_at)
        return trio.current_time()

    ended = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    expected = [0.0]
    for delay in backoff.delays(random.Random(seed)):
        wake = expected[-1] + delay
        # MockClock jumps by differences, so instants agree to rounding only;
        # a wake within rounding of the deadline could go either way.
        assume(not math.isclose(wake, max_wait, rel_tol=1e-9))
        if wake >= max_wait:
            break
        expected.append(wake)
    assert upstream.asked_at == pytest.approx(expected, rel=1e-12)
    assert ended == pytest.approx(max_wait, rel=1e-12)
    assert all(at < max_wait for at in upstream.asked_at)


@settings(max_examples=40, deadline=None)
@given(
    st.floats(min_value=1.0, max_value=100.0),
    st.floats(min_value=0.1, max_value=20.0),
    st.floats(min_value=0.0, max_value=50.0),
)
def test_poll_never_returns_after_max_wait_plus_attempt_timeout(
    max_wait: float, attempt_timeout: float, hang_for: float
) -> None:
    """However the upstream hangs, poll returns by max_wait + attempt_timeout."""

    async def main() -> float:
        with pytest.raises(PollTimeout):
            await poll(
                Upstream(slow(hang_for)),
                max_wait=max_wait,
                attempt_timeout=attempt_timeout,
                backoff=Backoff(initial=1, factor=2, cap=8, jitter=0),
            )
        return trio.current_time()

    ended = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert ended <= max_wait + attempt_timeout + 4 * math.ulp(
        max_wait + attempt_timeout
    )


def test_pending_repr_names_the_public_constant() -> None:
    """PENDING shows as tickwork.PENDING in logs and reprs."""
    assert repr(PENDING) == "tickwork.PENDING"


@pytest.mark.parametrize("error", ["oops", ValueError, None, 3])
def test_failed_refuses_a_non_exception_naming_field_rule_and_value(
    error: object,
) -> None:
    """Failed(x) with x not an exception instance names 'error', the rule and x."""
    with pytest.raises(WrongTypeError) as caught:
        Failed(error)  # type: ignore[arg-type]
    message = str(caught.value)
    assert message == f"'error' must be an exception instance (got {error!r})"
    assert "Attribute(" not in message


def test_failed_accepts_any_exception_instance() -> None:
    """Failed takes any exception instance, a BaseException-only one too."""
    assert isinstance(Failed(KeyboardInterrupt()).error, KeyboardInterrupt)
    assert isinstance(Failed(LookupError("gone")).error, LookupError)


# --- arguments refused at the call, before any attempt ----------------------

HUGE = 2**2000
LONG = "x" * 10_000


class JitterAtMidpoint:
    """A jitter source of the caller's own: only a uniform(a, b) method."""

    def __init__(self) -> None:
        """Count the draws."""
        self.draws = 0

    def uniform(self, a: float, b: float) -> float:
        """The middle of the range."""
        self.draws += 1
        return (a + b) / 2


class UniformNotCallable:
    """Has a uniform attribute that is not a method."""

    uniform = 0.5


@pytest.mark.parametrize("rng", [5, "seed", object(), UniformNotCallable()])
async def test_bad_rng_is_refused_before_any_attempt(
    autojump_clock: trio.testing.MockClock, rng: object
) -> None:
    """An rng without a callable uniform() is a WrongTypeError naming 'rng'."""
    upstream = Upstream(pending)
    with pytest.raises(WrongTypeError) as caught:
        await poll(upstream, rng=rng)  # type: ignore[arg-type]
    assert str(caught.value).startswith("'rng' must be None or an object with")
    assert f"(got {rng!r})" in str(caught.value)
    assert upstream.asked_at == []


async def test_rng_may_be_any_object_with_uniform(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A caller's own jitter source, or tickwork's SplitMix64, drives the waits."""
    source = JitterAtMidpoint()
    backoff = Backoff(initial=10, factor=1, cap=10, jitter=0.5)
    upstream = Upstream(pending, pending, done("ok"))
    assert await poll(upstream, backoff=backoff, rng=source) == "ok"
    # Each wait is the midpoint of [10 * 0.5, min(10 * 1.5, cap 10)].
    assert upstream.asked_at == [0, 7.5, 15]
    assert source.draws == 2
    assert await poll(Upstream(done("ok")), rng=SplitMix64(1)) == "ok"


def synchronous() -> PollResult[str]:
    """A plain def: calling it returns no awaitable."""
    raise AssertionError  # pragma: no cover - poll refuses it first


@pytest.mark.parametrize(
    ("fn", "rule"),
    [
        (None, "'fn' must be an async callable taking no arguments (got None)"),
        ("job", "'fn' must be an async callable taking no arguments (got 'job')"),
        (synchronous, "'fn' must be an async callable taking no arguments, such as"),
        (print, "'fn' must be an async callable taking no arguments, such as"),
    ],
    ids=["none", "str", "def", "builtin"],
)
async def test_fn_that_is_not_an_async_callable_is_refused_before_any_attempt(
    autojump_clock: trio.testing.MockClock, fn: object, rule: str
) -> None:
    """A non-callable or recognisably sync fn is a WrongTypeError naming 'fn'."""
    with pytest.raises(WrongTypeError) as caught:
        await poll(fn)  # type: ignore[arg-type]
    assert str(caught.value).startswith(rule)
    assert trio.current_time() == 0


async def test_a_lambda_returning_a_coroutine_is_accepted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A lambda may return a coroutine, so it is not refused as synchronous."""
    assert await poll(lambda: done("ok")()) == "ok"  # noqa: PLW0108 - the point


BASE_EXCEPTION_ONLY: list[type[BaseException]] = [
    BaseException,
    KeyboardInterrupt,
    SystemExit,
    GeneratorExit,
    trio.Cancelled,
]
if sys.version_info >= (3, 11):
    BASE_EXCEPTION_ONLY.append(builtins.BaseExceptionGroup)


@pytest.mark.parametrize(
    "kind", BASE_EXCEPTION_ONLY, ids=[kind.__name__ for kind in BASE_EXCEPTION_ONLY]
)
@pytest.mark.parametrize("as_tuple", [False, True])
async def test_retry_on_refuses_base_exception_only_types(
    autojump_clock: trio.testing.MockClock,
    kind: type[BaseException],
    as_tuple: bool,  # noqa: FBT001 - a parametrized flag
) -> None:
    """retry_on=KeyboardInterrupt and the like would retry Ctrl-C: refused, named."""
    retry_on = (ConnectionError, kind) if as_tuple else kind
    upstream = Upstream(pending)
    with pytest.raises(InvalidConfigError) as caught:
        await poll(upstream, retry_on=retry_on)  # type: ignore[arg-type]
    message = str(caught.value)
    assert message.startswith(
        f"'retry_on' must be Exception subclasses, not {kind.__name__}"
    )
    assert message.endswith(f"(got {retry_on!r})")
    assert upstream.asked_at == []


@pytest.mark.parametrize("kind", [Exception, ArithmeticError, ConnectionError])
async def test_retry_on_accepts_exception_subclasses(
    autojump_clock: trio.testing.MockClock, kind: type[Exception]
) -> None:
    """Exception itself and any subclass of it may be retried."""
    upstream = Upstream(raises(kind()), done("ok"))
    assert await poll(upstream, retry_on=kind, backoff=EVERY_10) == "ok"
    assert upstream.asked_at == [0, 10]


@pytest.mark.parametrize(
    "kwargs",
    [{"max_wait": HUGE}, {"attempt_timeout": HUGE}, {"max_wait": -HUGE}],
    ids=["max_wait", "attempt_timeout", "max_wait-negative"],
)
async def test_ints_past_float_range_are_refused_not_overflowed(
    autojump_clock: trio.testing.MockClock, kwargs: dict[str, Any]
) -> None:
    """max_wait=2**2000 is InvalidConfigError naming the field, not OverflowError."""
    (field,) = kwargs
    with pytest.raises(InvalidConfigError) as caught:
        await poll(Upstream(pending), **kwargs)
    message = str(caught.value)
    assert message.startswith(f"'{field}' must be finite and > 0 (got ")
    assert message.endswith("…)")
    assert len(message) < MESSAGE_LIMIT


@pytest.mark.parametrize(
    "seconds",
    [HUGE, True, math.nan, math.inf, -1, 0, "60", LONG],
    ids=["huge", "bool", "nan", "inf", "negative", "zero", "str", "long-str"],
)
def test_set_default_max_wait_refuses_what_max_wait_refuses(seconds: object) -> None:
    """set_default_max_wait names 'max_wait' for bools, NaN, inf, <= 0, str, 2**2000."""
    with pytest.raises((InvalidConfigError, WrongTypeError)) as caught:
        set_default_max_wait(seconds)  # type: ignore[arg-type]
    assert str(caught.value).startswith("'max_wait' must be ")
    assert len(str(caught.value)) < MESSAGE_LIMIT


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_wait": LONG},
        {"attempt_timeout": LONG},
        {"retry_on": LONG},
        {"retry_on": (KeyboardInterrupt, LONG)},
        {"retry_on": (KeyboardInterrupt,) * 2000},
        {"backoff": LONG},
        {"rng": LONG},
    ],
    ids=[
        "max_wait",
        "attempt_timeout",
        "retry_on",
        "retry_on-tuple",
        "retry_on-many",
        "backoff",
        "rng",
    ],
)
async def test_messages_cut_a_huge_value(
    autojump_clock: trio.testing.MockClock, kwargs: dict[str, object]
) -> None:
    """A 10 000-character value shows at most 200 characters in the message."""
    (field,) = kwargs
    with pytest.raises((InvalidConfigError, WrongTypeError)) as caught:
        await poll(Upstream(pending), **kwargs)  # type: ignore[arg-type]
    assert str(caught.value).startswith(f"'{field}' must be ")
    assert len(str(caught.value)) < MESSAGE_LIMIT


async def test_fn_message_cuts_a_huge_value(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A 10 000-character fn shows at most 200 characters in the message."""
    with pytest.raises(WrongTypeError) as caught:
        await poll(LONG)  # type: ignore[arg-type]
    assert len(str(caught.value)) < MESSAGE_LIMIT


def test_failed_message_cuts_a_huge_value() -> None:
    """Failed(<10 000 characters>) shows at most 200 of them."""
    with pytest.raises(WrongTypeError) as caught:
        Failed(LONG)  # type: ignore[arg-type]
    assert len(str(caught.value)) < MESSAGE_LIMIT


async def test_outcome_messages_cut_huge_values(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A wrong result, a Failed error or a last error of 10 000 characters is cut."""

    async def sloppy() -> PollResult[str]:
        return LONG  # type: ignore[return-value]

    async def rejected() -> PollResult[str]:
        return Failed(ValueError(LONG))

    with pytest.raises(WrongTypeError) as wrong:
        await poll(sloppy)
    with pytest.raises(PollFailed) as failed:
        await poll(rejected)
    with pytest.raises(PollTimeout) as timeout:
        await poll(Upstream(raises(OSError(LONG))), retry_on=OSError, max_wait=1)
    for caught in (wrong, failed, timeout):
        assert len(str(caught.value)) < 2 * MESSAGE_LIMIT
    assert str(timeout.value.last_error) == LONG  # the error itself is intact


@settings(max_examples=200, deadline=None)
@given(numbers, numbers)
def test_poll_numbers_either_work_or_are_refused_by_name(
    max_wait: float, attempt_timeout: float
) -> None:
    """Any max_wait/attempt_timeout polls or raises a named config error, no other."""

    async def main() -> str:
        return await poll(
            Upstream(pending, done("ok")),
            max_wait=max_wait,
            attempt_timeout=attempt_timeout,
            backoff=EVERY_10,
        )

    clock = trio.testing.MockClock(autojump_threshold=0)
    outcome: object
    try:
        outcome = trio.run(main, clock=clock)
    except (InvalidConfigError, WrongTypeError, PollTimeout) as exc:
        outcome = exc
    if isinstance(outcome, PollTimeout):
        assert max_wait <= 10  # only a deadline before the second attempt
    elif isinstance(outcome, Exception):
        assert str(outcome).startswith(("'max_wait' must", "'attempt_timeout' must"))
        assert len(str(outcome)) < MESSAGE_LIMIT
    else:
        assert outcome == "ok"


@settings(max_examples=200)
@given(numbers)
def test_set_default_max_wait_either_sets_or_is_refused_by_name(
    seconds: float,
) -> None:
    """Any number is set as the default or raises a named config error, nothing else."""
    refusal: Exception | None = None
    try:
        with set_default_max_wait(seconds):
            pass
    except (InvalidConfigError, WrongTypeError) as exc:
        refusal = exc
    if refusal is None:
        assert math.isfinite(seconds)
        assert seconds > 0
    else:
        assert str(refusal).startswith("'max_wait' must be")
        assert len(str(refusal)) < MESSAGE_LIMIT


# --- Pending(retry_after=...): an upstream's own pacing ----------------------


def wait_for(seconds: float | None) -> Callable[[], Awaitable[PollResult[str]]]:
    """Answer Pending(retry_after=seconds), as an HTTP Retry-After would."""

    async def answer() -> PollResult[str]:
        return Pending(retry_after=seconds)

    return answer


# Bases 1, 2, 4, 8, 8, ... with no jitter: each wait shows which step it is.
DOUBLING = Backoff(initial=1, factor=2, cap=8, jitter=0)


async def test_a_longer_retry_after_replaces_the_wait_and_keeps_the_backoff_step(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A 30 s retry_after is waited in full; the backoff then resumes at its step."""
    upstream = Upstream(pending, wait_for(30), pending, pending, done("ok"))
    assert await poll(upstream, backoff=DOUBLING) == "ok"
    # 0 +1 (step 1), +30 (retry_after; step 2 kept), +2 (step 2), +4 (step 3)
    assert upstream.asked_at == [0, 1, 31, 33, 37]


async def test_a_shorter_retry_after_is_floored_at_the_current_base_unjittered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """retry_after=1 under a 10 s base waits exactly 10 s: no jitter, same step."""
    source = JitterAtMidpoint()
    backoff = Backoff(initial=10, factor=3, cap=100, jitter=0.5)
    upstream = Upstream(wait_for(1), wait_for(0), wait_for(9.5), done("ok"))
    assert await poll(upstream, backoff=backoff, rng=source) == "ok"
    assert upstream.asked_at == [0, 10, 20, 30]
    assert source.draws == 0


async def test_the_floor_is_the_base_the_backoff_has_reached(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """After three backoff waits the floor is the fourth base, 8 s, not the first."""
    upstream = Upstream(pending, pending, pending, wait_for(0.5), done("ok"))
    assert await poll(upstream, backoff=DOUBLING) == "ok"
    assert upstream.asked_at == [0, 1, 3, 7, 15]


async def test_a_retry_after_beyond_the_cap_is_honoured(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The cap bounds the backoff, not the upstream: retry_after=100 over a 8 s cap."""
    upstream = Upstream(wait_for(100), pending, done("ok"))
    assert await poll(upstream, backoff=DOUBLING, max_wait=600) == "ok"
    assert upstream.asked_at == [0, 100, 101]


async def test_a_retry_after_beyond_the_deadline_gives_up_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A retry_after reaching past the deadline raises PollTimeout now, unslept."""
    flake = ConnectionError("reset")
    upstream = Upstream(raises(flake), wait_for(120))
    with pytest.raises(PollTimeout) as caught:
        await poll(upstream, backoff=EVERY_10, max_wait=60, retry_on=OSError)
    assert upstream.asked_at == [0, 10]
    assert trio.current_time() == 10
    assert caught.value.attempts == 2
    assert caught.value.last_error is flake
    assert caught.value.__cause__ is flake
    assert caught.value.max_wait == 60
    assert str(caught.value) == (
        "poll gave up before its deadline (max_wait=60.0 s) after 2 attempt(s): "
        "the upstream's retry_after reaches past it; last error: "
        "ConnectionError('reset')"
    )


async def test_beyond_the_deadline_there_is_no_final_attempt_either(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With attempt_timeout too, a retry_after past the deadline gives up at once."""
    upstream = Upstream(wait_for(60.5))
    with pytest.raises(PollTimeout):
        await poll(upstream, max_wait=60, attempt_timeout=5)
    assert upstream.asked_at == [0]
    assert trio.current_time() == 0


async def test_a_retry_after_ending_at_the_deadline_needs_the_final_attempt(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Ending exactly at the deadline: given up at once, or met by the final attempt."""
    upstream = Upstream(wait_for(60), done("ok"))
    with pytest.raises(PollTimeout):
        await poll(upstream, max_wait=60)
    assert trio.current_time() == 0
    upstream = Upstream(wait_for(60), done("ok"))
    assert await poll(upstream, max_wait=60, attempt_timeout=5) == "ok"
    assert upstream.asked_at == [0, 60]


async def test_a_floor_crossing_the_deadline_is_shortened_like_any_wait(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """retry_after=1 floored at 10 s with 5 s left: the wait ends at the deadline."""
    upstream = Upstream(wait_for(1), done("ok"))
    with pytest.raises(PollTimeout) as caught:
        await poll(upstream, backoff=EVERY_10, max_wait=5)
    assert trio.current_time() == 5
    assert str(caught.value).startswith("poll gave up at its deadline")
    upstream = Upstream(wait_for(1), done("late"))
    assert (
        await poll(upstream, backoff=EVERY_10, max_wait=5, attempt_timeout=1) == "late"
    )
    assert upstream.asked_at == [5, 10]  # this poll started at 5


async def test_a_fresh_pending_without_retry_after_is_pending(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Pending() and Pending(retry_after=None) wait the backoff, as PENDING does."""

    async def fresh() -> PollResult[str]:
        return Pending()

    upstream = Upstream(fresh, wait_for(None), pending, done("ok"))
    assert await poll(upstream, backoff=DOUBLING) == "ok"
    assert upstream.asked_at == [0, 1, 3, 7]


def test_pending_constant_is_unchanged() -> None:
    """PENDING is still one constant: a Pending without retry_after, shown by name."""
    assert isinstance(PENDING, Pending)
    assert PENDING.retry_after is None
    assert PENDING is PENDING  # noqa: PLR0124 - identity is the point
    assert Pending() == PENDING
    assert hash(Pending()) == hash(PENDING)
    assert Pending(retry_after=0) != PENDING
    assert repr(Pending()) == "tickwork.PENDING"
    assert repr(Pending(retry_after=2.5)) == "tickwork.Pending(retry_after=2.5)"


def test_pending_is_frozen() -> None:
    """A Pending cannot be changed after it was built."""
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        PENDING.retry_after = 3  # type: ignore[misc]


@pytest.mark.parametrize("seconds", [0, 0.0, 1, 2.5, 10**6, 2**1000])
def test_pending_accepts_any_finite_non_negative_retry_after(seconds: float) -> None:
    """Zero, ints and floats, huge ones within float range, are valid."""
    assert Pending(retry_after=seconds).retry_after == seconds


@pytest.mark.parametrize(
    ("seconds", "error", "rule"),
    [
        (-1, InvalidConfigError, "'retry_after' must be finite and >= 0 (got -1)"),
        (-0.5, InvalidConfigError, "'retry_after' must be finite and >= 0 (got -0.5)"),
        (
            math.nan,
            InvalidConfigError,
            "'retry_after' must be finite and >= 0 (got nan)",
        ),
        (
            math.inf,
            InvalidConfigError,
            "'retry_after' must be finite and >= 0 (got inf)",
        ),
        (HUGE, InvalidConfigError, "'retry_after' must be finite and >= 0 (got "),
        ("30", WrongTypeError, "'retry_after' must be a real number (got '30')"),
        (True, WrongTypeError, "'retry_after' must be a real number (got True)"),
        (LONG, WrongTypeError, "'retry_after' must be a real number (got 'xxx"),
    ],
    ids=["negative", "negative-float", "nan", "inf", "huge", "str", "bool", "long"],
)
def test_pending_refuses_a_bad_retry_after_by_name(
    seconds: object, error: type[Exception], rule: str
) -> None:
    """A negative, non-finite or non-number retry_after names field and value."""
    with pytest.raises(error) as caught:
        Pending(retry_after=seconds)  # type: ignore[arg-type]
    assert str(caught.value).startswith(rule)
    assert len(str(caught.value)) < MESSAGE_LIMIT


def test_pending_takes_retry_after_by_keyword_only() -> None:
    """Pending(30) is refused: the keyword says what the number means."""
    with pytest.raises(TypeError):
        Pending(30)  # type: ignore[call-arg]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.none() | st.floats(min_value=0, max_value=50), min_size=1, max_size=30),
    st.floats(min_value=1, max_value=400),
)
def test_attempts_follow_the_retry_after_rule(
    answers: list[float | None], max_wait: float
) -> None:
    """Each wait is the backoff's, or max(retry_after, its current base), in time."""
    upstream = Upstream(*(wait_for(seconds) for seconds in answers), done("ok"))

    async def main() -> str | None:
        try:
            return await poll(upstream, max_wait=max_wait, backoff=DOUBLING)
        except PollTimeout:
            return None

    outcome = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    # The model: bases 1, 2, 4, 8, 8, ...; a retry_after keeps the step.
    expected, now, step = [0.0], 0.0, 0
    for seconds in answers:
        base = min(2.0**step, 8.0)
        if seconds is None:
            wake, step = now + base, step + 1
        else:
            # MockClock adds differences: a tie with the deadline could go
            # either way by rounding.
            assume(not math.isclose(now + seconds, max_wait, rel_tol=1e-9))
            if now + seconds >= max_wait:
                break
            wake = now + max(seconds, base)
        assume(not math.isclose(wake, max_wait, rel_tol=1e-9))
        if wake >= max_wait:
            break
        expected.append(wake)
        now = wake
    assert upstream.asked_at == pytest.approx(expected, rel=1e-12)
    assert (outcome == "ok") == (len(expected) == len(answers) + 1)
