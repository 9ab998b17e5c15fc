"""The host project's tasks as jobs: a Celery task by its name, a ``django.tasks`` Task by its import path.

A schedule's job may be any task registered in the Celery app (``@shared_task``, ``@app.task``,
bound or not): ``Job.key`` is the task's name and the schedule's params are ``{"args": [...],
"kwargs": {...}}``, checked against the task's signature wherever a schedule is validated. Its
runs take the one orchestrator path (snapshot, claim, limits, policies, records, events) and the
task's own code runs, unchanged, inside the run (``run_celery_task``):

* under its own name and our run id: the message's ``shadow`` is the task's name, its task id the
  run's (``orchestrator.broker``), and the task sees ``self.request.id`` = that id,
  ``self.request.retries`` = the attempts before this one;
* ``self.retry()`` and ``autoretry_for`` retry the same run (``run_retried``, the attempt counted),
  after the countdown the task asks for; the task's own ``max_retries`` decides when to stop
  (``TaskRetry``): the request is marked eager, so Celery raises instead of sending a message;
* what the task returns is the run's result (``RESULT_MAX_BYTES`` at most, else a note of its
  size), nothing when the task says ``ignore_result``;
* its queue is the task's own (``queue`` option or the app's ``task_routes``), copied into the
  ``Job`` row when that is created on first use; the row is the operators' from then on (another
  queue, a concurrency limit, retries of any failure);
* its timeout is the task's own time limit when it sets one (each run freezes it, whatever the
  row says: ``orchestrator.snapshots``), else the ``Job`` row's.

A ``django.tasks`` Task (Django 6's ``django.tasks``, or the ``django-tasks`` backport's on Django
5.2) is named by its import path, in a module of an installed app (``Job.key``, e.g.
``billing.tasks.send_invoices``); anything else at that path, or a path outside the installed
apps, is no job. Its params are ``{"args": [...], "kwargs": {...}}`` for the Task's function (less
its ``context`` when the Task takes one). A run does not run the Task: it enqueues it through the
host's configured task backend (``TASKS``), with the Task's own backend, queue and priority, and
keeps ``{"task_result_id": ..., "backend": ...}`` as the run's result; the backend's worker runs
it. The run itself is short and goes to the Celery app's default queue.

Once per occurrence (``enqueue_django_task``). The run's claim (a compare-and-set) gives one
execution per attempt. Within it, the enqueue and the record of its result id on the run are one
transaction that holds the run's row, and an attempt that finds an id recorded returns it instead
of enqueueing again. So:

* with a backend that stores its tasks in the project's database through the ORM (the backport's
  database backend), enqueue and record commit together: an attempt that dies before the commit
  enqueued nothing, and a retry or another delivery never enqueues a second time;
* with any other backend (Redis, a broker), the enqueue is outside our transaction: a worker that
  dies after the backend accepted the task and before the commit leaves no id on the run. The
  job's ``max_retries`` decides: 0, the default of the row made on first use, makes it at most
  once (the run ends ``failed``, "worker lost", and the Task may have been enqueued); more makes it
  at least once (a retry enqueues again). An enqueue that raises enqueued nothing and fails the
  attempt as usual.
"""

from __future__ import annotations

import inspect
import json
import logging
import socket
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from orchestrator import broker, connections
from orchestrator.definitions import JobDefinition
from orchestrator.errors import RunStateError, TaskRetry, UnknownJobError, ValidationError
from orchestrator.models import Run, RunStatus

if TYPE_CHECKING:
    from orchestrator.context import RunContext

#: The largest result kept on a run, as JSON; a larger one is replaced by a note of its size.
RESULT_MAX_BYTES = 16 * 1024
#: A task job's timeout when the task sets no time limit of its own.
DEFAULT_TIMEOUT_SECONDS = 3600
#: A ``django_task`` job's timeout: its run only enqueues the Task (the backend's worker runs it).
ENQUEUE_TIMEOUT_SECONDS = 60
PARAM_KEYS = ("args", "kwargs")
#: Where ``django.tasks.Task`` is defined: Django's own (6.0+), the ``django-tasks`` backport's.
DJANGO_TASK_MODULES = ("django.tasks.base", "django_tasks.base")

logger = logging.getLogger(__name__)

_discovered: set[int] = set()
#: Each Celery task's definition, built once per process: (the task object it was built from, it).
_celery_definitions: dict[str, tuple[Any, JobDefinition]] = {}


def _app_tasks() -> Mapping[str, Any]:
    """The Celery app's task registry, its modules discovered once per process (the web's too).

    A worker's loader discovered them when the worker started (``worker_initialized``), before its
    pool processes forked: discovering again would run Django's system checks once more in each.
    """
    app = connections.celery_app()
    if id(app) not in _discovered:
        if not app.loader.worker_initialized:
            app.loader.import_default_modules()  # the app's imports and autodiscovered tasks modules
        _discovered.add(id(app))
    tasks: Mapping[str, Any] = app.tasks
    return tasks


def _may_be_a_job(name: str) -> bool:
    """Celery's own tasks (``celery.*``) and our run task are not jobs."""
    return bool(name) and not name.startswith("celery.") and name != broker.RUN_TASK_NAME


