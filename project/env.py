"""Typed readers for environment variables, used only by ``project.settings``.

Each reader takes the project's own name first and the seed design's names as aliases; the
project's name wins when both are set. A malformed value raises ``ImproperlyConfigured`` naming
the variable, so a deployment fails at start-up instead of running with a silent default.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str, aliases: Sequence[str] = ()) -> tuple[str, str] | None:
    for key in (name, *aliases):
        value = os.environ.get(key)
        if value is not None and value.strip() != "":
            return key, value.strip()
    return None


def _parsed(name: str, aliases: Sequence[str], parse: Callable[[str, str], T], default: T) -> T:
    found = _raw(name, aliases)
    if found is None:
        return default
    key, value = found
    try:
        return parse(key, value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{key}={value!r}: {exc}") from exc


def env_str(name: str, default: str = "", aliases: Sequence[str] = ()) -> str:
    found = _raw(name, aliases)
    return default if found is None else found[1]


def env_optional_str(name: str, aliases: Sequence[str] = ()) -> str | None:
    found = _raw(name, aliases)
    return None if found is None else found[1]


def env_bool(name: str, default: bool, aliases: Sequence[str] = ()) -> bool:
    def parse(key: str, value: str) -> bool:
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError("expected one of 1/0, true/false, yes/no, on/off")

    return _parsed(name, aliases, parse, default)


def env_int(name: str, default: int, aliases: Sequence[str] = (), minimum: int | None = None) -> int:
    def parse(key: str, value: str) -> int:
        number = int(value)
        if minimum is not None and number < minimum:
            raise ValueError(f"must be at least {minimum}")
        return number

    return _parsed(name, aliases, parse, default)


def env_optional_int(name: str, aliases: Sequence[str] = (), minimum: int | None = None) -> int | None:
    def parse(key: str, value: str) -> int | None:
        number = int(value)
        if minimum is not None and number < minimum:
            raise ValueError(f"must be at least {minimum}")
        return number

    return _parsed(name, aliases, parse, None)


def env_seconds(
    name: str,
    default: float,
    *,
    millisecond_aliases: Sequence[str] = (),
    minimum: float = 0.0,
) -> float:
    """Seconds from ``name``, or milliseconds from one of ``millisecond_aliases`` (e.g. SCHED_TICK_MS)."""

    def parse(key: str, value: str) -> float:
        seconds = float(value) / (1000.0 if key in millisecond_aliases else 1.0)
        if seconds <= minimum:
            raise ValueError(f"must be more than {minimum:g} seconds")
        return seconds

    return _parsed(name, millisecond_aliases, parse, default)


def env_path(name: str, default: Path, aliases: Sequence[str] = ()) -> Path:
    found = _raw(name, aliases)
    return default if found is None else Path(found[1]).expanduser().resolve()


def env_list(name: str, default: Sequence[str] = (), aliases: Sequence[str] = ()) -> list[str]:
    found = _raw(name, aliases)
    if found is None:
        return list(default)
    return [part.strip() for part in found[1].split(",") if part.strip()]
