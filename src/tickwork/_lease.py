"""Windows, leases and fencing tokens: the rules every store applies.

A coordinated schedule (a persisted trigger, a coordinated loop) keeps one
`WindowState` in its store. A replica that wants to run window *k* sends a
`Claim`; the store, inside one transaction and on its own clock, applies
`claim` and answers with a `Claimed`. While the run is in flight its replica
renews the lease (`renew`); at the end it records the outcome against its
token (`finish`). A store only locks, reads, applies these functions and
writes: the rules live here once, pure, and every store (memory, SQLite,
PostgreSQL) agrees on them.

Times are integers: microseconds since the Unix epoch, on the store's clock.
A window is named by its nominal start. The token grows by one with every
claim of a schedule, so a holder whose token is no longer the row's has been
fenced off: its renewals and its outcome are refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal, Protocol, final

import attrs

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
TIMED_OUT: Final = "timed_out"
CANCELLED: Final = "cancelled"
REPLACED: Final = "replaced"
OUTCOMES: Final = frozenset({SUCCEEDED, FAILED, TIMED_OUT, CANCELLED, REPLACED})
"""What `finish` records; a cut run (shutdown, a lost lease) is ``cancelled``;
one cut by the next window (``overlap="replace"``) is ``replaced``, and is
never run again, even at least once: the window that cut it ran instead."""

EARLY_US: Final = 1_000_000
"""A window is claimable once the store's clock reaches its fire instant
minus this (one second): a replica whose clock runs ahead cannot fire early."""

Status = Literal["won", "taken", "held", "early", "gone", "paused", "missed"]
WON: Final = "won"
"""The caller holds the window: run it under the token."""
TAKEN: Final = "taken"
"""Another replica claimed this window (or a later one) first."""
HELD: Final = "held"
"""A run of an earlier window still holds a valid lease: this window is
skipped, as an overrun skips ticks in one process."""
EARLY: Final = "early"
"""The store's clock has not reached the fire instant minus `EARLY_US`."""
GONE: Final = "gone"
"""No such schedule (a trigger removed since it was listed)."""
PAUSED: Final = "paused"
"""The schedule is paused (stored): its windows are not run."""
MISSED: Final = "missed"
"""The window passed while no replica could run it, and the catch-up policy
says not to run it (``"skip"``; or a schedule's first window, with no
history, when it does not run on start). Nothing is claimed."""

CatchUp = Literal["latest", "skip", "all"]

MAX_COUNTED: Final = 100_000
"""The most windows of a calendar grid one claim walks through to count the
missed ones: a longer outage counts this many (about a second of work, once)."""


class Calendar(Protocol):
    """A grid whose windows are not evenly spaced (a `CronSchedule`'s)."""

    def starts(self, low: int) -> Iterator[int]:
        """The window starts at or after *low* (µs), increasing."""
        ...

    def before(self, high: int, n: int) -> list[int]:
        """The last *n* window starts before *high* (µs), oldest first."""
        ...

    def count(self, low: int, high: int) -> int:
        """How many window starts lie in ``[low, high)``, at most `MAX_COUNTED`."""
        ...


@final
@attrs.frozen
class WindowState:
    """What a store keeps for one schedule; times in microseconds, store clock."""

    anchor: int | None = None
    """Start of window 0 (triggers); None until set (loops use their own)."""
    window: int | None = None
    """Start of the last window claimed; only grows. None if never claimed."""
    token: int = 0
    """Fencing token of the last claim; 0 if never claimed."""
    holder: str | None = None
    """Who made the last claim (a replica's name)."""
    lease_until: int | None = None
    """When the last claim's lease ends; None once its outcome is recorded."""
    outcome: str | None = None
    """How the last claimed window ended (see `OUTCOMES`); None while it is
    in flight, or if its holder vanished."""
    attempt: int = 0
    """Which attempt at `window` the last claim is (at least once re-runs)."""
    lost: int = 0
    """Windows claimed whose outcome never came (their holder died), and
    missed windows beyond a catch-up limit."""
    claimed: int | None = None
    """When the last window was claimed."""
    ended: int | None = None
    """When the last claimed window's outcome was recorded. Windows that
    started from `claimed` to then were skipped by an overrun, not missed."""
    paused: bool = False
    """Paused: no window is claimed (not among `columns`: claims never
    change it)."""
    resumed: int | None = None
    """When the schedule was last resumed: windows before it were paused,
    not missed (not among `columns`)."""

    def columns(self) -> tuple[object, ...]:
        """The fields in the stores' column order, anchor first: one row to write."""
        return (
            self.anchor,
            self.window,
            self.token,
            self.holder,
            self.lease_until,
            self.outcome,
            self.attempt,
            self.lost,
            self.claimed,
            self.ended,
        )

    @property
    def running(self) -> bool:
        """Claimed, with no outcome yet: in flight, or abandoned."""
        return self.token > 0 and self.outcome is None


