"""The claim rules of `tickwork._lease`: catch-up, pause, overrun and replace.

Pure functions, so each property plays a whole history on integer
microseconds: a schedule's runs (claimed at their fire instant, finished
after a duration), an outage, a pause, a takeover; and checks what the
rules answer against a count made the slow way.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

import attrs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tickwork._lease import (
    ANY_WINDOW,
    CANCELLED,
    EARLY,
    EARLY_US,
    FAILED,
    GONE,
    HELD,
    MISSED,
    PAUSED,
    REPLACED,
    SUCCEEDED,
    TAKEN,
    WON,
    CatchUp,
    Claim,
    Claimed,
    WindowState,
    _windows,
    claim,
    claim_all,
    finish,
    finish_all,
    micros,
    missed_before,
    renew,
    renew_all,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

S = 1_000_000
MINUTE = 60 * S
T0 = int(datetime(2026, 1, 1, 10, tzinfo=timezone.utc).timestamp()) * S
"""10:00:00 UTC, in microseconds: window 0 of the examples' grids."""
LEASE = 10**12
"""Longer than any run here (~11.5 days): a run's lease never lapses."""
LATE_US = S
"""tickwork._coordinated.LATE: a claim this long after the fire is late."""
KEY = "job"
POLICIES: tuple[CatchUp, ...] = ("latest", "skip", "all")


