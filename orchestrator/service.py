"""The one path for every run, scheduled, manual or from the API: the operations other apps call.

1. ``snapshots.build_run`` / ``plan_run`` freeze the job's settings, the directive, the merged
   params and the schedule into the run's snapshot; ``store.insert_runs`` writes the rows inside
   the caller's transaction.
2. ``publishing.publish_runs`` sends the messages after commit and marks the runs ``queued``.
3. ``execution.execute_run`` (the worker's task) claims the delivery with a compare-and-set on
   ``(status, attempt)``, executes the registered job, and records the outcome, artifacts, token
   counts and events; ``retries`` and ``recovery`` bring back what failed or was lost;
   ``cancelling`` stops what an operator no longer wants; ``rerun`` starts a past run again.

This module only names them: the code is in the modules of each concern.
"""

from __future__ import annotations

from orchestrator.cancelling import cancel_runs, revoke_runs
from orchestrator.execution import (
    DUPLICATE,
    RETRYING,
    Outcome,
    claim_run,
    execute_claimed,
    execute_run,
    unclaim_run,
)
from orchestrator.publishing import create_run, describe, message_for, publish_runs, publish_woken, run_event_fields
from orchestrator.recovery import announced_by_recovery, publish_due, republish_lost
from orchestrator.rerun import run_again
from orchestrator.retries import retry_delay_seconds, retry_or_fail
from orchestrator.snapshots import (
    DirectiveRef,
    JobSettings,
    PlannedRun,
    RunRequest,
    RunSnapshot,
    ScheduleRef,
    base_snapshot,
    build_run,
    plan_run,
)
from orchestrator.store import insert_runs

__all__ = [
    "DUPLICATE",
    "RETRYING",
    "DirectiveRef",
    "JobSettings",
    "Outcome",
    "PlannedRun",
    "RunRequest",
    "RunSnapshot",
    "ScheduleRef",
    "announced_by_recovery",
    "base_snapshot",
    "build_run",
    "cancel_runs",
    "claim_run",
    "create_run",
    "describe",
    "execute_claimed",
    "execute_run",
    "insert_runs",
    "message_for",
    "plan_run",
    "publish_due",
    "publish_runs",
    "publish_woken",
    "republish_lost",
    "retry_delay_seconds",
    "retry_or_fail",
    "revoke_runs",
    "run_again",
    "run_event_fields",
    "unclaim_run",
]
