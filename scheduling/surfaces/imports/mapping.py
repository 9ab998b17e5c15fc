"""What both imports map alike: the task's job, its arguments, intervals, one-offs and the message options.

The decisions (``docs/MIGRATING.md`` tells operators the same):

* **The task.** A Celery task of the app, by name; its ``Job`` row (kind ``celery_task``) is made
  on first use (``registry.task_job``). A name the app does not know, one of Celery's own
  ``celery.*`` tasks, or the key of another kind of job here: skipped, with that reason.
* **Arguments.** ``args`` and ``kwargs`` become ``params = {"args": [...], "kwargs": {...}}``; whether
  they fit the task's signature is checked where every schedule's are (``Schedule.clean``).
* **Where it runs** (``queue``, ``exchange``, ``routing_key``). A schedule has no queue of its own
  here: its runs go to its job's queue. An override naming anything but that queue would move
  the task to other workers (that may not serve it) without anyone deciding so: skipped, saying
  how to settle it (set the job's queue, or clear the override).
* **How the message is sent** (``priority``, ``headers``, message expiry, any other option): a run
  carries none of them, and none changes when or where the task runs: dropped, each one named
  in the outcome.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from orchestrator import registry
from orchestrator.models import Job, JobKind
from scheduling.core import timing
from scheduling.models import Schedule
from scheduling.surfaces.imports.report import Unmappable

#: Seconds in one of django-celery-beat's interval periods (microseconds: see ``interval_seconds``).
PERIOD_SECONDS = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
#: Message options that decide where a task runs; the others only say how its message is sent.
ROUTING_OPTIONS = ("queue", "exchange", "routing_key")
_WHY_DROPPED = {
    "priority": "runs have no message priority here",
    "headers": "runs carry no message headers of their own",
    "expires": "a run's message does not expire here (the job's timeout bounds the run)",
    "expire_seconds": "a run's message does not expire here (the job's timeout bounds the run)",
}


def aware(value: datetime | None) -> datetime | None:
    """``value`` with its zone; a naive one (a host with ``USE_TZ = False``) is in Django's ``TIME_ZONE``."""
    if value is None or timezone.is_aware(value):
        return value
    return timezone.make_aware(value, timezone.get_default_timezone())


class Jobs:
    """The ``Job`` row of each task an import names, looked up (and made on first use) once per task."""

    def __init__(self) -> None:
        self._found: dict[str, Job | str] = {}

    def get(self, task: Any) -> Job:
        """The job of the Celery task named ``task``; ``Unmappable`` when this deployment cannot run it."""
        if not isinstance(task, str) or not task.strip():
            raise Unmappable(f"task must be the name of a Celery task, not {task!r}")
        name = task.strip()
        if name not in self._found:
            self._found[name] = self._look_up(name)
        found = self._found[name]
        if isinstance(found, str):
            raise Unmappable(found)
        return found

    @staticmethod
    def _look_up(name: str) -> Job | str:
        row = registry.task_job(name)
        if row is None or not registry.has_code(row.key, row.kind):
            return (
                f"task {name!r} is not a task of this Celery app that can be a job (Celery's own celery.* tasks "
                "cannot): import the module that defines it in the app the scheduler runs (e.g. the app's "
                "imports or autodiscover_tasks), then import again"
            )
        if row.kind != JobKind.CELERY_TASK:
            return f"task {name!r} is the key of a job of kind {row.kind} here, not a Celery task"
        return row


def task_params(args: Any, kwargs: Any, *, from_json: bool = False) -> dict[str, Any]:
    """``{"args": [...], "kwargs": {...}}`` as stored (JSON); ``Unmappable`` when they are not a list and an object.

    ``from_json``: they were just read from JSON, so they are JSON already (no round trip).
    """
    args = [] if args is None else args
    kwargs = {} if kwargs is None else kwargs
    if isinstance(args, tuple):
        args = list(args)
    if not isinstance(args, list):
        raise Unmappable(f"args must be a list of positional arguments, not {args!r}")
    if not isinstance(kwargs, Mapping):
        raise Unmappable(f"kwargs must be an object of keyword arguments, not {kwargs!r}")
    if from_json:
        return {"args": args, "kwargs": dict(kwargs)}
    try:
        stored: dict[str, Any] = json.loads(json.dumps({"args": args, "kwargs": dict(kwargs)}))
    except (TypeError, ValueError) as exc:
        raise Unmappable(f"args and kwargs cannot be stored as JSON: {exc}") from exc
    return stored


