"""Checks on raw input that every door shares: what the database cannot store, what years a date may name."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any


def _any_text(value: Any, test: Callable[[str], bool]) -> bool:
    """Whether ``test`` holds for a string, or for any key or value nested in ``value``."""
    if isinstance(value, str):
        return test(value)
    if isinstance(value, dict):
        return any(_any_text(key, test) or _any_text(item, test) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_any_text(item, test) for item in value)
    return False


def contains_nul(value: Any) -> bool:
    """Whether a string, or any key or value nested in ``value``, holds a NUL character.

    PostgreSQL's text and jsonb cannot store one: a query with it fails in the driver, so input
    is refused with a field error before it gets that far.
    """
    return _any_text(value, lambda text: "\x00" in text)


_SURROGATE = re.compile("[\ud800-\udfff]")


def contains_surrogate(value: Any) -> bool:
    """Whether a string, or any key or value nested in ``value``, holds a lone surrogate (``\\ud800``).

    JSON may spell one (``"\\ud800"``) and YAML too, but it is no character: it cannot be encoded
    as UTF-8, so the driver fails on it (a text column) or PostgreSQL refuses it (jsonb).
    """
    return _any_text(value, lambda text: _SURROGATE.search(text) is not None)


NUL_MESSAGE = "must not contain NUL (\\u0000) characters"
SURROGATE_MESSAGE = "must be valid Unicode: lone surrogates (\\ud800 to \\udfff) are not characters"


def unstorable(value: Any) -> str | None:
    """What makes ``value`` (a string, or any key or value nested in it) impossible to store or
    search for in the database, as a field error says it; None when nothing does."""
    if contains_nul(value):
        return NUL_MESSAGE
    if contains_surrogate(value):
        return SURROGATE_MESSAGE
    return None


#: Years a schedule's dates (``run_at``, ``start_at``, ``end_at``) may name. Near year 1 or 9999
#: a time zone's offset overflows Python's datetime range; the time core stops at year 9000.
MIN_YEAR = 1900
MAX_YEAR = 9000


def year_problem(year: int) -> str | None:
    """None when ``year`` is one a schedule may name, else what is wrong."""
    if MIN_YEAR <= year <= MAX_YEAR:
        return None
    return f"the year must be between {MIN_YEAR} and {MAX_YEAR}"


def shown(value: Any, limit: int = 60) -> str:
    """A value as an error message quotes it: ``repr``, but true, false and null as JSON and YAML spell
    them, cut at ``limit`` characters (input may be huge)."""
    text = "null" if value is None else str(value).lower() if isinstance(value, bool) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: The most digits a whole number is read with (beyond every field's range already).
MAX_DIGITS = 18
_TRUE = {"true", "on", "1", "yes"}
_FALSE = {"false", "off", "0", "no", ""}


class Errors:
    """Problems found in one input, field -> messages, in the order found."""

    def __init__(self) -> None:
        self.found: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.found.setdefault(field, []).append(message)


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def whole_number(name: str, value: Any, errors: Errors, *, optional: bool) -> int | None:
    if blank(value):
        if not optional:
            errors.add(name, "is required: a whole number")
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdecimal() and value.strip().isascii():
        if len(value.strip()) > MAX_DIGITS:  # int() refuses past 4,300 digits; no field needs 19
            errors.add(name, f"must be a whole number of at most {MAX_DIGITS} digits")
            return None
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(name, f"must be a whole number, not {shown(value)}")
        return None
    return int(value)


def boolean(name: str, value: Any, errors: Errors) -> bool:
    if isinstance(value, bool):
        return value
    if value is None or (isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE):
        return bool(value) and str(value).strip().lower() in _TRUE
    errors.add(name, f"must be true or false, not {shown(value)}")
    return False
