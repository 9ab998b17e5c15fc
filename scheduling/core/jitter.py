"""Jitter: a stable, per-occurrence delay that spreads schedules firing at the same moment.

An occurrence keeps its nominal time (``scheduled_for``); its *due time*, when a beat dispatches
it, is the nominal time plus its offset. The offset is derived from the schedule's identity and
the occurrence, so every beat computes the same one. Pure: no clock, no Django.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from scheduling.core import timing


def jitter_offset(seed: str, fire_time: datetime, jitter_seconds: int, next_fire_time: datetime | None) -> timedelta:
    """A deterministic delay for one occurrence: uniform in ``[0, min(jitter_seconds, gap))``.

    ``gap`` is the time to ``next_fire_time`` (None: no later occurrence, no cap), so the delay
    never reaches the next occurrence, and a jitter as long as the gap or longer spreads the
    occurrences over the whole gap instead of piling them up at its end. Derived from ``seed``
    (the schedule's identity) and the occurrence, so every beat computes the same value.
    Resolution: milliseconds.
    """
    if jitter_seconds <= 0:
        return timedelta(0)
    span_ms = jitter_seconds * 1000
    if next_fire_time is not None:
        gap_ms = (next_fire_time - fire_time) // timedelta(milliseconds=1)
        span_ms = max(0, min(span_ms, gap_ms))
    digest = hashlib.blake2b(f"{seed}|{fire_time.astimezone(UTC).isoformat()}".encode(), digest_size=8).digest()
    fraction = int.from_bytes(digest, "big") / 2**64
    return timedelta(milliseconds=int(fraction * span_ms))


def jitter_seed(schedule_id: int) -> str:
    return f"schedule:{schedule_id}"


def due_time(
    spec: timing.TimingSpec, schedule_id: int, jitter_seconds: int, when: datetime, following: datetime | None
) -> datetime:
    """When occurrence ``when`` should be dispatched: plus its stable jitter, never reaching ``following``."""
    if not jitter_seconds:
        return when
    if following is None:
        upcoming = timing.next_fire_times(spec, when, 1)
        following = upcoming[0] if upcoming else None
    return when + jitter_offset(jitter_seed(schedule_id), when, jitter_seconds, following)
