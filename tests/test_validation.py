"""Bad configuration is refused with an error naming the field, the rule and the value."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pytest

from tickwork import (
    PENDING,
    Backoff,
    InvalidConfigError,
    Loop,
    PollResult,
    Scheduler,
    ShutdownReport,
    TickSchedule,
    TickworkError,
    WrongTypeError,
    poll,
    set_default_max_wait,
)
from tickwork.triggers import MemoryTriggerStore, TriggerSweeper, parse_interval

if TYPE_CHECKING:
    from collections.abc import Callable

    import trio.testing

NAN, INF = math.nan, math.inf


async def _job() -> None:
    """A loop body."""


def _sweeper(**overrides: Any) -> TriggerSweeper:
    """A TriggerSweeper with valid defaults and some arguments replaced."""
    fields: dict[str, Any] = {
        "store": MemoryTriggerStore(),
        "dispatch": _dispatch,
        **overrides,
    }
    return TriggerSweeper(**fields)


async def _dispatch(row: object) -> None:
    """A sweeper's dispatch."""


def _loop(**overrides: Any) -> Loop:
    """A Loop with valid defaults and some fields replaced."""
    fields: dict[str, Any] = {"name": "job", "fn": _job, "interval": 1.0, **overrides}
    return Loop(**fields)


