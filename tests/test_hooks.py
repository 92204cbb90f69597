"""Hook objects are checked when they are given, not at the first event."""

from __future__ import annotations

import pytest

from tickwork import InvalidConfigError, Scheduler, WrongTypeError
from tickwork._hooks import EVENTS, Hooks
from tickwork.otel import OpenTelemetryHooks
from tickwork.triggers import MemoryTriggerStore, TriggerRow, TriggerSweeper


class Good:
    """A hook with one real event method and unrelated attributes."""

    label = "on duty"

    def on_run_started(self, *, loop: str, lateness: float) -> None:
        """Listen to run starts."""

    def helper(self) -> None:
        """Not an event: ignored."""


class AsyncHook:
    """A hook whose event method is async (it would never be awaited)."""

    async def on_run_finished(self, **_fields: object) -> None:
        """Refused."""


class Misspelt:
    """A hook with a typo in its event method's name."""

    def on_run_finshed(self, **_fields: object) -> None:
        """Refused, with the list of events."""


async def _dispatch(_row: TriggerRow) -> None:
    """A sweeper's dispatch."""


def test_known_events_are_accepted_and_others_attributes_ignored() -> None:
    """A hook with a real event method and other attributes is fine."""
    hooks = Hooks([Good()])
    assert hooks.wants("on_run_started")
    assert not hooks.wants("on_shutdown")


def test_the_otel_hooks_pass_the_check() -> None:
    """Every method of the OTel adapter is a known, synchronous event."""
    Scheduler(hooks=[OpenTelemetryHooks()])


@pytest.mark.parametrize("build", [Scheduler, Hooks])
def test_an_async_event_method_is_refused(build: type[object]) -> None:
    """An async on_* method is refused with the hook and the method named."""
    with pytest.raises(WrongTypeError, match="'on_run_finished' must be a synchronous"):
        build(hooks=[AsyncHook()])  # type: ignore[call-arg]


def test_a_misspelt_event_method_is_refused_listing_the_events() -> None:
    """on_run_finshed matches no event: the message lists every event."""
    with pytest.raises(InvalidConfigError, match="'on_run_finshed'") as caught:
        Scheduler(hooks=[Misspelt()])
    assert all(event in str(caught.value) for event in EVENTS)


@pytest.mark.parametrize("hooks", [OpenTelemetryHooks(), Good(), "hooks", None])
def test_a_single_hook_object_instead_of_an_iterable_is_refused(
    hooks: object,
) -> None:
    """hooks=Hook() (or a str, or None) is refused: hooks takes an iterable."""
    with pytest.raises(WrongTypeError, match="'hooks' must be an iterable"):
        Scheduler(hooks=hooks)  # type: ignore[arg-type]
    with pytest.raises(WrongTypeError, match="'hooks' must be an iterable"):
        TriggerSweeper(MemoryTriggerStore(), _dispatch, hooks=hooks)  # type: ignore[arg-type]
