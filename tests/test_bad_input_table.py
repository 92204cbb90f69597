"""docs/bad-input.md is true: every row's call raises as the row says."""

from __future__ import annotations

import inspect
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

import tickwork
import tickwork.testing
import tickwork.triggers
from tickwork import Loop, Scheduler

PAGE = Path(__file__).parent.parent / "docs" / "bad-input.md"
ROW = re.compile(r"^\| `([^`]+)` \| `(.+)` \| `(\w+)` \| `(.+)` \|$")


def table() -> list[tuple[str, str, str, str]]:
    """The rows of the page's table: entry point, call, error, message."""
    rows = [
        match.groups()
        for line in PAGE.read_text(encoding="utf-8").splitlines()
        if (match := ROW.match(line))
    ]
    assert len(rows) >= 50, "the table lost its rows, or the pattern drifted"
    return [(a, b, c, d) for a, b, c, d in rows]


async def job(*_args: object) -> None:
    """An async function."""


async def ready() -> tickwork.PollResult[None]:
    """A polled function (never reached: poll refuses its arguments first)."""
    return tickwork.PENDING  # pragma: no cover


def sync(*_args: object) -> None:
    """A synchronous function."""


class AsyncHook:
    """A hook with an async event method."""

    async def on_run_started(self, **_fields: object) -> None:
        """Never awaited, so refused."""


class TypoHook:
    """A hook with a misspelt event method."""

    def on_run_finshed(self, **_fields: object) -> None:
        """Matches no event, so refused."""


def namespace() -> dict[str, Any]:
    """What the calls of the table may name."""
    names: dict[str, Any] = {
        name: getattr(module, name)
        for module in (tickwork, tickwork.triggers, tickwork.testing)
        for name in module.__all__
    }
    loop = Loop(name="a", fn=job, interval=1)
    names.update(
        datetime=datetime,
        job=job,
        ready=ready,
        sync=sync,
        AsyncHook=AsyncHook,
        TypoHook=TypoHook,
        loop=loop,
        scheduler=Scheduler([loop]),
        store=tickwork.triggers.MemoryTriggerStore(
            [tickwork.triggers.TriggerRow("1", "x", "1m", True, None)]
        ),
    )
    return names


@pytest.mark.parametrize(("entry", "call", "error", "message"), table())
def test_each_row_of_the_bad_input_table_holds(
    entry: str, call: str, error: str, message: str
) -> None:
    """The call raises the named error, whose message contains the text."""
    names = namespace()
    kind = names[error]
    assert issubclass(kind, tickwork.TickworkError)

    async def call_it() -> None:
        result = eval(call, names)  # noqa: S307 - the docs' own table
        if inspect.iscoroutine(result):
            await result
        elif hasattr(result, "__aenter__"):
            async with result:
                pass  # pragma: no cover - refused on entry

    async def main() -> None:
        with pytest.raises(kind) as caught:
            await call_it()
        assert message in str(caught.value), entry
        assert len(str(caught.value)) < 400

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
