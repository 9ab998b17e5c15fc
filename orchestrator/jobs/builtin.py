"""Small built-in jobs: useful for smoke tests, demos and measuring the platform itself."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from orchestrator.context import RunContext
from orchestrator.errors import SchedulerError
from orchestrator.params import Param, ParamKind
from orchestrator.registry import job


class JobFailed(SchedulerError):
    """Raised by the ``fail`` job on purpose."""


@job("noop", description="Does nothing; measures the platform's own cost per run.", params=[])
def noop(ctx: RunContext) -> Mapping[str, Any]:
    return {"ok": True}


@job(
    "sleep",
    description="Sleeps for params.seconds (default 1).",
    params=[Param(name="seconds", kind=ParamKind.NUMBER, minimum=0, default=1, description="how long to sleep")],
)
def sleep(ctx: RunContext) -> Mapping[str, Any]:
    seconds = float(ctx.params.get("seconds", 1))  # checked when the schedule was saved
    time.sleep(seconds)
    return {"slept_seconds": seconds}


@job(
    "fail",
    description="Raises an error; with params.times=N only the first N attempts fail.",
    params=[
        Param(name="times", kind=ParamKind.INTEGER, minimum=0, description="fail only the first N attempts"),
        Param(name="message", kind=ParamKind.TEXT, max_length=500, description="the error's text"),
    ],
)
def fail(ctx: RunContext) -> Mapping[str, Any]:
    times = ctx.params.get("times")
    message = str(ctx.params.get("message", "the fail job fails on purpose"))
    if times is None or ctx.attempt <= int(times):
        raise JobFailed(f"{message} (attempt {ctx.attempt})")
    return {"succeeded_on_attempt": ctx.attempt}
