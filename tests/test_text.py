"""Values in messages are cut to 200 characters, and a broken repr breaks nothing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tickwork._text import LIMIT, brief, cut


@given(st.text(), st.integers(min_value=1, max_value=400))
def test_cut_keeps_short_text_and_marks_a_cut(text: str, limit: int) -> None:
    """cut() is the text itself when short, else a prefix and "…" of the limit."""
    result = cut(text, limit)
    if len(text) <= limit:
        assert result == text
    else:
        assert len(result) == limit
        assert result == text[: limit - 1] + "…"


@given(st.from_type(object) | st.text() | st.binary())
def test_brief_is_a_cut_repr(value: object) -> None:
    """brief() is repr() cut to LIMIT characters."""
    assert brief(value) == cut(repr(value))
    assert len(brief(value)) <= LIMIT


def test_a_broken_repr_is_shown_as_its_type() -> None:
    """An object whose repr raises is named by its type, not an error."""

    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError

    assert brief(Broken()) == "<Broken object with a broken repr>"