@final
@attrs.frozen
class Claim:
    """A replica's request to run one window of one schedule."""

    key: str
    """The schedule: a trigger's id, or a coordinated loop's name."""
    window: int
    """The window's nominal start."""
    fire: int
    """The window's fire instant; claimable from ``fire - EARLY_US`` on."""
    redo_from: int | None = None
    """At least once: a window that starts at or after this and was left
    without an outcome (or cancelled) is claimed again, attempt + 1, before
    *window*. None for at most once."""
    anchor: int | None = None
    """Set as the schedule's anchor if it has none yet."""
    step: int = 0
    """The grid's interval (a calendar's: from *window* to the next start):
    with it, windows of the grid that passed since the last claimed one are
    missed windows, for *catch_up*. 0: no catch-up rules (windows never
    missed)."""
    calendar: Calendar | None = attrs.field(default=None, eq=False)
    """The grid's windows when they are not ``window + k * step`` (a cron
    schedule's); None for an evenly spaced grid."""
    late: bool = False
    """The replica asks after *window*'s fire instant passed unclaimed: it
    is a missed window itself."""
    catch_up: CatchUp = "latest"
    """What runs of the missed windows: the latest one (*window*), none, or
    all (oldest first, at most *limit*; older ones are recorded lost)."""
    limit: int = 10
    """``catch_up="all"``: the most missed windows run."""
    fresh: bool = True
    """A schedule never claimed may run *window* (run on start); else it
    answers `MISSED`, claiming nothing, and the replica waits for the next
    window."""
    sure: bool = True
    """The replica was up before *window* fired, so *late* means missed.
    False (a sweeper's first sweep): late counts only when the schedule
    missed windows before it."""
    spread: int = -1
    """How far a fire instant may fall from its window's start (µs); -1:
    unknown, half the interval."""
    replace: bool = False
    """``overlap="replace"``: a run of an earlier window that still holds
    its lease is taken over (its token is superseded, so its holder is
    fenced at its next renewal) instead of blocking this window."""


@final
@attrs.frozen
class Claimed:
    """A store's answer to one `Claim`."""

    key: str
    status: Status
    window: int | None
    """The window won (*Claim.window*, or an earlier one re-run); otherwise
    the schedule's last claimed window."""
    token: int
    attempt: int
    lease_until: int | None
    now: int
    """The store's clock when it decided."""
    lost_window: int | None = None
    """A window this claim found abandoned and recorded as lost, if any."""
    missed: int = 0
    """Windows that passed while no replica ran them, found by this claim
    (the claimed window among them when it is late): a catch-up. Of those,
    *lost* were recorded lost; with ``"all"`` the rest run one by one."""
    lost: int = 0
    """Missed windows beyond the catch-up limit, recorded lost."""
    catching_up: bool = False
    """The window won was missed while no replica ran it."""

    @property
    def won(self) -> bool:
        """Whether the caller holds the window."""
        return self.status == WON