def celery_task(name: str) -> Any | None:
    """The task ``name`` of the Celery app, or None."""
    return _app_tasks().get(name) if _may_be_a_job(name) else None


def celery_task_names() -> list[str]:
    return sorted(name for name in _app_tasks() if _may_be_a_job(name))


def django_task(path: str) -> Any | None:
    """The ``django.tasks`` Task at import path ``path`` in a module of an installed app, or None."""
    module, _, attribute = path.rpartition(".")
    if not module or not attribute.isidentifier() or apps.get_containing_app_config(module) is None:
        return None  # only code of the project's own apps is imported on a schedule's say-so
    try:
        found = import_string(path)
    except ImportError:
        return None
    return found if _is_django_task(found) else None


def _is_django_task(value: Any) -> bool:
    """Whether ``value`` is a ``django.tasks`` Task (Django's or the backport's, or a backend's subclass).

    A Task's class is loaded before the Task exists, so only the modules already imported are
    asked: nothing is imported here, and without either framework nothing is a Task.
    """
    classes = tuple(
        task_class
        for task_class in (getattr(sys.modules.get(name), "Task", None) for name in DJANGO_TASK_MODULES)
        if isinstance(task_class, type)
    )
    return bool(classes) and isinstance(value, classes)


def _django_task_callable(task: Any) -> Callable[..., Any]:
    """What ``enqueue`` takes: the Task's function, less its first parameter (``context``) when it takes one."""
    func: Callable[..., Any] = task.func
    return partial(func, None) if task.takes_context else func


def celery_definition(name: str) -> JobDefinition | None:
    """What a job of kind ``celery_task`` named ``name`` is, or None when the app has no such task.

    Built once per task object and process: every run resolves its job's code here, and building
    it (the route, the signature's help text) cost ~40 µs a run. A task registered anew under the
    name (another object) gets a new definition.
    """
    task = celery_task(name)
    if task is None:
        return None
    cached = _celery_definitions.get(name)
    if cached is not None and cached[0] is task:
        return cached[1]
    definition = JobDefinition(
        key=name,
        func=partial(run_celery_task, name),
        description=_first_line(task.__doc__ or getattr(task.run, "__doc__", None)),
        queue=celery_queue(task),
        timeout_seconds=_task_timeout(task),
        max_retries=0,  # the task's own retry() and autoretry_for decide; the Job row may add more
        max_concurrency=None,
        validate_params=partial(check_call, name, task.run),
        call_help=call_help(name, task.run),
    )
    _celery_definitions[name] = (task, definition)
    return definition


def django_definition(path: str) -> JobDefinition | None:
    """What a job of kind ``django_task`` at ``path`` is, or None when there is no such Task."""
    task = django_task(path)
    if task is None:
        return None
    takes = _django_task_callable(task)
    return JobDefinition(
        key=path,
        func=partial(enqueue_django_task, path),
        description=_first_line(task.func.__doc__),
        queue=str(connections.celery_app().conf.task_default_queue),  # our run's queue, not the Task's
        timeout_seconds=ENQUEUE_TIMEOUT_SECONDS,
        max_retries=0,  # at most once with a backend outside our database (the module's docstring)
        max_concurrency=None,
        validate_params=partial(check_call, path, takes),
        call_help=call_help(path, takes),
    )


def celery_queue(task: Any) -> str:
    """The queue a task's messages go to: its ``queue`` option, else the app's routes, else the default queue."""
    if getattr(task, "queue", None):
        return str(task.queue)
    app = connections.celery_app()
    route = app.amqp.router.route({}, task.name, args=(), kwargs={})
    queue = route.get("queue")
    name = getattr(queue, "name", queue)
    return str(name or app.conf.task_default_queue)


def _task_timeout(task: Any) -> int:
    return own_time_limit(task) or DEFAULT_TIMEOUT_SECONDS


def own_time_limit(task: Any) -> int | None:
    """The time limit a task sets itself (the earlier of its soft and hard limits), whole seconds; None: none."""
    limits = [float(limit) for limit in (task.soft_time_limit, task.time_limit) if limit]
    return max(1, int(min(limits))) if limits else None


def celery_time_limit(name: str) -> int | None:
    """``own_time_limit`` of the task ``name`` (None when it sets none or the app has no such task)."""
    task = celery_task(name)
    return None if task is None else own_time_limit(task)


def _first_line(text: str | None) -> str:
    return (text or "").strip().split("\n")[0][:500]


def call_help(label: str, func: Callable[..., Any]) -> str:
    """What a task's params are, e.g. ``args (a list) and kwargs (an object) for send(customer_id, dry_run=False)``."""
    signature = _signature(func)
    return f"args (a list) and kwargs (an object) for {label}{signature or '(...)'}"


def _signature(func: Callable[..., Any]) -> inspect.Signature | None:
    """``func``'s parameters as a person reads them: names and defaults, without annotations."""
    try:
        found = inspect.signature(func)
    except (TypeError, ValueError):
        return None  # a callable without a readable signature: nothing to check against
    plain = [parameter.replace(annotation=inspect.Parameter.empty) for parameter in found.parameters.values()]
    return found.replace(parameters=plain, return_annotation=inspect.Signature.empty)


