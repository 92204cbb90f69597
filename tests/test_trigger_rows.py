"""Rows: a listing kept as the tuples read, each TriggerRow built on access."""

from __future__ import annotations

import attrs
from hypothesis import given
from hypothesis import strategies as st

from tickwork.triggers import TriggerRow
from tickwork.triggers._rows import FIELDS, Rows, values_of

texts = st.text(max_size=8)
numbers = st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1)
rows = st.builds(
    TriggerRow,
    id=texts,
    name=texts,
    interval=texts,
    enabled=st.booleans(),
    last_fired_at=st.none() | texts,
    anchor_us=numbers,
    window_us=numbers,
    token=st.integers(min_value=0, max_value=2**62),
    holder=st.none() | texts,
    lease_until_us=numbers,
    outcome=st.none() | texts,
    attempt=st.integers(min_value=0, max_value=9),
    lost=st.integers(min_value=0, max_value=9),
    cron=st.none() | texts,
    timezone=st.none() | texts,
)


def test_fields_are_the_rows_fields_in_order() -> None:
    """FIELDS names TriggerRow's fields in the order its constructor takes them."""
    names = tuple(field.name for field in attrs.fields(TriggerRow))
    # The last three are read with the window state, not listed.
    assert names == (*FIELDS, "claimed_us", "ended_us", "resumed_us")


@given(st.lists(rows, max_size=5))
def test_values_round_trip_through_rows(listing: list[TriggerRow]) -> None:
    """Rows over the values of any rows reads back equal rows, however accessed."""
    values = values_of(listing)
    kept = Rows(list(values))
    assert values_of(kept) is kept.values  # the decider reads them as they are
    assert len(kept) == len(listing)
    assert list(kept) == listing
    assert [kept[i] for i in range(len(kept))] == listing
    assert kept == listing
    assert listing == kept
    assert kept == tuple(listing)
    assert kept[1:] == listing[1:]
    assert isinstance(kept[1:], Rows)


def test_a_row_is_built_on_each_access_by_the_store_s_function() -> None:
    """Nothing is built until asked for; make decodes what the store stored raw."""
    made: list[tuple[object, ...]] = []

    def make(values: tuple[object, ...]) -> TriggerRow:
        made.append(values)
        return TriggerRow(*values[:3], values[3] == 1, *values[4:])  # type: ignore[arg-type, call-arg]

    stored = ("t1", "refresh", "15m", 1, None, 0, None, 0, None, None, None, 0, 0)
    kept = Rows([stored], make)
    assert made == []
    assert kept[0].enabled is True
    assert kept[-1] == kept[0]
    assert made == [stored, stored, stored]
    assert "refresh" in repr(kept)


def test_rows_are_not_equal_to_other_things_and_not_hashable() -> None:
    """Equality is with sequences of rows only; like a list, Rows is unhashable."""
    kept = Rows([])
    assert kept == []
    assert kept != "abc"
    assert kept != {}
    assert Rows.__hash__ is None