def claim(  # noqa: PLR0911 - one answer per rule, in order
    state: WindowState | None, want: Claim, now: int, lease: int, holder: str
) -> tuple[WindowState | None, Claimed]:
    """Apply *want* to *state* at *now*: the new state (None: unchanged), the answer.

    In order: no schedule → gone; paused → paused; a valid lease on the
    last window → taken (the same window or later) or held (an earlier
    one; with *replace*, won over it); at least once, an abandoned or
    cancelled window in range → won again, attempt + 1; the window or a
    later one already claimed → taken; a window that started before the
    last resume → paused (passed over, the state moves past it); before
    ``fire - 1 s`` → early; missed windows → the catch-up policy
    (`catch_up`); otherwise won, with a fresh lease and token (attempt 1).
    Winning past a window that never got its outcome records it as lost.
    """
    if state is None:
        return None, Claimed(want.key, GONE, None, 0, 0, None, now)
    if state.paused:
        return None, _answer(want.key, PAUSED, state, now)
    running = state.running
    last = state.window
    if running and state.lease_until is not None and state.lease_until > now:
        return _leased(state, want, now, lease, holder)
    redo_from = want.redo_from
    if (
        redo_from is not None
        and last is not None
        and state.token > 0
        and redo_from <= last <= want.window
        and (running or state.outcome == CANCELLED)
    ):
        return _won(state, want, now, lease, holder, last, state.attempt + 1, None)
    if last is not None and last >= want.window:
        return None, _answer(want.key, TAKEN, state, now)
    if state.resumed is not None and want.window < state.resumed:
        # It started while the schedule was paused: passed over, not run
        # (an abandoned run before it ends, as lost).
        new = attrs.evolve(state, window=want.window)
        if running:
            new = attrs.evolve(
                new, outcome=CANCELLED, lease_until=None, lost=state.lost + 1
            )
        return new, attrs.evolve(
            _answer(want.key, PAUSED, new, now), lost_window=last if running else None
        )
    if now < want.fire - EARLY_US:
        return None, _answer(want.key, EARLY, state, now)
    abandoned = running or (
        redo_from is not None and state.token > 0 and state.outcome == CANCELLED
    )
    lost_window = last if abandoned else None
    if want.step > 0:
        return catch_up(state, want, now, lease, holder, lost_window)
    return _won(state, want, now, lease, holder, want.window, 1, lost_window)


def _leased(
    state: WindowState, want: Claim, now: int, lease: int, holder: str
) -> tuple[WindowState | None, Claimed]:
    """*want* while a run of the last window holds a valid lease."""
    last = state.window
    if last is not None and last >= want.window:
        return None, _answer(want.key, TAKEN, state, now)
    if not want.replace:
        return None, _answer(want.key, HELD, state, now)
    if now < want.fire - EARLY_US:
        return None, _answer(want.key, EARLY, state, now)
    if want.step > 0 and now >= want.fire + want.step:
        # The claim waited in the store an interval past its fire instant:
        # its window is over, so it cuts no run (a caught-up run keeps the
        # windows it owes); held, like any claim without replace.
        return None, _answer(want.key, HELD, state, now)
    # Taken over: the holder's token is superseded, so it is fenced; its
    # window ends replaced, not lost. Windows still owed to a catch-up the
    # run was part of are passed over: recorded lost, and told.
    new, answer = _won(state, want, now, lease, holder, want.window, 1, None)
    lost = missed_before(state, want)
    if not lost:
        return new, answer
    return attrs.evolve(new, lost=new.lost + lost), attrs.evolve(
        answer, missed=lost, lost=lost
    )


def missed_before(state: WindowState, want: Claim) -> int:
    """How many windows of *want*'s grid passed between the last claim and it.

    Windows that started while the last run was in flight (`_busy`) were
    skipped, and windows before the last resume were paused: neither was
    missed. A schedule never claimed has no history, so nothing was missed.
    """
    return _missed(state, want)[0]


def _missed(state: WindowState, want: Claim) -> tuple[int, bool]:
    """`missed_before`, and whether a calendar's count stopped at `MAX_COUNTED`."""
    last = state.window
    if last is None or want.step <= 0:
        return 0, False
    lower = last + 1
    if state.resumed is not None:
        lower = max(lower, state.resumed)
    count = _windows(want, lower, want.window)
    capped = want.calendar is not None and count >= MAX_COUNTED
    busy = _busy(state, want)
    if busy is not None:
        count -= _windows(want, max(lower, busy[0]), min(busy[1], want.window))
    return count, capped


def _busy(state: WindowState, want: Claim) -> tuple[int, int] | None:
    """The starts of windows that a replica found held by the last run.

    From its claim to its outcome (or to the end of an abandoned run's
    lease), widened at the end by half an interval and `EARLY_US`: a
    window's jitter may put its fire instant up to half an interval before
    its start, and a claim may come 1 s before its fire, so a window
    starting that soon after the run ended may have been claimed, found
    held and skipped while the run still went. None: no run claimed yet.
    """
    end = state.ended if state.ended is not None else state.lease_until
    if state.claimed is None or end is None:
        return None
    spread = want.step // 2 if want.spread < 0 else want.spread
    return state.claimed, end + spread + EARLY_US + 1


