"""Jobs used only by the tests (loaded everywhere in test runs through SCHEDULER_JOB_MODULES)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import redis
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from orchestrator.context import RunContext
from orchestrator.registry import job

# Increments the current count and raises the recorded peak in one atomic step.
_ENTER = """
local now = redis.call('INCR', KEYS[1])
local peak = tonumber(redis.call('GET', KEYS[2]) or '0')
if now > peak then redis.call('SET', KEYS[2], now) end
return now
"""


@job("probe", description="Test job: sleeps params.seconds and records its own peak concurrency in Redis.")
def probe(ctx: RunContext) -> Mapping[str, Any]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    key = str(ctx.params["key"])
    running = int(client.eval(_ENTER, 2, f"{key}:current", f"{key}:peak"))
    try:
        time.sleep(float(ctx.params.get("seconds", 0.5)))
        client.rpush(f"{key}:done", str(ctx.run_id))  # only a run that slept its full time
    finally:
        client.decr(f"{key}:current")
    return {"concurrent_at_start": running}


@job("stubborn", description="Test job: ignores its soft time limit and keeps sleeping.")
def stubborn(ctx: RunContext) -> Mapping[str, Any]:
    deadline = time.monotonic() + float(ctx.params.get("seconds", 60))
    while time.monotonic() < deadline:
        try:
            time.sleep(0.1)
        except SoftTimeLimitExceeded:
            continue
    return {"ok": True}