def _late(now: int, fire: int, step: int) -> bool:
    """Whether a claim at *now* is late, as the coordinated runner decides."""
    return now - fire > min(LATE_US, step // 2)


def _apply(
    state: WindowState,
    want: Claim,
    now: int,
    *,
    holder: str = "b",
    lease: int = LEASE,
) -> tuple[WindowState, Claimed]:
    """`claim`, with the state kept when the rules write nothing."""
    new, answer = claim(state, want, now, lease, holder)
    return (state if new is None else new), answer


def _finish(state: WindowState, token: int, now: int) -> WindowState:
    """Record success for *token* at *now*; it must be accepted."""
    new, recorded = finish(state, token, SUCCEEDED, now)
    assert recorded
    assert new is not None
    return new


def _catch_up(
    state: WindowState, want: Claim, now: int, duration: int
) -> tuple[WindowState, list[Claimed], int]:
    """Claim *want* as the runner does: again while the won window is older.

    Each window won runs for *duration*; `late` is decided anew at each
    claim. Returns the state, every answer, and the clock at the end.
    """
    answers: list[Claimed] = []
    for _ in range(want.limit + 2):
        want = attrs.evolve(want, late=_late(now, want.fire, want.step))
        state, answer = _apply(state, want, now)
        answers.append(answer)
        if not answer.won:
            return state, answers, now
        now += duration
        state = _finish(state, answer.token, now)
        assert answer.window is not None
        if answer.window >= want.window:
            return state, answers, now
    pytest.fail(f"more claims than limit + 1: {answers}")


# --- strategies, local: the shapes of a schedule's history ------------------

steps = st.integers(min_value=1_000, max_value=10 * MINUTE)
"""Grid intervals from 1 ms to 10 minutes."""


@attrs.frozen(kw_only=True)
class Outage:
    """A schedule's history, then a replica back after an outage."""

    step: int
    jitter: int
    """Every fire instant is its window's start plus this (>= 0)."""
    runs: list[int]
    """Duration of each run before the outage (claimed at its fire)."""
    abandoned: bool
    """The last run's holder died: no outcome; its lease ends at its end."""
    outage: int
    """How long after the first window that could be claimed again."""
    duration: int
    """Duration of each catch-up run."""
    catch_up: CatchUp
    limit: int
    fresh: bool

    def start(self, k: int) -> int:
        """Window *k*'s start."""
        return T0 + k * self.step

    def fire(self, k: int) -> int:
        """Window *k*'s fire instant."""
        return self.start(k) + self.jitter

    def due(self, now: int) -> int:
        """The latest window whose fire instant is at or before *now*."""
        return (now - T0 - self.jitter) // self.step


@st.composite
def outages(draw: st.DrawFn) -> Outage:
    """A grid, a history of 0-4 runs (overruns too), an outage, a policy."""
    step = draw(steps)
    return Outage(
        step=step,
        jitter=draw(st.integers(0, step // 2)),
        runs=draw(st.lists(st.integers(1, 3 * step), max_size=4)),
        abandoned=draw(st.booleans()),
        outage=draw(st.integers(0, 30 * step)),
        duration=draw(st.integers(1, 2 * step)),
        catch_up=draw(st.sampled_from(POLICIES)),
        limit=draw(st.integers(1, 12)),
        fresh=draw(st.booleans()),
    )


@attrs.frozen
class History:
    """What a history of runs leaves: the state and the facts behind it."""

    state: WindowState
    last: int
    """Index of the last window claimed."""
    busy_end: int
    """When the last run ended (or its abandoned lease did)."""


def _play_history(o: Outage) -> History:
    """Run *o*'s windows one replica's way (overlap skip), each at its fire.

    A run that outlasts its interval skips the windows whose fire instant
    passed meanwhile; the next claim is the first window due after it.
    """
    state, k, last, end = WindowState(), 0, -1, 0
    for i, duration in enumerate(o.runs):
        last = k
        now = o.fire(k)
        last_run = i == len(o.runs) - 1
        lease = duration if o.abandoned and last_run else LEASE
        want = Claim(KEY, o.start(k), now, step=o.step, catch_up=o.catch_up)
        state, answer = _apply(state, want, now, holder="a", lease=lease)
        assert (answer.status, answer.missed, answer.window) == (WON, 0, want.window)
        end = now + duration
        if not (o.abandoned and last_run):
            state = _finish(state, answer.token, end)
        k = max(k + 1, -((T0 + o.jitter - end) // o.step))  # first fire >= end
    return History(state, last, end)


@given(outages())
@example(  # the last run claimed after its window's start (jitter): none owed
    Outage(
        step=60607,
        jitter=2,
        runs=[1],
        abandoned=False,
        outage=1030319,
        duration=1,
        catch_up="all",
        limit=2,
        fresh=False,
    )
)
def test_after_an_outage_each_policy_runs_what_it_promises(o: Outage) -> None:
    """After an outage: latest runs one, skip none late, all the last limit in order.

    The missed windows are those of the grid after the last run ended (and
    the grace after it) and before the wanted one, plus the wanted one when
    the claim is late; with
    "all" lost + missed windows run == missed, each window runs once.
    """
    history = _play_history(o)
    first_free = o.fire(history.last + 1) if o.runs else o.fire(0)
    now = max(history.busy_end, first_free) + o.outage
    k = o.due(now)
    late = _late(now, o.fire(k), o.step)
    want = Claim(
        KEY,
        o.start(k),
        o.fire(k),
        step=o.step,
        catch_up=o.catch_up,
        limit=o.limit,
        fresh=o.fresh,
        late=late,
    )
    state, answers, _ = _catch_up(history.state, want, now, o.duration)
    first = answers[0]
    runs = [a.window for a in answers if a.won]
    if not o.runs:  # never claimed: no history, nothing missed
        assert (first.missed, first.lost, first.catching_up) == (0, 0, False)
        if o.fresh:
            assert runs == [want.window]
        else:
            assert (first.status, first.window, state) == (MISSED, None, WindowState())
        return
    # Held, not missed: windows that start before the run ended, or within
    # half an interval and 1 s after (their fire may come that early).
    held_until = history.busy_end + o.step // 2 + EARLY_US
    late = late and want.window > held_until
    missed = [
        o.start(j) for j in range(history.last + 1, k) if o.start(j) > held_until
    ] + ([want.window] if late else [])
    assert first.missed == len(missed)
    assert first.lost_window == (o.start(history.last) if o.abandoned else None)
    if o.catch_up == "latest":
        assert runs == [want.window]
        assert (first.lost, first.catching_up) == (0, late)
    elif o.catch_up == "skip" and late:
        assert (first.status, runs) == (MISSED, [])
        assert (state.window, state.token) == (want.window, history.state.token)
    elif o.catch_up == "skip":
        assert runs == [want.window]
    else:
        owed = missed[-o.limit :]
        assert runs == owed + ([] if late else [want.window])
        assert first.lost + len(owed) == first.missed
        assert sum(a.lost for a in answers) == first.lost  # counted once
        assert first.catching_up == bool(owed)
    assert len(set(runs)) == len(runs)
    assert state.lost == history.state.lost + o.abandoned + first.lost


@attrs.frozen(kw_only=True)
class Overruns:
    """Replicas claiming every window at its fire while runs overrun."""

    step: int
    offsets: list[int]
    """Each window's fire instant minus its start (window k: offsets[k])."""
    durations: list[int]
    """The duration of each run won, in order."""
    catch_up: CatchUp


@st.composite
def overruns(draw: st.DrawFn, *, early: bool = False) -> Overruns:
    """Runs of up to 4 intervals; fires after their starts (before: *early*)."""
    step = draw(steps)
    spread = step // 2 - 1
    offsets = st.integers(-spread if early else 0, spread)
    return Overruns(
        step=step,
        offsets=draw(st.lists(offsets, min_size=2, max_size=20)),
        durations=draw(st.lists(st.integers(1, 4 * step), min_size=20, max_size=20)),
        catch_up=draw(st.sampled_from(POLICIES)),
    )


def _play_overruns(o: Overruns) -> list[Claimed]:
    """Claim each window at its fire, two replicas in turn; runs last as drawn."""
    state = WindowState()
    answers = []
    durations = iter(o.durations)
    running: tuple[int, int] | None = None  # token, end
    for k, offset in enumerate(o.offsets):
        window = T0 + k * o.step
        now = window + offset
        if running is not None and running[1] <= now:
            state = _finish(state, running[0], running[1])
            running = None
        want = Claim(KEY, window, now, step=o.step, catch_up=o.catch_up)
        state, answer = _apply(state, want, now, holder="ab"[k % 2])
        answers.append(answer)
        if answer.won:
            running = answer.token, now + next(durations)
    return answers


@given(overruns())
def test_an_overrun_is_never_a_catch_up(o: Overruns) -> None:
    """Windows held by a run that outlasts its interval are skipped, never missed."""
    answers = _play_overruns(o)
    assert {a.status for a in answers} <= {WON, HELD}
    assert [a.missed for a in answers] == [0] * len(answers)
    assert not any(a.catching_up for a in answers)


def test_a_window_held_before_its_start_is_not_missed() -> None:
    """A window held at a fire before its start by a run that then ends is skipped.

    Jitter 0.1 at 60 s puts 10:01's fire at 10:00:58; 10:00's run, claimed
    at 10:00:00, holds it and ends at 10:00:59, before 10:01 starts. The
    claim of 10:02 must not count 10:01 as missed: a replica was running.
    """
    step = MINUTE
    state, won = _apply(WindowState(), Claim(KEY, T0, T0, step=step), T0)
    fire = T0 + step - 2 * S
    _, held = _apply(state, Claim(KEY, T0 + step, fire, step=step), fire)
    assert held.status == HELD
    state = _finish(state, won.token, T0 + 59 * S)
    want = Claim(KEY, T0 + 2 * step, T0 + 2 * step, step=step, catch_up="all")
    state, answer = _apply(state, want, want.fire)
    assert (answer.status, answer.window, answer.missed) == (WON, want.window, 0)


# --- pause and resume --------------------------------------------------------


@attrs.frozen(kw_only=True)
class Pause:
    """A run, a pause at some point, a resume, and a replica claiming after."""

    step: int
    duration: int
    abandoned: bool
    paused_at: int
    """After the run's claim."""
    paused_for: int
    after: int
    """How long after the resume (and the run's end) the replica claims."""
    catch_up: CatchUp
    limit: int


@st.composite
def pauses(draw: st.DrawFn) -> Pause:
    """A pause anywhere from the run's claim, for up to 20 intervals."""
    step = draw(steps)
    return Pause(
        step=step,
        duration=draw(st.integers(1, 3 * step)),
        abandoned=draw(st.booleans()),
        paused_at=draw(st.integers(0, 10 * step)),
        paused_for=draw(st.integers(1, 20 * step)),
        after=draw(st.integers(0, 20 * step)),
        catch_up=draw(st.sampled_from(POLICIES)),
        limit=draw(st.integers(1, 12)),
    )


def _play_pause(p: Pause) -> tuple[WindowState, int, int, int]:
    """Run window 0, pause, claim while paused, resume: state, end, resume, now."""
    lease = p.duration if p.abandoned else LEASE
    want = Claim(KEY, T0, T0, step=p.step)
    state, won = _apply(WindowState(), want, T0, holder="a", lease=lease)
    end = T0 + p.duration
    paused_at = T0 + p.paused_at
    if not p.abandoned:
        state = _finish(state, won.token, end)
    state = attrs.evolve(state, paused=True)
    during = paused_at + p.paused_for // 2
    k = (during - T0) // p.step
    new, answer = claim(
        state,
        Claim(KEY, T0 + k * p.step, T0 + k * p.step, step=p.step),
        during,
        LEASE,
        "b",
    )
    assert (new, answer.status, answer.token) == (None, PAUSED, 1)
    resumed = paused_at + p.paused_for
    state = attrs.evolve(state, paused=False, resumed=resumed)
    return state, end, resumed, max(resumed, end) + p.after


@given(pauses())
def test_a_resume_never_catches_up_the_windows_before_it(p: Pause) -> None:
    """Windows that started before the resume are neither missed nor caught up.

    A window of the pause itself is passed over (answered paused, the state
    moves past it); a later one counts as missed only the windows that
    started at or after the resume and after the last run ended.
    """
    state, end, resumed, now = _play_pause(p)
    k = (now - T0) // p.step
    want = Claim(
        KEY,
        T0 + k * p.step,
        T0 + k * p.step,
        step=p.step,
        catch_up=p.catch_up,
        limit=p.limit,
    )
    if want.window <= T0:
        return  # window 0 itself: taken
    held_until = end + p.step // 2 + EARLY_US
    late = _late(now, want.fire, p.step) and want.window > held_until
    after, answers, _ = _catch_up(state, want, now, 1)
    first = answers[0]
    if want.window < resumed:
        assert (first.status, first.missed, len(answers)) == (PAUSED, 0, 1)
        assert (after.window, after.token) == (want.window, state.token)
        assert first.lost_window == (T0 if p.abandoned else None)
        return
    grid = [T0 + j * p.step for j in range(1, k)]
    missed = [w for w in grid if w >= resumed and w > held_until]
    assert first.missed == len(missed) + (late and want.window >= resumed)
    caught_up = [a.window for a in answers if a.won and a.window != want.window]
    assert all(w is not None and w >= resumed for w in caught_up)


@pytest.mark.parametrize("catch_up", POLICIES)
@pytest.mark.parametrize("late", [False, True])
def test_a_window_that_started_while_paused_is_passed_over(
    catch_up: CatchUp,
    late: bool,  # noqa: FBT001 - a parameter
) -> None:
    """Resumed at 10:00:30, a claim of 10:00 at 10:00:40 is paused: nothing runs.

    The state moves past 10:00 with no new token, so 10:01 then runs on
    time with nothing missed.
    """
    step = MINUTE
    state = WindowState(
        window=T0 - 2 * step,
        token=1,
        claimed=T0 - 2 * step,
        ended=T0 - 2 * step + S,
        outcome=SUCCEEDED,
        resumed=T0 + 30 * S,
    )
    want = Claim(KEY, T0, T0, step=step, late=late, catch_up=catch_up)
    state, answer = _apply(state, want, T0 + 40 * S)
    assert (answer.status, answer.missed, answer.catching_up) == (PAUSED, 0, False)
    assert (state.window, state.token, answer.token) == (T0, 1, 1)
    next_ = Claim(KEY, T0 + step, T0 + step, step=step, catch_up=catch_up)
    _, answer = _apply(state, next_, next_.fire)
    assert (answer.status, answer.window, answer.missed) == (WON, T0 + step, 0)


@pytest.mark.parametrize("catch_up", POLICIES)
def test_a_late_window_from_the_pause_is_no_catch_up_after_an_abandoned_run(
    catch_up: CatchUp,
) -> None:
    """09:58's holder died; resumed at 10:00:30, 10:00 claimed late is no catch-up."""
    step = MINUTE
    state = WindowState(
        window=T0 - 2 * step,
        token=1,
        claimed=T0 - 2 * step,
        lease_until=T0 - 2 * step + S,
        resumed=T0 + 30 * S,
    )
    want = Claim(KEY, T0, T0, step=step, late=True, catch_up=catch_up)
    _, answer = _apply(state, want, T0 + 40 * S)
    assert (answer.missed, answer.catching_up) == (0, False)
    assert answer.status != MISSED


def test_a_late_window_that_started_during_the_last_run_is_not_a_catch_up() -> None:
    """10:00's run ends at 10:01:30; 10:01 claimed late at 10:01:40 was not missed.

    10:01 started while 10:00's run was in flight: an overrun skip.
    """
    step = MINUTE
    state, won = _apply(WindowState(), Claim(KEY, T0, T0, step=step), T0)
    state = _finish(state, won.token, T0 + 90 * S)
    want = Claim(KEY, T0 + step, T0 + step, step=step, late=True, catch_up="skip")
    _, answer = _apply(state, want, T0 + 100 * S)
    assert (answer.status, answer.missed) == (WON, 0)


def test_a_paused_schedule_answers_paused_and_writes_nothing() -> None:
    """A stored pause beats every other rule, even a due window or a live lease."""
    state = WindowState(paused=True)
    new, answer = claim(state, Claim(KEY, T0, T0), T0, LEASE, "a")
    assert (new, answer.status, answer.window, answer.token) == (None, PAUSED, None, 0)
    running, won = _apply(WindowState(), Claim(KEY, T0, T0), T0)
    paused = attrs.evolve(running, paused=True)
    later = Claim(KEY, T0 + MINUTE, T0 + MINUTE, replace=True)
    new, answer = claim(paused, later, later.fire, LEASE, "b")
    assert (new, answer.status, answer.token) == (None, PAUSED, won.token)


def test_a_won_claim_keeps_the_resume_and_records_when() -> None:
    """A claim records `claimed`, keeps `resumed`, and clears `ended`."""
    state = WindowState(
        window=T0,
        token=3,
        outcome=SUCCEEDED,
        claimed=T0,
        ended=T0 + S,
        resumed=T0 + 5 * S,
    )
    want = Claim(KEY, T0 + MINUTE, T0 + MINUTE, step=MINUTE)
    state, answer = _apply(state, want, T0 + MINUTE + 7)
    assert (answer.status, answer.token) == (WON, 4)
    assert (state.claimed, state.ended, state.resumed) == (
        T0 + MINUTE + 7,
        None,
        T0 + 5 * S,
    )
    state = _finish(state, 4, T0 + MINUTE + 9)
    assert (state.ended, state.outcome, state.lease_until) == (
        T0 + MINUTE + 9,
        SUCCEEDED,
        None,
    )
    assert state.columns()[-2:] == (T0 + MINUTE + 7, T0 + MINUTE + 9)


# --- replace --------------------------------------------------------------------


@given(
    step=steps,
    held_for=st.integers(0, 10**9),
    lease=st.integers(1, 10**9),
    ahead=st.integers(-3, 3),
    at=st.integers(0, 10**9),
    replace=st.booleans(),
)
def test_a_takeover_fences_the_old_holder(  # noqa: PLR0917
    step: int,
    held_for: int,
    lease: int,
    ahead: int,
    at: int,
    replace: bool,  # noqa: FBT001 - drawn
) -> None:
    """While a lease holds an earlier window, replace wins with a new token.

    Then the old token's renewal and outcome are refused; without replace
    the window is held; the same or an earlier window is taken. Windows
    still owed to the old claim (it came after they started) are recorded
    lost, never dropped silently.
    """
    fire = T0 + held_for
    state, old = _apply(
        WindowState(), Claim(KEY, T0, fire), fire, holder="a", lease=lease
    )
    now = fire + at % lease  # within the lease
    window = T0 + ahead * step
    want = Claim(KEY, window, now, step=step, replace=replace)
    new, answer = _apply(state, want, now, holder="b", lease=lease)
    if ahead <= 0:
        assert (answer.status, new) == (TAKEN, state)
    elif not replace:
        assert (answer.status, new) == (HELD, state)
    else:
        assert (answer.status, answer.window, answer.token) == (
            WON,
            window,
            old.token + 1,
        )
        # Windows between that started before the old claim were owed to
        # it (a late claim): passed over, recorded lost.
        owed = missed_before(state, want)
        assert (new.holder, new.window, new.attempt) == ("b", window, 1)
        assert new.lost == answer.lost == owed
        assert answer.lost_window is None  # replaced, not lost
        assert renew(new, old.token, now, lease) is None
        assert finish(new, old.token, SUCCEEDED, now) == (None, False)
        assert renew(new, answer.token, now, lease) is not None
        assert finish(new, answer.token, CANCELLED, now)[1]


def test_a_takeover_still_waits_for_its_fire_instant() -> None:
    """replace takes a lease over only once the window is claimable."""
    state, _ = _apply(WindowState(), Claim(KEY, T0, T0), T0, holder="a")
    later = T0 + MINUTE
    want = Claim(KEY, later, later, replace=True)
    new, answer = claim(state, want, later - EARLY_US - 1, LEASE, "b")
    assert (new, answer.status) == (None, EARLY)


# --- counting windows -----------------------------------------------------------


@given(
    window=st.integers(-(10**4), 10**4),
    step=st.integers(1, 50),
    low=st.integers(-2_000, 200),
    high=st.integers(-2_000, 200),
)
def test_windows_counts_like_brute_force(
    window: int, step: int, low: int, high: int
) -> None:
    """_windows counts the grid starts window - k * step, k >= 1, in [low, high)."""
    want = Claim(KEY, window, window, step=step)
    low, high = window + low, window + high
    brute = sum(1 for k in range(1, 2_002) if low <= window - k * step < high)
    assert _windows(want, low, high) == brute


optional = st.none() | st.integers(-500, 500)


@given(
    last=optional,
    claimed=optional,
    ended=optional,
    lease_until=optional,
    resumed=optional,
    step=st.integers(1, 40),
    window=st.integers(-300, 600),
)
def test_missed_before_counts_like_brute_force(  # noqa: PLR0917
    last: int | None,
    claimed: int | None,
    ended: int | None,
    lease_until: int | None,
    resumed: int | None,
    step: int,
    window: int,
) -> None:
    """Missed: after the last window, from the resume on, and not while busy.

    Busy is from the last claim to its outcome, or to its lease's end when
    none came, widened by half an interval and 1 s (a window may be claimed
    that long before its start); a schedule never claimed has missed nothing.
    """
    state = WindowState(
        window=last,
        claimed=claimed,
        ended=ended,
        lease_until=lease_until,
        resumed=resumed,
    )
    want = Claim(KEY, window, window, step=step)
    busy_to = ended if ended is not None else lease_until
    starts = [window - k * step for k in range(1, 1_200)]
    brute = (
        0
        if last is None
        else sum(
            1
            for w in starts
            if w > last
            and (resumed is None or w >= resumed)
            and not (
                claimed is not None
                and busy_to is not None
                and claimed <= w <= busy_to + step // 2 + EARLY_US
            )
        )
    )
    assert missed_before(state, want) == brute
    assert missed_before(state, attrs.evolve(want, step=0)) == 0


# --- the 10:00:30-10:05:10 outage, windows every 60 s -------------------------


def _before_outage() -> WindowState:
    """10:00 ran from 10:00:00 to 10:00:20; the store went away at 10:00:30."""
    state, won = _apply(WindowState(), Claim(KEY, T0, T0, step=MINUTE), T0, holder="a")
    return _finish(state, won.token, T0 + 20 * S)


BACK = T0 + 5 * MINUTE + 10 * S
"""10:05:10: the replica claims 10:05, late by 10 s."""


def _at_10_05(catch_up: CatchUp, limit: int = 10) -> Claim:
    return Claim(
        KEY,
        T0 + 5 * MINUTE,
        T0 + 5 * MINUTE,
        step=MINUTE,
        late=True,
        catch_up=catch_up,
        limit=limit,
    )


def test_outage_latest_runs_10_05_once_and_reports_five_missed() -> None:
    """latest: 10:01-10:04 and the late 10:05 were missed; 10:05 runs, once."""
    state, answers, _ = _catch_up(_before_outage(), _at_10_05("latest"), BACK, S)
    assert [(a.status, a.window, a.token) for a in answers] == [
        (WON, T0 + 5 * MINUTE, 2)
    ]
    assert (answers[0].missed, answers[0].lost, answers[0].catching_up) == (5, 0, True)
    assert (state.window, state.lost, state.claimed) == (T0 + 5 * MINUTE, 0, BACK)


def test_outage_skip_runs_nothing_and_moves_past_10_05() -> None:
    """skip: 10:05 answers missed, no token; 10:06 then runs with nothing missed."""
    state, answers, _ = _catch_up(_before_outage(), _at_10_05("skip"), BACK, S)
    assert [(a.status, a.window, a.token, a.missed) for a in answers] == [
        (MISSED, T0 + 5 * MINUTE, 1, 5)
    ]
    assert (state.window, state.token, state.outcome) == (T0 + 5 * MINUTE, 1, SUCCEEDED)
    six = Claim(KEY, T0 + 6 * MINUTE, T0 + 6 * MINUTE, step=MINUTE, catch_up="skip")
    _, answer = _apply(state, six, six.fire)
    assert (answer.status, answer.token, answer.missed) == (WON, 2, 0)


def test_outage_all_runs_10_01_to_10_05_in_order() -> None:
    """all: 10:01, 10:02, 10:03, 10:04 then 10:05, one claim each, tokens 2-6."""
    state, answers, now = _catch_up(_before_outage(), _at_10_05("all"), BACK, S)
    assert [(a.status, a.window, a.token) for a in answers] == [
        (WON, T0 + m * MINUTE, m + 1) for m in range(1, 6)
    ]
    assert [a.missed for a in answers] == [5, 4, 3, 2, 1]
    assert [a.lost for a in answers] == [0] * 5
    assert all(a.catching_up for a in answers)
    assert (state.window, state.lost, state.ended) == (T0 + 5 * MINUTE, 0, now)


def test_outage_all_with_limit_3_runs_10_03_to_10_05_and_loses_two() -> None:
    """all, limit 3: 10:01 and 10:02 are recorded lost, once; 10:03-10:05 run."""
    state, answers, _ = _catch_up(_before_outage(), _at_10_05("all", 3), BACK, S)
    assert [(a.window, a.lost) for a in answers] == [
        (T0 + 3 * MINUTE, 2),
        (T0 + 4 * MINUTE, 0),
        (T0 + 5 * MINUTE, 0),
    ]
    assert answers[0].missed == 5
    assert state.lost == 2


def test_outage_on_time_claim_runs_the_wanted_window_as_no_catch_up() -> None:
    """Back at 10:05:00 exactly: four windows were missed, 10:05 itself is on time."""
    want = attrs.evolve(_at_10_05("skip"), late=False)
    _, answer = _apply(_before_outage(), want, want.fire)
    assert (answer.status, answer.missed, answer.catching_up) == (WON, 4, False)
    _, answer = _apply(
        _before_outage(), attrs.evolve(want, catch_up="all", limit=1), want.fire
    )
    assert (answer.window, answer.missed, answer.lost) == (T0 + 4 * MINUTE, 4, 3)


def test_an_abandoned_run_is_busy_until_its_lease_ends() -> None:
    """10:00's holder died, its lease ending 10:02:20: 10:03 to 10:05 were missed.

    Busy to 10:02:51 (half an interval and 1 s after the lease), so 10:03 is
    not held by it.
    """
    state, _ = _apply(
        WindowState(), Claim(KEY, T0, T0, step=MINUTE), T0, holder="a", lease=140 * S
    )
    state, answer = _apply(state, _at_10_05("latest"), BACK)
    assert (answer.status, answer.lost_window, answer.missed) == (WON, T0, 3)
    assert state.lost == 1


def test_skip_ends_an_abandoned_window_as_lost() -> None:
    """skip past a late window records the abandoned last one cancelled and lost."""
    state, _ = _apply(
        WindowState(), Claim(KEY, T0, T0, step=MINUTE), T0, holder="a", lease=S
    )
    new, answer = claim(state, _at_10_05("skip"), BACK, LEASE, "b")
    assert new is not None
    assert (answer.status, answer.lost_window, answer.missed) == (MISSED, T0, 5)
    assert (new.window, new.outcome, new.lease_until, new.lost) == (
        T0 + 5 * MINUTE,
        CANCELLED,
        None,
        1,
    )


@pytest.mark.parametrize("catch_up", POLICIES)
def test_a_schedule_never_claimed_has_missed_nothing(catch_up: CatchUp) -> None:
    """No history, no catch-up: fresh runs the window; not fresh answers missed."""
    want = attrs.evolve(_at_10_05(catch_up), fresh=False)
    new, answer = claim(WindowState(), want, BACK, LEASE, "a")
    assert (new, answer.status, answer.missed, answer.window) == (None, MISSED, 0, None)
    _, answer = _apply(WindowState(), attrs.evolve(want, fresh=True), BACK)
    assert (answer.status, answer.window, answer.missed) == (WON, want.window, 0)


# --- the rest of the rules, once each -------------------------------------------


def test_gone_early_taken_and_redo() -> None:
    """No state: gone; before fire - 1 s: early; at or below: taken; redo: attempt 2."""
    want = Claim(KEY, T0, T0)
    assert claim(None, want, T0, LEASE, "a")[1].status == GONE
    assert claim(WindowState(), want, T0 - EARLY_US - 1, LEASE, "a")[1].status == EARLY
    state, won = _apply(WindowState(), want, T0 - EARLY_US, lease=S)
    assert won.status == WON
    done = _finish(state, won.token, T0 + 1)
    assert claim(done, want, T0 + 2, LEASE, "a")[1].status == TAKEN
    redo = attrs.evolve(want, redo_from=T0)
    state, again = _apply(state, redo, T0 + 2 * S)  # the lease lapsed: redone
    assert (again.status, again.window, again.attempt, again.token) == (WON, T0, 2, 2)


def test_batches_apply_in_order_and_report_what_changed() -> None:
    """claim_all, renew_all and finish_all update the dict and name the keys changed."""
    states: dict[str, WindowState | None] = {"a": WindowState(), "gone": None}
    claims: Sequence[Claim] = [
        Claim("a", T0, T0),
        Claim("gone", T0, T0),
        Claim("a", T0, T0),
    ]
    answers, changed = claim_all(states, claims, T0, S, "r")
    assert [a.status for a in answers] == [WON, GONE, TAKEN]
    assert changed == {"a"}
    done, changed = renew_all(states, [("a", 1), ("a", 2), ("gone", 1)], T0 + 1, S)
    assert (done, changed) == ([True, False, False], {"a"})
    assert states["a"] is not None
    assert states["a"].lease_until == T0 + 1 + S
    done, changed = finish_all(states, [("a", 1, FAILED), ("a", 1, FAILED)], T0 + 2)
    assert (done, changed) == ([True, True], {"a"})
    assert states["a"].ended == T0 + 2
    assert finish(states["a"], 1, SUCCEEDED, T0 + 3) == (None, False)
    assert finish(None, 1, SUCCEEDED, T0) == (None, False)
    assert micros(1.5) == 1_500_000


@settings(max_examples=50)
@given(overruns(early=True))
def test_on_time_claims_are_won_or_held_whatever_the_jitter(o: Overruns) -> None:
    """Whatever the offsets, each on-time claim is won or held, never taken or early."""
    answers = _play_overruns(o)
    assert {a.status for a in answers} <= {WON, HELD}


# --- found by the torture run with overlap="replace" and catch_up="all" --------


def test_a_replaced_window_is_never_run_again_at_least_once() -> None:
    """A run cut by the next window is recorded replaced; redo skips it."""
    step = MINUTE
    state, won = _apply(WindowState(), Claim(KEY, T0, T0, step=step), T0)
    ended, recorded = finish(state, won.token, REPLACED, T0 + step)
    assert recorded
    assert ended is not None
    want = Claim(KEY, T0 + step, T0 + step, redo_from=ANY_WINDOW, step=step)
    _, answer = _apply(ended, want, T0 + step)
    assert (answer.status, answer.window, answer.attempt) == (WON, T0 + step, 1)


def test_catch_up_all_after_a_hung_catch_up_run_runs_the_last_limit_windows() -> None:
    """Owed windows below a hung run's span run; the oldest are lost, none dropped.

    Window 0 was caught up late (claimed at 20 s) and hung until its lease
    ended at 24 s; windows every 2 s. Claimed again at 32 s for window 30 s
    (late) with limit 10: windows 2-18 and 28 were missed (20-26 were held), so the
    last nine before 30 (12 ... 28) run, then 30; 2 ... 10 are recorded lost.
    """
    step = 2 * S
    state = WindowState(
        window=T0, token=1, claimed=T0 + 20 * S, lease_until=T0 + 24 * S, holder="a"
    )
    want = Claim(
        KEY, T0 + 30 * S, T0 + 30 * S, step=step, late=True, catch_up="all", limit=10
    )
    final, answers, _ = _catch_up(state, want, T0 + 32 * S, 1)
    runs = [a.window for a in answers if a.won]
    assert runs == [T0 + k * S for k in range(12, 31, 2)]
    assert (answers[0].missed, answers[0].lost, answers[0].lost_window) == (11, 5, T0)
    assert [a.lost for a in answers[1:]] == [0] * (len(answers) - 1)
    assert final.lost == 1 + 5  # the abandoned window 0, and 2 ... 10


def test_a_replace_takeover_during_a_catch_up_records_the_owed_windows_lost() -> None:
    """Taking over a caught-up run's lease passes its owed windows over, told.

    Window 0 (every second) was caught up at 10 s; its run still holds the
    lease at 11.5 s when a replace claim for window 11 takes it over: windows
    1 ... 9 were owed, never run, so they are recorded lost and reported.
    """
    step = S
    state, _ = _apply(WindowState(), Claim(KEY, T0, T0, step=step), T0 + 10 * S)
    want = Claim(KEY, T0 + 11 * S, T0 + 11 * S, step=step, replace=True)
    new, answer = _apply(state, want, T0 + 11 * S + S // 2)
    assert (answer.status, answer.window, answer.token) == (WON, T0 + 11 * S, 2)
    assert (answer.missed, answer.lost) == (9, 9)
    assert new.lost == 9


def test_windows_held_by_an_abandoned_run_stay_held_when_it_runs_again() -> None:
    """At least once: the run again holds the window since its first claim.

    Window 0 (every second) was claimed at 0 and abandoned, its lease ending
    at 4 s; run again (attempt 2) at 5 s, ending at 5.1 s. Windows 1 ... 5
    were held by that window, so the claim of window 7 at 7 s misses none.
    """
    step = S
    state, _ = _apply(WindowState(), Claim(KEY, T0, T0, step=step), T0, lease=4 * S)
    again = Claim(KEY, T0 + 5 * S, T0 + 5 * S, redo_from=ANY_WINDOW, step=step)
    state, redo = _apply(state, again, T0 + 5 * S)
    assert (redo.window, redo.attempt, state.claimed) == (T0, 2, T0)
    state = _finish(state, redo.token, T0 + 5 * S + S // 10)
    want = Claim(KEY, T0 + 7 * S, T0 + 7 * S, step=step, catch_up="all")
    _, answer = _apply(state, want, T0 + 7 * S)
    assert (answer.status, answer.window, answer.missed) == (WON, T0 + 7 * S, 0)


def test_a_stale_replace_claim_takes_no_caught_up_run_over() -> None:
    """A replace claim answered an interval past its fire cuts no run: held.

    Window 0 (every second) is being caught up at 10 s; a claim for window 9
    that waited in the store until 11.5 s must not fence it nor pass its owed
    windows over.
    """
    step = S
    state, _ = _apply(WindowState(), Claim(KEY, T0, T0, step=step), T0 + 10 * S)
    want = Claim(KEY, T0 + 9 * S, T0 + 9 * S, step=step, replace=True)
    new, answer = claim(state, want, T0 + 11 * S + S // 2, LEASE, "b")
    assert (new, answer.status, answer.token) == (None, HELD, 1)


def test_catch_up_all_under_its_limit_loses_nothing_past_a_held_span() -> None:
    """With room in the limit, every missed window runs, held ones on the way."""
    step = 2 * S
    state = WindowState(
        window=T0, token=1, claimed=T0 + 20 * S, lease_until=T0 + 24 * S, holder="a"
    )
    want = Claim(
        KEY, T0 + 30 * S, T0 + 30 * S, step=step, late=True, catch_up="all", limit=20
    )
    _, answers, _ = _catch_up(state, want, T0 + 32 * S, 1)
    assert [a.window for a in answers if a.won] == [T0 + k * S for k in range(2, 31, 2)]
    assert sum(a.lost for a in answers) == 0


def test_a_first_sweep_late_window_is_no_catch_up_without_a_gap() -> None:
    """Not sure (a sweeper's first sweep): late counts only after missed windows."""
    step = MINUTE
    state, won = _apply(WindowState(), Claim(KEY, T0, T0, step=step), T0)
    state = _finish(state, won.token, T0 + S)
    want = Claim(KEY, T0 + step, T0 + step, step=step, late=True, sure=False)
    for catch_up in POLICIES:
        _, answer = _apply(state, attrs.evolve(want, catch_up=catch_up), T0 + step)
        assert (answer.status, answer.missed, answer.catching_up) == (WON, 0, False)


# --- calendar grids ----------------------------------------------------------

EVEN_CRONS = {1: "* * * * *", 5: "*/5 * * * *", 15: "*/15 * * * *", 60: "0 * * * *"}
"""Cron expressions whose windows are evenly spaced (minutes apart), in UTC."""
stamps = st.none() | st.integers(-90, 90).map(lambda m: T0 + m * MINUTE // 2)


@settings(deadline=None)
@given(
    minutes=st.sampled_from(sorted(EVEN_CRONS)),
    last=st.none() | st.integers(-40, 40),
    claimed=stamps,
    ended=stamps,
    lease_until=stamps,
    resumed=stamps,
    outcome=st.sampled_from([None, SUCCEEDED, CANCELLED]),
    ahead=st.integers(1, 40),
    late=st.booleans(),
    catch_up=st.sampled_from(POLICIES),
    limit=st.integers(1, 12),
    replace=st.booleans(),
)
def test_an_evenly_spaced_calendar_claims_as_the_interval_grid(  # noqa: PLR0917
    minutes: int,
    last: int | None,
    claimed: int | None,
    ended: int | None,
    lease_until: int | None,
    resumed: int | None,
    outcome: str | None,
    ahead: int,
    late: bool,  # noqa: FBT001 - drawn by Hypothesis
    catch_up: CatchUp,
    limit: int,
    replace: bool,  # noqa: FBT001 - drawn by Hypothesis
) -> None:
    """The calendar rules (walking a CronSchedule) agree with ``window + k * step``.

    Any state, any claim: "*/5 * * * *" answers as a 300 s grid does, catch-up
    (which windows run, which are lost) included.
    """
    from tickwork._cron import CalendarGrid, CronSchedule  # noqa: PLC0415

    step = minutes * MINUTE
    grid = CalendarGrid(CronSchedule(EVEN_CRONS[minutes]))
    state = WindowState(
        anchor=T0,
        window=None if last is None else T0 + last * step,
        token=0 if last is None else 3,
        lease_until=lease_until,
        outcome=outcome,
        attempt=0 if last is None else 1,
        claimed=claimed,
        ended=ended,
        resumed=resumed,
    )
    base = 0 if last is None else last
    window = T0 + (base + ahead) * step
    even = Claim(
        KEY,
        window,
        window,
        step=step,
        late=late,
        catch_up=catch_up,
        limit=limit,
        spread=0,
        replace=replace,
    )
    calendar = attrs.evolve(even, calendar=grid)
    now = window + 2 * S
    assert claim(state, calendar, now, LEASE, "b") == claim(
        state, even, now, LEASE, "b"
    )


def test_a_weekday_calendar_owes_only_its_own_windows_after_a_weekend() -> None:
    """Weekdays at 09:00: down from Friday to Tuesday 09:00:05, catch_up=all.

    Monday 09:00 and Tuesday 09:00 were missed (no weekend windows): Monday
    runs first, then Tuesday, each once; with limit 1 Monday is lost.
    """
    from tickwork._cron import CalendarGrid, CronSchedule  # noqa: PLC0415

    grid = CalendarGrid(CronSchedule("0 9 * * 1-5"))
    friday = int(datetime(2026, 3, 27, 9, tzinfo=timezone.utc).timestamp()) * S
    monday, tuesday = friday + 3 * 86400 * S, friday + 4 * 86400 * S
    state, won = _apply(WindowState(), Claim(KEY, friday, friday), friday)
    state = _finish(state, won.token, friday + 60 * S)
    now = tuesday + 5 * S
    want = Claim(
        KEY,
        tuesday,
        tuesday,
        step=grid.step(tuesday),
        late=True,
        catch_up="all",
        spread=0,
        calendar=grid,
    )
    _, answers, _ = _catch_up(state, want, now, S)
    assert [(a.window, a.missed, a.catching_up) for a in answers] == [
        (monday, 2, True),
        (tuesday, 1, True),
    ]
    _, limited, _ = _catch_up(state, attrs.evolve(want, limit=1), now, S)
    assert [(a.window, a.lost) for a in limited] == [(tuesday, 1)]


@pytest.mark.parametrize("ran", [S, 30 * MINUTE])
def test_an_outage_longer_than_the_count_cap_stays_consistent(ran: int) -> None:
    """A "* * * * *" calendar down ~139 days (200 000 windows), catch_up=all, 3.

    The count stops at MAX_COUNTED (less the windows the last run, of *ran*,
    held): missed is that plus the late wanted window, the 3 last windows
    run and every other counted one is lost, so missed == lost + run, as
    below the cap.
    """
    from tickwork._cron import CalendarGrid, CronSchedule  # noqa: PLC0415
    from tickwork._lease import MAX_COUNTED  # noqa: PLC0415

    grid = CalendarGrid(CronSchedule("* * * * *"))
    state, won = _apply(WindowState(), Claim(KEY, T0, T0), T0)
    state = _finish(state, won.token, T0 + ran)
    back = T0 + 200_000 * MINUTE
    want = Claim(
        KEY,
        back,
        back,
        step=MINUTE,
        late=True,
        catch_up="all",
        limit=3,
        spread=0,
        calendar=grid,
    )
    state, answers, _ = _catch_up(state, want, back + 5 * S, S)
    assert [a.window for a in answers] == [back - 2 * MINUTE, back - MINUTE, back]
    first = answers[0]
    assert first.missed == first.lost + 3
    assert MAX_COUNTED - 40 < first.lost <= MAX_COUNTED - 2
    assert [a.lost for a in answers[1:]] == [0, 0]
    assert state.lost == first.lost