def _since_oldest_missed(state: WindowState, want: Claim) -> int:
    """How many grid windows, from the oldest missed one, come before *want*.

    Held windows after it count too (they run on the way); those held by
    the last run before any missed one do not.
    """
    assert state.window is not None  # noqa: S101 - a schedule with history
    low = state.window + 1
    if state.resumed is not None:
        low = max(low, state.resumed)
    busy = _busy(state, want)
    # The grid's first window at or after *low*: when the last run was
    # claimed by then, no window before it was missed.
    if want.calendar is None:
        first = want.window - (want.window - low) // want.step * want.step
    else:
        first = next(want.calendar.starts(low), want.window)
    if busy is not None and busy[0] <= first:
        low = max(low, busy[1])
    if want.calendar is None:
        return max(0, (want.window - low) // want.step)
    return _windows(want, low, want.window)


def _back(want: Claim, owed: int) -> int:
    """The start of the window *owed* windows before *want*'s (or its own)."""
    if owed <= 0:
        return want.window
    if want.calendar is None:
        return want.window - owed * want.step
    last = want.calendar.before(want.window, owed)
    return last[0] if last else want.window


def _windows(want: Claim, low: int, high: int) -> int:
    """How many windows of *want*'s grid start in ``[low, high)``, below it."""
    if high <= low:
        return 0
    if want.calendar is not None:
        return want.calendar.count(low, min(high, want.window))
    # Windows start at want.window - k * step, k >= 1.
    most = (want.window - low) // want.step  # k with start >= low
    fewest = (want.window - high) // want.step + 1  # smallest k with start < high
    return max(0, most - max(fewest, 1) + 1)


def catch_up(  # noqa: PLR0913, PLR0917 - one state transition, spelled out
    state: WindowState,
    want: Claim,
    now: int,
    lease: int,
    holder: str,
    lost_window: int | None,
) -> tuple[WindowState | None, Claimed]:
    """Win *want*'s window, or the oldest missed one owed, or note it missed.

    The missed windows are those of the grid between the last claim and
    *want* (`missed_before`), and *want* itself when it is late. With
    ``"latest"`` *want* runs; with ``"skip"`` a late *want* does not (the
    schedule moves past it, answered `MISSED`); with ``"all"`` the grid's
    windows from the oldest missed one up to *want* run, at most *limit* of
    them (the last ones), oldest first, one claim each, and the missed ones
    older than those are recorded lost. A schedule never claimed runs
    *want* only if *fresh*.
    """
    if state.window is None and not want.fresh:
        return None, _answer(want.key, MISSED, state, now)
    gap, capped = _missed(state, want)
    busy = _busy(state, want)
    late = int(
        want.late
        and state.window is not None
        and not (busy is not None and busy[0] <= want.window < busy[1])
        and (want.sure or gap > 0)
    )
    if gap + late == 0:
        return _won(state, want, now, lease, holder, want.window, 1, lost_window)
    if want.catch_up == "skip" and late:
        new = attrs.evolve(state, window=want.window)
        if lost_window is not None:  # the abandoned window ends, as lost
            new = attrs.evolve(
                new, outcome=CANCELLED, lease_until=None, lost=state.lost + 1
            )
        return new, Claimed(
            want.key,
            MISSED,
            want.window,
            state.token,
            state.attempt,
            state.lease_until,
            now,
            lost_window,
            missed=gap + 1,
        )
    if want.catch_up == "all":
        # The grid's windows from the oldest missed one up to *want* run,
        # the last `limit` of them at most, oldest first: a window held by
        # a run that then died, among them, runs too (it had no run of its
        # own). The missed windows older than them are recorded lost. The
        # next claims of the sequence find fewer than `limit` owed: no loss.
        owed = 0
        if gap:
            # Every missed window is among those counted from the oldest
            # missed one: when the gap alone fills the limit, no walk more.
            most = want.limit - late
            owed = most if gap >= most else min(_since_oldest_missed(state, want), most)
        window = _back(want, owed)
        if capped:
            # A count that reached the cap is a lower bound: the lost are
            # those of it that do not run, so missed = lost + run still holds.
            lost = max(0, gap - owed)
        else:
            lost = missed_before(state, attrs.evolve(want, window=window))
        new, answer = _won(state, want, now, lease, holder, window, 1, lost_window)
        new = attrs.evolve(new, lost=new.lost + lost)
        return new, attrs.evolve(
            answer,
            missed=gap + late,
            lost=lost,
            catching_up=bool(owed) or bool(late),
        )
    new, answer = _won(state, want, now, lease, holder, want.window, 1, lost_window)
    return new, attrs.evolve(answer, missed=gap + late, catching_up=bool(late))


def _won(  # noqa: PLR0913, PLR0917 - one state transition, spelled out
    state: WindowState,
    want: Claim,
    now: int,
    lease: int,
    holder: str,
    window: int,
    attempt: int,
    lost_window: int | None,
) -> tuple[WindowState, Claimed]:
    new = WindowState(
        anchor=state.anchor if state.anchor is not None else want.anchor,
        window=window,
        token=state.token + 1,
        holder=holder,
        lease_until=now + lease,
        outcome=None,
        attempt=attempt,
        lost=state.lost + (lost_window is not None),
        # A run again (at least once) holds the window since its first
        # claim: the windows its first holder's lease held stay held.
        claimed=now if attempt == 1 or state.claimed is None else state.claimed,
        resumed=state.resumed,
    )
    return new, Claimed(
        want.key, WON, window, new.token, attempt, new.lease_until, now, lost_window
    )


def _answer(key: str, status: Status, state: WindowState, now: int) -> Claimed:
    return Claimed(
        key, status, state.window, state.token, state.attempt, state.lease_until, now
    )


def renew(
    state: WindowState | None, token: int, now: int, lease: int
) -> WindowState | None:
    """The state with the lease of *token* extended to ``now + lease``.

    None (refused) if the schedule is gone, another claim took the token
    over, or the window already has its outcome. A lease that lapsed with
    nobody claiming since is renewed: the token proves nobody else ran.
    """
    if state is None or state.token != token or state.outcome is not None:
        return None
    return attrs.evolve(state, lease_until=now + lease)


def finish(
    state: WindowState | None, token: int, outcome: str, now: int
) -> tuple[WindowState | None, bool]:
    """Record *outcome* for *token*: the new state (None: unchanged), and whether.

    The bool says whether the outcome is recorded.

    Refused (fenced) if another claim took the token over. Recording the
    same outcome again is accepted and changes nothing, so a caller whose
    answer was lost may simply retry. *now* is kept as when the window
    ended.
    """
    if state is None or state.token != token:
        return None, False
    if state.outcome is not None:
        return None, state.outcome == outcome
    return attrs.evolve(state, outcome=outcome, lease_until=None, ended=now), True


ANY_WINDOW: Final = -(2**62)
"""`Claim.redo_from` for at least once: re-run an abandoned window however
old it is (a schedule keeps one last window, so this is one run, never a
burst)."""


def claim_all(
    states: dict[str, WindowState | None],
    claims: Sequence[Claim],
    now: int,
    lease: int,
    holder: str,
) -> tuple[list[Claimed], set[str]]:
    """`claim` for each of *claims* in order, updating *states* in place.

    *states* holds the current state of every key claimed (None where the
    schedule does not exist). Returns the answers and the keys whose state
    changed, for the store to write back.
    """
    answers = []
    changed = set()
    for want in claims:
        new, answer = claim(states.get(want.key), want, now, lease, holder)
        if new is not None:
            states[want.key] = new
            changed.add(want.key)
        answers.append(answer)
    return answers, changed


def renew_all(
    states: dict[str, WindowState | None],
    leases: Sequence[tuple[str, int]],
    now: int,
    lease: int,
) -> tuple[list[bool], set[str]]:
    """`renew` for each ``(key, token)`` of *leases*, updating *states* in place."""
    done = []
    changed = set()
    for key, token in leases:
        new = renew(states.get(key), token, now, lease)
        if new is not None:
            states[key] = new
            changed.add(key)
        done.append(new is not None)
    return done, changed


def finish_all(
    states: dict[str, WindowState | None],
    outcomes: Sequence[tuple[str, int, str]],
    now: int,
) -> tuple[list[bool], set[str]]:
    """`finish` for each ``(key, token, outcome)``, updating *states* in place."""
    done = []
    changed = set()
    for key, token, outcome in outcomes:
        new, recorded = finish(states.get(key), token, outcome, now)
        if new is not None:
            states[key] = new
            changed.add(key)
        done.append(recorded)
    return done, changed


def micros(seconds: float) -> int:
    """Seconds as whole microseconds, rounded to nearest."""
    return round(seconds * 1_000_000)
