"""Checks on raw input shared by the doors that take it from outside (API, YAML sync)."""

from __future__ import annotations

from typing import Any


def contains_nul(value: Any) -> bool:
    """Whether a string, or any key or value nested in ``value``, holds a NUL character.

    PostgreSQL's text and jsonb cannot store one: a query with it fails in the driver, so input
    is refused with a field error before it gets that far.
    """
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(key) or contains_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(contains_nul(item) for item in value)
    return False


#: Years a schedule's dates (``run_at``, ``start_at``, ``end_at``) may name. Near year 1 or 9999
#: a time zone's offset overflows Python's datetime range; the time core stops at year 9000.
MIN_YEAR = 1900
MAX_YEAR = 9000


def year_problem(year: int) -> str | None:
    """None when ``year`` is one a schedule may name, else what is wrong."""
    if MIN_YEAR <= year <= MAX_YEAR:
        return None
    return f"the year must be between {MIN_YEAR} and {MAX_YEAR}"
