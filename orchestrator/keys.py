"""Every Redis key this project writes, in one place (dashboards and other tools read them too).

Limits (``workers.leases``): ``ostinato:limit:<scope>`` is a sorted set of run ids scored by lease
expiry (epoch ms), for the scopes ``global``, ``job:<key>`` and ``schedule:<id>``;
``ostinato:waiting:<scope>`` the runs waiting for a slot there; ``ostinato:lease:<run id>`` a running
run's heartbeat. Messages in flight (``orchestrator.broker``): ``ostinato:inflight``. Beats
(``scheduling.engine.heartbeat``): ``ostinato:beat:<host>:<pid>`` and the index ``ostinato:beats``.
"""

from __future__ import annotations

import uuid

PREFIX = "ostinato"
LIMIT_PREFIX = f"{PREFIX}:limit:"
WAITING_PREFIX = f"{PREFIX}:waiting:"
LEASE_PREFIX = f"{PREFIX}:lease:"
#: Sorted set of the run ids whose message is in the broker, scored by when the note expires (ms).
INFLIGHT = f"{PREFIX}:inflight"
BEAT_PREFIX = f"{PREFIX}:beat:"
BEATS_INDEX = f"{PREFIX}:beats"

GLOBAL_SCOPE = "global"


def job_scope(key: str) -> str:
    return f"job:{key}"


def schedule_scope(schedule_id: int | str) -> str:
    return f"schedule:{schedule_id}"


def limit_key(scope: str) -> str:
    return f"{LIMIT_PREFIX}{scope}"


def waiting_key(scope: str) -> str:
    return f"{WAITING_PREFIX}{scope}"


def lease_key(run_id: uuid.UUID | str) -> str:
    return f"{LEASE_PREFIX}{run_id}"


def scope_of_limit_key(key: str) -> str:
    """The scope a limit key is for (``ostinato:limit:job:x`` -> ``job:x``)."""
    return key.removeprefix(LIMIT_PREFIX)


def beat_key(host: str, pid: int) -> str:
    return f"{BEAT_PREFIX}{host}:{pid}"
