"""Small built-in jobs: useful for smoke tests, demos and measuring the platform itself."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from orchestrator.context import RunContext
from orchestrator.errors import SchedulerError, ValidationError
from orchestrator.registry import job


class JobFailed(SchedulerError):
    """Raised by the ``fail`` job on purpose."""


@job("noop", description="Does nothing; measures the platform's own cost per run.")
def noop(ctx: RunContext) -> Mapping[str, Any]:
    return {"ok": True}


@job("sleep", description="Sleeps for params.seconds (default 1).")
def sleep(ctx: RunContext) -> Mapping[str, Any]:
    raw = ctx.params.get("seconds", 1)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 0:
        raise ValidationError({"params.seconds": f"must be a non-negative number of seconds, not {raw!r}"})
    time.sleep(float(raw))
    return {"slept_seconds": float(raw)}


@job("fail", description="Raises an error; with params.times=N only the first N attempts fail.")
def fail(ctx: RunContext) -> Mapping[str, Any]:
    times = ctx.params.get("times")
    message = str(ctx.params.get("message", "the fail job fails on purpose"))
    if times is None or ctx.attempt <= int(times):
        raise JobFailed(f"{message} (attempt {ctx.attempt})")
    return {"succeeded_on_attempt": ctx.attempt}
