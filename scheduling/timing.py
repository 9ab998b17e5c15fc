"""The names of the time core that other code relies on (DESIGN.md): ``scheduling.timing.next_fire_times``
and ``validate_spec``, with the values they take. The code lives in ``scheduling.core.timing``."""

from __future__ import annotations

from scheduling.core.timing import Kind, Spec, TimingSpec, ValidationError, next_fire_times, validate_spec

__all__ = ["Kind", "Spec", "TimingSpec", "ValidationError", "next_fire_times", "validate_spec"]
