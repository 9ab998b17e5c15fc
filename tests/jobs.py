"""Jobs used only by the tests (loaded everywhere in test runs through SCHEDULER_JOB_MODULES)."""

from __future__ import annotations

import ctypes
import os
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


# Memory a "leak" run keeps for the rest of its pool process's life.
_leaked: list[bytes] = []


@job("crash", description="Test job: dies or fails the hard way (params.how: exit, segfault, c_error, leak).")
def crash(ctx: RunContext) -> Mapping[str, Any]:
    how = str(ctx.params.get("how", ""))
    if how == "exit":
        os._exit(3)  # no cleanup, no exception: the pool process is simply gone
    if how == "segfault":
        ctypes.string_at(0)  # reads address 0: SIGSEGV in C
    if how == "c_error":
        # a C function of the interpreter sets TypeError; ctypes raises it as the call returns
        ctypes.pythonapi.PyLong_AsLong.argtypes = [ctypes.py_object]
        ctypes.pythonapi.PyLong_AsLong(ctypes.py_object("not a number"))
    if how == "leak":
        _leaked.append(b"\x01" * (int(ctx.params.get("mb", 64)) * 1024 * 1024))  # touched: resident
    return {"pid": os.getpid(), "leaked_mb": sum(len(b) for b in _leaked) // (1024 * 1024)}


@job("db_backend", description="Test job: reports its pool process and the PostgreSQL backend it talks to.")
def db_backend(ctx: RunContext) -> Mapping[str, Any]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone() or (None,)
    return {"pid": os.getpid(), "backend": backend}


@job("slow_notes", description="Test job: sleeps params.seconds, writes notes.md (HTML in it), sleeps again.")
def slow_notes(ctx: RunContext) -> Mapping[str, Any]:
    pause = float(ctx.params.get("seconds", 2))
    time.sleep(pause)
    ctx.write_artifact("notes.md", '# Notes\n<b id="injected">not bold</b><script>window.pwned = 1</script>\n')
    time.sleep(pause)
    return {"notes": 1}