def params_from_json(args_text: str | None, kwargs_text: str | None) -> dict[str, Any]:
    """django-celery-beat's ``args`` and ``kwargs`` columns (JSON text; empty means none) as params."""
    values = []
    for name, text, empty in (("args", args_text, "[]"), ("kwargs", kwargs_text, "{}")):
        try:
            values.append(json.loads(text.strip() or empty) if isinstance(text, str) else None)
        except (ValueError, RecursionError) as exc:
            raise Unmappable(f"{name} is not valid JSON: {exc}") from exc
    return task_params(values[0], values[1], from_json=True)


def check_routing(job: Job, options: Mapping[str, Any]) -> None:
    """``Unmappable`` when ``queue``, ``exchange`` or ``routing_key`` names anything but the job's queue."""
    for name in ROUTING_OPTIONS:
        value = options.get(name)
        if value in (None, ""):
            continue
        shown = getattr(value, "name", value)  # a kombu Queue or Exchange
        if shown != job.queue:
            raise Unmappable(
                f"{name} {shown!r} is not the queue of the job {job.key} ({job.queue!r}), and a schedule has no "
                f"queue of its own here: set the job's queue to {shown!r} (admin or API) if every schedule of "
                f"{job.key} should run there, or clear the {name}, then import again"
            )


def dropped(options: Mapping[str, Any]) -> tuple[str, ...]:
    """A note for each message option that has a value and is not carried over (routing is ``check_routing``'s)."""
    notes = []
    for name, value in options.items():
        if name in ROUTING_OPTIONS or value in (None, "", {}, [], ()):
            continue
        why = _WHY_DROPPED.get(name, "not a setting of a schedule here")
        notes.append(f"dropped {name} {value!r}: {why}")
    return tuple(notes)


def whole_seconds(delta: timedelta, what: str) -> int:
    """A positive timedelta as whole seconds; ``Unmappable`` for a fraction of a second or none."""
    if delta <= timedelta(0):
        raise Unmappable(f"{what} must be longer than 0 seconds, not {delta}")
    if delta % timedelta(seconds=1):
        raise Unmappable(
            f"{what} {delta.total_seconds():g} s is not a whole number of seconds, and intervals here are whole "
            "seconds; make it whole"
        )
    return int(delta.total_seconds())


def interval_seconds(every: Any, period: Any) -> int:
    """django-celery-beat's ``every`` and ``period`` as seconds; ``Unmappable`` when not whole seconds."""
    if isinstance(every, bool) or not isinstance(every, int):
        raise Unmappable(f"interval every must be a whole number, not {every!r}")
    if period == "microseconds":
        return whole_seconds(timedelta(microseconds=every), f"interval of {every} microseconds")
    if period not in PERIOD_SECONDS:
        raise Unmappable(f"interval period {period!r} is none of {', '.join([*PERIOD_SECONDS, 'microseconds'])}")
    return whole_seconds(timedelta(seconds=every * PERIOD_SECONDS[period]), f"interval of {every} {period}")


def first_time(spec: timing.Spec, *, existing: Schedule | None, after: datetime) -> datetime:
    """The one time a one-off made of a cron or interval ``spec`` runs at: its first fire time after ``after``.

    Stable across imports: when the schedule already is a one-off at one of ``spec``'s fire times
    (made by an earlier import, and maybe run since), that time stays, so importing again never
    moves it to a later fire time and runs it a second time. ``Unmappable`` when ``spec`` has no
    fire time left.
    """
    held = existing.run_at if existing is not None and existing.kind == timing.ONCE else None
    if held is not None and timing.next_fire_times(spec, held - timing.EPSILON, 1) == [held]:
        return held
    upcoming = timing.next_fire_times(spec, after, 1)
    if not upcoming:
        raise Unmappable("one_off: its schedule has no fire time left (it ends first)")
    return upcoming[0]


def note_list(*groups: Sequence[str]) -> tuple[str, ...]:
    return tuple(note for group in groups for note in group)