# (factory, keyword arguments, error type, fragment of the message)
BAD_CONFIG: list[tuple[Callable[..., object], dict[str, Any], type[Exception], str]] = [
    (
        TickSchedule,
        {"interval": 0},
        InvalidConfigError,
        "'interval' must be finite and > 0 (got 0)",
    ),
    (
        TickSchedule,
        {"interval": -1.5},
        InvalidConfigError,
        "'interval' must be finite and > 0 (got -1.5)",
    ),
    (
        TickSchedule,
        {"interval": NAN},
        InvalidConfigError,
        "'interval' must be finite and > 0 (got nan)",
    ),
    (
        TickSchedule,
        {"interval": INF},
        InvalidConfigError,
        "'interval' must be finite and > 0 (got inf)",
    ),
    (
        TickSchedule,
        {"interval": "1"},
        WrongTypeError,
        "'interval' must be a real number (got '1')",
    ),
    (
        TickSchedule,
        {"interval": True},
        WrongTypeError,
        "'interval' must be a real number (got True)",
    ),
    (
        TickSchedule,
        {"interval": 1, "jitter": 1},
        InvalidConfigError,
        "'jitter' must be in [0, 1) (got 1)",
    ),
    (
        TickSchedule,
        {"interval": 1, "jitter": -0.1},
        InvalidConfigError,
        "'jitter' must be in [0, 1) (got -0.1)",
    ),
    (
        TickSchedule,
        {"interval": 1, "jitter": NAN},
        InvalidConfigError,
        "'jitter' must be in [0, 1) (got nan)",
    ),
    (
        TickSchedule,
        {"interval": 1, "jitter": None},
        WrongTypeError,
        "'jitter' must be a real number (got None)",
    ),
    (
        Backoff,
        {"initial": 0},
        InvalidConfigError,
        "'initial' must be finite and > 0 (got 0)",
    ),
    (
        Backoff,
        {"initial": INF},
        InvalidConfigError,
        "'initial' must be finite and > 0 (got inf)",
    ),
    (
        Backoff,
        {"factor": 0.5},
        InvalidConfigError,
        "'factor' must be finite and >= 1 (got 0.5)",
    ),
    (
        Backoff,
        {"factor": INF},
        InvalidConfigError,
        "'factor' must be finite and >= 1 (got inf)",
    ),
    (
        Backoff,
        {"factor": NAN},
        InvalidConfigError,
        "'factor' must be finite and >= 1 (got nan)",
    ),
    (
        Backoff,
        {"factor": "3"},
        WrongTypeError,
        "'factor' must be a real number (got '3')",
    ),
    (
        Backoff,
        {"cap": 4},
        InvalidConfigError,
        "'cap' must be >= 'initial' (5.0) (got 4)",
    ),
    (
        Backoff,
        {"cap": INF},
        InvalidConfigError,
        "'cap' must be finite and > 0 (got inf)",
    ),
    (Backoff, {"cap": None}, WrongTypeError, "'cap' must be a real number (got None)"),
    (
        Backoff,
        {"jitter": 1.0},
        InvalidConfigError,
        "'jitter' must be in [0, 1) (got 1.0)",
    ),
    (
        _loop,
        {"name": ""},
        InvalidConfigError,
        "'name' must be a non-empty str without surrounding white space (got '')",
    ),
    (_loop, {"name": 3}, WrongTypeError, "'name' must be a str (got 3)"),
    (
        _loop,
        {"fn": "job"},
        WrongTypeError,
        "'fn' must be an async callable taking no arguments (got 'job')",
    ),
    (
        _loop,
        {"interval": 0},
        InvalidConfigError,
        "'interval' must be finite and >= 0.001 (got 0)",
    ),
    (
        _loop,
        {"interval": INF},
        InvalidConfigError,
        "'interval' must be finite and >= 0.001 (got inf)",
    ),
    (_loop, {"jitter": 1}, InvalidConfigError, "'jitter' must be in [0, 1) (got 1)"),
    (
        _loop,
        {"timeout": 0},
        InvalidConfigError,
        "'timeout' must be finite and > 0 (got 0)",
    ),
    (
        _loop,
        {"timeout": NAN},
        InvalidConfigError,
        "'timeout' must be finite and > 0 (got nan)",
    ),
    (
        _loop,
        {"timeout": "5"},
        WrongTypeError,
        "'timeout' must be a real number (got '5')",
    ),
    (
        _loop,
        {"run_on_start": "yes"},
        WrongTypeError,
        "'run_on_start' must be a bool (got 'yes')",
    ),
    (
        Scheduler,
        {"grace": -1},
        InvalidConfigError,
        "'grace' must be finite and >= 0 (got -1)",
    ),
    (
        Scheduler,
        {"grace": INF},
        InvalidConfigError,
        "'grace' must be finite and >= 0 (got inf)",
    ),
    (
        Scheduler,
        {"grace": None},
        WrongTypeError,
        "'grace' must be a real number (got None)",
    ),
    (
        Scheduler,
        {"seed": "abc"},
        WrongTypeError,
        "'seed' must be None or an int (got 'abc')",
    ),
    (
        Scheduler,
        {"seed": 1.5},
        WrongTypeError,
        "'seed' must be None or an int (got 1.5)",
    ),
    (
        Scheduler,
        {"loops": [_loop(), _loop()]},
        InvalidConfigError,
        "a loop named 'job' is already in this scheduler",
    ),
    (
        _sweeper,
        {"tick_interval": 0},
        InvalidConfigError,
        "'tick_interval' must be finite and > 0 (got 0)",
    ),
    (
        _sweeper,
        {"tick_interval": -30},
        InvalidConfigError,
        "'tick_interval' must be finite and > 0 (got -30)",
    ),
    (
        _sweeper,
        {"tick_interval": NAN},
        InvalidConfigError,
        "'tick_interval' must be finite and > 0 (got nan)",
    ),
    (
        _sweeper,
        {"tick_interval": "30"},
        WrongTypeError,
        "'tick_interval' must be a real number (got '30')",
    ),
    (
        _sweeper,
        {"min_interval": 0},
        InvalidConfigError,
        "'min_interval' must be finite and > 0 (got 0)",
    ),
    (
        _sweeper,
        {"catch_up_factor": 0.5},
        InvalidConfigError,
        "'catch_up_factor' must be finite and >= 1 (got 0.5)",
    ),
    (
        _sweeper,
        {"catch_up_factor": INF},
        InvalidConfigError,
        "'catch_up_factor' must be finite and >= 1 (got inf)",
    ),
    (
        _sweeper,
        {"max_concurrent": 0},
        InvalidConfigError,
        "'max_concurrent' must be >= 1 (got 0)",
    ),
    (
        _sweeper,
        {"max_concurrent": 2.0},
        WrongTypeError,
        "'max_concurrent' must be an int (got 2.0)",
    ),
    (
        _sweeper,
        {"max_concurrent": True},
        WrongTypeError,
        "'max_concurrent' must be an int (got True)",
    ),
    (
        _sweeper,
        {"dispatch": None},
        WrongTypeError,
        "'dispatch' must be an async callable taking the TriggerRow (got None)",
    ),
    (
        _sweeper,
        {"clock": "utc"},
        WrongTypeError,
        "'clock' must be a synchronous callable returning an aware datetime (got 'utc')",
    ),
    (
        parse_interval,
        {"text": "1h0m"},
        InvalidConfigError,
        "'interval' groups must be positive (got '1h0m': 0m)",
    ),
    (
        set_default_max_wait,
        {"seconds": 0},
        InvalidConfigError,
        "'max_wait' must be finite and > 0 (got 0)",
    ),
    (
        set_default_max_wait,
        {"seconds": -5},
        InvalidConfigError,
        "'max_wait' must be finite and > 0 (got -5)",
    ),
    (
        set_default_max_wait,
        {"seconds": INF},
        InvalidConfigError,
        "'max_wait' must be finite and > 0 (got inf)",
    ),
    (
        set_default_max_wait,
        {"seconds": "60"},
        WrongTypeError,
        "'max_wait' must be a real number (got '60')",
    ),
]