def check_call(label: str, func: Callable[..., Any], params: Mapping[str, Any]) -> None:
    """``params`` must be ``{"args": [...], "kwargs": {...}}`` that fit ``func``'s signature; else a
    ``ValidationError`` on ``params`` saying what is wrong (checked at every door, at save time)."""
    problems = [
        f"{key}: is not a param of a task; a task takes args (a list) and kwargs (an object)"
        for key in sorted(set(params) - set(PARAM_KEYS))
    ]
    args, kwargs = params.get("args", []), params.get("kwargs", {})
    if not isinstance(args, list):
        problems.append(f"args: must be a list of positional arguments, e.g. [42], not {json.dumps(args)[:60]}")
    if not isinstance(kwargs, dict):
        problems.append(
            f'kwargs: must be an object of keyword arguments, e.g. {{"dry_run": true}}, not {json.dumps(kwargs)[:60]}'
        )
    if not problems:
        signature = _signature(func)
        if signature is not None:
            try:
                signature.bind(*args, **kwargs)
            except TypeError as exc:
                problems.append(f"args and kwargs do not fit {label}{signature}: {exc}")
    if problems:
        raise ValidationError({"params": problems})


def run_celery_task(name: str, context: RunContext) -> Any:
    """Run the task's own code for this run (see the module's docstring); returns the run's result."""
    from celery import _state  # Celery's own stack of running tasks: ``current_task`` is the host's task
    from celery.exceptions import Retry

    task = celery_task(name)
    if task is None:
        raise UnknownJobError(name, [])
    params = context.params
    args, kwargs = list(params.get("args") or []), dict(params.get("kwargs") or {})
    task_id = broker.task_id_for(context.run_id, context.attempt - 1)
    task.push_request(
        id=task_id,
        root_id=task_id,
        task=name,
        args=args,
        kwargs=kwargs,
        retries=context.attempt - 1,
        is_eager=True,  # retry() raises Retry instead of sending a message: we retry the run
        called_directly=False,
        hostname=socket.gethostname(),
        delivery_info={"routing_key": getattr(task, "queue", None) or "", "is_eager": True},
    )
    stack = _state._task_stack  # type: ignore[attr-defined]
    stack.push(task)
    try:
        value = task.run(*args, **kwargs)
    except Retry as asked:
        raise TaskRetry(name, delay_seconds=_delay(asked.when), reason=str(asked.exc or asked.message or "")) from asked
    finally:
        stack.pop()
        task.pop_request()
    return None if task.ignore_result else kept_result(value)


def _delay(when: Any) -> float | None:
    """Seconds until a retry Celery asked for (``countdown`` or ``eta``); None: our backoff."""
    if isinstance(when, datetime):
        aware = when if timezone.is_aware(when) else timezone.make_aware(when)
        return max(0.0, (aware - timezone.now()).total_seconds())
    if isinstance(when, int | float) and not isinstance(when, bool):
        return max(0.0, float(when))
    return None


def kept_result(value: Any) -> Any:
    """The result a run keeps: JSON as is up to ``RESULT_MAX_BYTES``, else a note of what was returned."""
    if value is None:
        return None
    text = json.dumps(value, default=str)
    if len(text.encode()) > RESULT_MAX_BYTES:
        return {"result_too_large": {"bytes": len(text.encode()), "type": type(value).__name__}}
    return json.loads(text)


def enqueue_django_task(path: str, context: RunContext) -> Any:
    """Enqueue the Task through the project's task backend, once for this run; the run's result is its id.

    The run's row is held (``SELECT ... FOR UPDATE``, while it is this attempt's and ``running``)
    from before the enqueue to the record of the id; an id already recorded by an earlier attempt
    is returned as it is (see the module's docstring). ``RunStateError`` when the run is no longer
    this attempt's (cancelled, or ended by the reaper): nothing is enqueued.
    """
    task = django_task(path)
    if task is None:
        raise UnknownJobError(path, [])
    params = context.params
    args, kwargs = list(params.get("args") or []), dict(params.get("kwargs") or {})
    with transaction.atomic():
        held = list(
            Run.objects.select_for_update()
            .filter(id=context.run_id, status=RunStatus.RUNNING, attempt=context.attempt)
            .values_list("result", flat=True)
        )
        if not held:
            raise RunStateError(str(context.run_id), [RunStatus.RUNNING], f"enqueue {path} for")
        earlier = held[0]
        if isinstance(earlier, dict) and earlier.get("task_result_id"):
            logger.info(
                "%s was enqueued by an earlier attempt (%s): not again",
                path,
                earlier["task_result_id"],
                extra={"run_id": str(context.run_id)},
            )
            return earlier
        result = task.enqueue(*args, **kwargs)
        enqueued = {"task_result_id": str(result.id), "backend": str(result.backend)}
        Run.objects.filter(id=context.run_id).update(result=enqueued)
    return enqueued
