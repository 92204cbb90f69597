"""Shared fixtures: every test starts with tickwork's process-wide defaults."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import tickwork

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(autouse=True)
def _reset_default_max_wait() -> Iterator[None]:
    """Undo any `set_default_max_wait` a test left behind."""
    yield
    tickwork.set_default_max_wait(None)