@pytest.mark.parametrize(
    ("factory", "kwargs", "error", "message"),
    BAD_CONFIG,
    ids=[f"{f.__name__}-{next(iter(k))}" for f, k, _, _ in BAD_CONFIG],
)
def test_bad_config_is_refused_with_a_precise_message(
    factory: Callable[..., object],
    kwargs: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    """Each bad value raises its documented error type with field, rule and value."""
    with pytest.raises(error) as caught:
        factory(**kwargs)
    assert message in str(caught.value)
    assert isinstance(caught.value, TickworkError)
    builtin = ValueError if error is InvalidConfigError else TypeError
    assert isinstance(caught.value, builtin)


async def test_stop_refuses_a_bad_grace(autojump_clock: trio.testing.MockClock) -> None:
    """stop(grace=...) names the field and the value."""
    scheduler = Scheduler()
    with pytest.raises(
        InvalidConfigError, match=r"'grace' must be finite and >= 0 \(got -2\)"
    ):
        scheduler.stop(grace=-2)
    assert scheduler.shutdown_report is None
    scheduler.stop(grace=0)  # the refused call began no shutdown; this one does
    assert await scheduler.run() == ShutdownReport(timed_out=False, cancelled=())


async def _never() -> PollResult[None]:
    return PENDING  # pragma: no cover - poll refuses its arguments first


BAD_POLL: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"max_wait": 0}, InvalidConfigError, "'max_wait' must be finite and > 0 (got 0)"),
    (
        {"max_wait": NAN},
        InvalidConfigError,
        "'max_wait' must be finite and > 0 (got nan)",
    ),
    (
        {"max_wait": INF},
        InvalidConfigError,
        "'max_wait' must be finite and > 0 (got inf)",
    ),
    (
        {"attempt_timeout": 0},
        InvalidConfigError,
        "'attempt_timeout' must be finite and > 0 (got 0)",
    ),
    (
        {"attempt_timeout": "1"},
        WrongTypeError,
        "'attempt_timeout' must be a real number (got '1')",
    ),
    (
        {"retry_on": "ConnectionError"},
        WrongTypeError,
        "'retry_on' must be an exception type",
    ),
    (
        {"retry_on": (OSError, 3)},
        WrongTypeError,
        "'retry_on' must be an exception type",
    ),
    ({"retry_on": int}, WrongTypeError, "'retry_on' must be an exception type"),
    (
        {"retry_on": KeyboardInterrupt},
        InvalidConfigError,
        "'retry_on' must be Exception subclasses, not KeyboardInterrupt",
    ),
    (
        {"retry_on": (OSError, SystemExit)},
        InvalidConfigError,
        "'retry_on' must be Exception subclasses, not SystemExit",
    ),
    ({"backoff": 5}, WrongTypeError, "'backoff' must be a tickwork.Backoff (got 5)"),
    ({"rng": 5}, WrongTypeError, "'rng' must be None or an object with"),
    ({"max_wait": True}, WrongTypeError, "'max_wait' must be a real number (got True)"),
    (
        {"max_wait": -1},
        InvalidConfigError,
        "'max_wait' must be finite and > 0 (got -1)",
    ),
    ({"max_wait": "60"}, WrongTypeError, "'max_wait' must be a real number (got '60')"),
    (
        {"max_wait": 2**2000},
        InvalidConfigError,
        "'max_wait' must be finite and > 0 (got 1148130695",
    ),
    (
        {"attempt_timeout": True},
        WrongTypeError,
        "'attempt_timeout' must be a real number (got True)",
    ),
    (
        {"attempt_timeout": NAN},
        InvalidConfigError,
        "'attempt_timeout' must be finite and > 0 (got nan)",
    ),
    (
        {"attempt_timeout": INF},
        InvalidConfigError,
        "'attempt_timeout' must be finite and > 0 (got inf)",
    ),
    (
        {"attempt_timeout": -1},
        InvalidConfigError,
        "'attempt_timeout' must be finite and > 0 (got -1)",
    ),
    (
        {"attempt_timeout": 2**2000},
        InvalidConfigError,
        "'attempt_timeout' must be finite and > 0 (got 1148130695",
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    BAD_POLL,
    ids=[next(iter(k)) for k, _, _ in BAD_POLL],
)
async def test_bad_poll_arguments_are_refused_before_any_attempt(
    autojump_clock: trio.testing.MockClock,
    kwargs: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    """poll checks its arguments before it calls the upstream."""
    with pytest.raises(error) as caught:
        await poll(_never, **kwargs)
    assert message in str(caught.value)
    # Values are cut to 200 characters in messages (2**2000 has 603 digits).
    assert len(str(caught.value)) < 300
    assert isinstance(caught.value, TickworkError)
